// What every experiment shares: the run context, the datasets (opened once per
// process), training runs through the project's trainer, the schedule shape,
// and the writer of DIR/report.md, DIR/results.json and the figures.
//
// An experiment is a typed config per form ('full' and 'quick') plus a `run`
// that returns its results, tables, figures and findings; `runExperiment`
// times it and writes everything atomically at the end, so a failed run
// leaves no report behind.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { fractionSubset, openDataset, parseDataSpec, type Dataset } from '../data/index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { ensureFolder } from '../io/folders.js';
import { getModel, type ImageClassifier } from '../models/index.js';
import type { NormSpec } from '../nn/index.js';
import { EventWriter, markdownTable, saveFigure } from '../report/index.js';
import * as T from '../tensor/index.js';
import { CHECKPOINT_FILE } from '../train/checkpoint.js';
import { upstreamRecipe } from '../train/recipes.js';
import type { StepSchedule } from '../train/schedule.js';
import { DivergedError, METRICS_LOG, train, type TrainRecipe } from '../train/trainer.js';
import { InterruptedError } from '../util/errors.js';
import { formatDuration, pct } from '../util/format.js';
import { hostInfo, type HostInfo } from '../util/host.js';
import { RunProgress } from '../util/progress.js';

export { formatDuration, pct };

/** 'full': the documented run (minutes); 'quick': the same pipeline in seconds, for tests. */
export type Form = 'full' | 'quick';

export interface RunContext {
  readonly form: Form;
  /** The output folder (report.md, results.json, figures, runs/). */
  readonly out: string;
  /** Data loader threads (default: the loader's). */
  readonly workers?: number;
  /** Stops the experiment after the current training step (SIGINT / SIGTERM). */
  readonly signal?: AbortSignal;
  /** Progress lines (stderr in the CLI, silent in tests). */
  log(message: string): void;
  /** TensorBoard event files: the figures into this folder, each training run's metrics into runs/<name> below it. */
  readonly tensorboard?: string;
  /** Counts the training runs as they start (which of how many, time left); set by the experiment runner. */
  readonly runs?: RunProgress;
}

/** A figure of the report: written as `<file>.svg` and `<file>.png` in the output folder. */
export interface FigureOut {
  file: string;
  caption: string;
  spec: TopLevelSpec;
}

/** A titled block of Markdown (usually a table). */
export interface Section {
  heading: string;
  markdown: string;
}

/** What an experiment's `run` returns. */
export interface ExperimentReport<R> {
  /** Everything measured, as plain JSON (results.json). */
  results: R;
  /** How it was run (bullets of the report's "Setup"). */
  setup: string[];
  sections: Section[];
  figures: FigureOut[];
  /** Plain statements of what was measured, including where it differs from the paper. */
  findings: string[];
}

/** The band a measured outcome is expected in: [lo, hi], and where that expectation comes from. */
export interface Band {
  readonly lo: number;
  readonly hi: number;
  /** What was measured here (value, machine, seeds) that the band is drawn around. */
  readonly measured: string;
}

/**
 * A result of a study stated as a number with a band: measured here once
 * (docs/experiments.md), checked on every run. `bit experiment NAME --check`
 * fails when a full run leaves a full band; the test suite runs the quick
 * forms and fails when one leaves its quick band (wider in meaning, drawn
 * around the quick form's own value), so a change that breaks a study's
 * mechanism (weight standardization, micro-batch statistics, the noise) fails CI.
 */
export interface Outcome<R> {
  /** What is measured, with its unit, e.g. 'GN+WS minus GN, test top-1 (points)'. */
  readonly name: string;
  /** The value in this run's results; null when it cannot be measured (a diverged run), which fails the check. */
  measure(results: R): number | null;
  /** Per form; a form without a band does not check the outcome (a quick form too short to measure it). */
  readonly bands: Readonly<Partial<Record<Form, Band>>>;
}

/** An outcome as checked after a run (results.json `outcomes`, the report's table). */
export interface CheckedOutcome {
  name: string;
  value: number | null;
  lo: number;
  hi: number;
  measured: string;
  inside: boolean;
}

export function band(lo: number, hi: number, measured: string): Band {
  if (!(lo <= hi)) throw new Error(`band [${lo}, ${hi}]: lo must not exceed hi`);
  return { lo, hi, measured };
}

/** The mean of values that are all numbers; null when one is null (a diverged run) or there is none. */
export function meanOrNull(xs: readonly (number | null)[]): number | null {
  if (xs.length === 0 || xs.some((x) => x === null)) return null;
  return (xs as number[]).reduce((a, b) => a + b, 0) / xs.length;
}

/** Measures each outcome that has a band for `form` on `results` and checks it against that band. */
export function checkOutcomes<R>(outcomes: readonly Outcome<R>[], results: R, form: Form): CheckedOutcome[] {
  return outcomes.flatMap((o) => {
    const b = o.bands[form];
    if (b === undefined) return [];
    const v = o.measure(results);
    const value = v === null || !Number.isFinite(v) ? null : v;
    return [{ name: o.name, value, lo: b.lo, hi: b.hi, measured: b.measured, inside: value !== null && value >= b.lo && value <= b.hi }];
  });
}

/** The checked outcomes as a Markdown table. */
export function outcomesMarkdown(checks: readonly CheckedOutcome[]): string {
  return markdownTable({
    columns: ['outcome', { header: 'this run', decimals: 2 }, 'band', 'as measured here', 'in band'],
    rows: checks.map((c) => [c.name, c.value ?? 'not measured', `[${c.lo}, ${c.hi}]`, c.measured, c.inside ? 'yes' : '**no**']),
  });
}

/** An experiment: configs with the paper's numbers, and the code that runs them. */
export interface ExperimentSpec<C, R> {
  readonly name: string;
  readonly title: string;
  /** The published result it echoes (paper, figure or table, and the lecture slide). */
  readonly echoes: string;
  /** The published numbers (Markdown for the report, data for results.json). */
  readonly published: { markdown: string; data: object };
  readonly configs: Readonly<Record<Form, C>>;
  /** Wall-clock minutes of the full form as measured here (--threads 1, a busy 2-core machine; docs/experiments.md). */
  readonly expectedMinutes: number;
  /** The training runs `run` makes with `config` (the progress lines count them; the quick-form tests check the count). */
  trainingRuns(config: C): number;
  /** The study's results as numbers with the bands measured here (checked by --check and by the quick-form tests). */
  readonly outcomes: readonly Outcome<R>[];
  run(config: C, ctx: RunContext): Promise<ExperimentReport<R>>;
}

/** An experiment with its types erased, as the registry and the CLI see it. */
export interface Experiment {
  readonly name: string;
  readonly title: string;
  readonly echoes: string;
  readonly expectedMinutes: number;
  config(form: Form): object;
  execute(ctx: RunContext): Promise<ExperimentOutcome>;
  /** The outcomes of a run's `results` (results.json's `results`) checked against the bands of `form`. */
  check(form: Form, results: object): CheckedOutcome[];
}

export interface ExperimentOutcome {
  out: string;
  seconds: number;
  files: string[];
  findings: string[];
  /** Each outcome of the spec, measured and checked against its band of the form run. */
  checks: CheckedOutcome[];
}

export function defineExperiment<C extends object, R extends object>(spec: ExperimentSpec<C, R>): Experiment {
  return {
    name: spec.name,
    title: spec.title,
    echoes: spec.echoes,
    expectedMinutes: spec.expectedMinutes,
    config: (form) => spec.configs[form],
    execute: (ctx) => executeExperiment(spec, ctx),
    check: (form, results) => checkOutcomes(spec.outcomes, results as R, form),
  };
}

/** The machine a result was measured on. */
export interface MachineInfo extends HostInfo {
  libtorchThreads: number;
  libtorch: string;
  /** 1-minute load average when the experiment started (other jobs on a shared machine). */
  loadAverage: number;
}

export function machineInfo(): MachineInfo {
  return {
    ...hostInfo(),
    libtorchThreads: T.getNumThreads(),
    libtorch: T.buildInfo().torchVersion,
    loadAverage: Number(os.loadavg()[0].toFixed(2)),
  };
}

export function formatMachine(m: MachineInfo): string {
  return `${m.cores} x ${m.cpu}, ${m.memoryGiB} GiB, libtorch ${m.libtorch} with ${m.libtorchThreads} thread(s), Node ${m.node}, load average ${m.loadAverage} at the start`;
}

async function executeExperiment<C extends object, R extends object>(spec: ExperimentSpec<C, R>, ctx: RunContext): Promise<ExperimentOutcome> {
  const config = spec.configs[ctx.form];
  const machine = machineInfo();
  if (ctx.form === 'full') {
    ctx.log(
      `${spec.name}: expected run time about ${spec.expectedMinutes} min (measured with --threads 1 on a busy 2-core machine, see docs/experiments.md); --quick runs in seconds`,
    );
  }
  ctx.log(`${spec.name} (${ctx.form}): ${spec.title}; writing to ${ctx.out}`);
  await ensureFolder(ctx.out);
  const t0 = Date.now();
  const report = await spec.run(config, { ...ctx, runs: new RunProgress(spec.trainingRuns(config), spec.name, (line) => ctx.log(line)) });
  const files: string[] = [];
  const tensorboard = ctx.tensorboard ? await EventWriter.open(ctx.tensorboard) : undefined;
  try {
    for (const f of report.figures) {
      const saved = await saveFigure(f.spec, path.join(ctx.out, f.file), { tensorboard });
      files.push(saved.svg, saved.png);
    }
  } finally {
    tensorboard?.close();
  }
  const seconds = (Date.now() - t0) / 1000;
  const checks = checkOutcomes(spec.outcomes, report.results, ctx.form);
  const results = {
    experiment: spec.name,
    title: spec.title,
    echoes: spec.echoes,
    form: ctx.form,
    date: new Date().toISOString(),
    seconds: Number(seconds.toFixed(1)),
    machine,
    config,
    published: spec.published.data,
    results: report.results,
    findings: report.findings,
    outcomes: checks,
  };
  const resultsFile = path.join(ctx.out, 'results.json');
  await writeFileAtomic(resultsFile, JSON.stringify(results, null, 2) + '\n');
  const reportFile = path.join(ctx.out, 'report.md');
  await writeFileAtomic(reportFile, renderReport(spec, ctx.form, report, seconds, machine, checks));
  files.push(resultsFile, reportFile);
  ctx.log(`${spec.name}: done in ${formatDuration(seconds)}; wrote ${reportFile}`);
  return { out: ctx.out, seconds, files, findings: report.findings, checks };
}

function renderReport<C, R>(
  spec: ExperimentSpec<C, R>,
  form: Form,
  r: ExperimentReport<R>,
  seconds: number,
  machine: MachineInfo,
  checks: readonly CheckedOutcome[],
): string {
  const lines: string[] = [];
  lines.push(`# ${spec.name}: ${spec.title}`, '');
  lines.push(`Echoes ${spec.echoes}.`, '');
  lines.push(
    `Form: **${form}**${form === 'quick' ? ' (a smoke test of the pipeline: its numbers mean nothing)' : ''}. Run time ${formatDuration(seconds)} on ${formatMachine(machine)}.`,
    '',
  );
  lines.push('## Setup', '', ...r.setup.map((s) => `- ${s}`), '');
  lines.push('## Published', '', spec.published.markdown.trimEnd(), '');
  for (const s of r.sections) lines.push(`## ${s.heading}`, '', s.markdown.trimEnd(), '');
  if (r.figures.length > 0) {
    lines.push('## Figures', '');
    for (const f of r.figures) lines.push(`![${f.caption}](${f.file}.png)`, '', `*${f.caption}* ([SVG](${f.file}.svg))`, '');
  }
  lines.push('## Findings', '', ...r.findings.map((f) => `- ${f}`), '');
  lines.push(
    '## Outcomes checked',
    '',
    `Each outcome against its band for the ${form} form (\`bit experiment ${spec.name}${form === 'quick' ? ' --quick' : ''} --check\` fails outside it):`,
    '',
    outcomesMarkdown(checks).trimEnd(),
    '',
  );
  lines.push(`Raw numbers: results.json. Per-run training logs: runs/*/${METRICS_LOG}.`, '');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// data

/** Where the training and test images come from. */
export interface DataConfig {
  /** A dataset spec (src/data/spec.ts), e.g. 'fashion-mnist' or 'mnist?fraction=0.1'; options apply to train. */
  spec: string;
  /** Keep this stratified fraction of the test split (quick forms); default 1. */
  testFraction?: number;
}

const openCache = new Map<string, Promise<Dataset>>();

/** A split of a dataset spec, opened once per process (the built-in datasets are read into memory). */
export function openCached(spec: string, split: 'train' | 'test'): Promise<Dataset> {
  const key = `${split}\u0000${spec}`;
  let p = openCache.get(key);
  if (!p) {
    p = openDataset(parseDataSpec(spec), split);
    openCache.set(key, p);
    p.catch(() => openCache.delete(key));
  }
  return p;
}

export async function openData(cfg: DataConfig): Promise<{ train: Dataset; test: Dataset }> {
  const train = await openCached(cfg.spec, 'train');
  const fullTest = await openCached(cfg.spec, 'test');
  const test = cfg.testFraction !== undefined && cfg.testFraction < 1 ? fractionSubset(fullTest, cfg.testFraction, 0) : fullTest;
  return { train, test };
}

export function describeData(cfg: DataConfig, train: Dataset, test: Dataset): string {
  return `data \`${cfg.spec}\`: ${train.length} training images, ${test.length} test images${cfg.testFraction !== undefined && cfg.testFraction < 1 ? ` (${cfg.testFraction * 100}% of the test split)` : ''}, ${train.numClasses} classes`;
}

// ---------------------------------------------------------------------------
// training

/**
 * BiT's upstream schedule shape (train/recipes.ts upstreamRecipe, BiT-S: linear
 * warm-up over 17.8% of the run, /10 after 30, 60 and 80 of 90 epochs)
 * compressed into `steps` steps at peak learning rate `lr`.
 */
export function upstreamShape(steps: number, lr: number): StepSchedule {
  const r = upstreamRecipe({ variant: 'S', datasetSize: steps, batch: 1, epochs: 1, lrPer256: lr * 256 });
  return { ...r.schedule, baseLr: lr };
}

/** The optimizer settings of a study run. */
export interface OptimConfig {
  /** Images per optimizer step (summed over micro-batches). */
  batch: number;
  /** Peak learning rate. */
  lr: number;
  steps: number;
  momentum: number;
  weightDecay: number;
}

/** Images per evaluation batch in the studies. */
export const STUDY_EVAL_BATCH = 250;

/** A TrainRecipe for 28x28 inputs at native resolution (no resize, no crop, no flip), BiT's upstream schedule shape. */
export function studyRecipe(o: OptimConfig, extra: { batchSplit?: number; mixupAlpha?: number } = {}): TrainRecipe {
  const crop = 28;
  return {
    batch: o.batch,
    batchSplit: extra.batchSplit ?? 1,
    lr: o.lr,
    momentum: o.momentum,
    weightDecay: o.weightDecay,
    schedule: upstreamShape(o.steps, o.lr),
    mixupAlpha: extra.mixupAlpha ?? 0,
    precrop: crop,
    crop,
    flip: false,
  };
}

export function describeOptim(o: OptimConfig): string {
  const images = o.steps * o.batch;
  return `SGD momentum ${o.momentum}, weight decay ${o.weightDecay}, batch ${o.batch}, ${o.steps} steps (${images >= 10_000 ? `${Math.round(images / 1000)}k` : images} images), peak lr ${o.lr} with BiT's upstream schedule shape (warm-up 17.8%, /10 at 33%, 67%, 89%)`;
}

export interface TrainingRun {
  /** Folder name under OUT/runs/ (the trainer's checkpoint, model.npz, metrics). */
  name: string;
  model: ImageClassifier;
  modelName: string;
  train: Dataset;
  test: Dataset;
  dataSpec: string;
  recipe: TrainRecipe;
  seed: number;
  /** Evaluate on the test set every N steps as well as at the end (0: only at the end). */
  evalEvery?: number;
}

export interface EvalPoint {
  step: number;
  top1: number;
  loss: number;
}

export interface TrainingOutcome {
  /** Test top-1 accuracy at the end; null when the run diverged. */
  top1: number | null;
  testLoss: number | null;
  diverged: boolean;
  seconds: number;
  /** Training loss of every step (up to the divergence). */
  losses: number[];
  /** Test evaluations during training (evalEvery) and at the end. */
  evals: EvalPoint[];
}

/**
 * Trains `run.model` with the project's trainer (micro-batches, MixUp,
 * evaluation) into OUT/runs/<name>, from scratch (no resume). A diverged run
 * is a result (top1 null), not an error. The checkpoint is removed afterwards
 * (model.npz and the metrics stay).
 */
export async function trainRun(ctx: RunContext, run: TrainingRun): Promise<TrainingOutcome> {
  const dir = path.join(ctx.out, 'runs', run.name);
  ctx.runs?.start(run.name);
  await fs.rm(dir, { recursive: true, force: true });
  const losses: number[] = [];
  const evals: EvalPoint[] = [];
  const t0 = Date.now();
  let top1: number | null = null;
  let testLoss: number | null = null;
  let diverged = false;
  try {
    const m = await train({
      model: run.model,
      modelName: run.modelName,
      train: run.train,
      evalSet: run.test,
      dataSpec: run.dataSpec,
      recipe: run.recipe,
      loss: 'softmax',
      run: {
        out: dir,
        seed: run.seed,
        evalEvery: run.evalEvery ?? 0,
        checkpointEvery: 0,
        resume: false,
        workers: ctx.workers,
        signal: ctx.signal,
        quiet: true,
        tensorboard: ctx.tensorboard ? path.join(ctx.tensorboard, 'runs', run.name) : undefined,
        hooks: {
          onStep: (r) => losses.push(r.loss),
          onEval: (r) => evals.push({ step: r.step, top1: r.result.top1, loss: r.result.loss }),
        },
      },
      evalBatch: STUDY_EVAL_BATCH,
    });
    if (m.stopped_early) throw new InterruptedError(`interrupted during run ${run.name}; no report was written`);
    top1 = m.top1;
    testLoss = m.eval_loss;
  } catch (err) {
    if (!(err instanceof DivergedError)) throw err;
    diverged = true;
  }
  await fs.rm(path.join(dir, CHECKPOINT_FILE), { force: true });
  ctx.runs?.end();
  const seconds = (Date.now() - t0) / 1000;
  ctx.log(`  ${run.name}: ${diverged ? `diverged after ${losses.length} steps` : `test top-1 ${pct(top1 ?? NaN)}%`} (${formatDuration(seconds)})`);
  return { top1, testLoss, diverged, seconds, losses, evals };
}

/** A normalization choice of a study: norm layers and conv type, injected into a registry model. */
export interface NormVariant {
  label: string;
  norm: NormSpec;
  /** Weight-standardized convolutions. */
  standardize: boolean;
}

/** A registry model with the variant's norm and conv type, initialized from `seed`. */
export function buildVariant(modelName: string, v: NormVariant, seed: number, headSize: number): ImageClassifier {
  return seeded(seed, () => getModel(modelName).build({ headSize, norm: v.norm, standardize: v.standardize }));
}

/** What a norm study trains its variants with: the registry model, the data, the optimizer settings. */
export interface StudySetup {
  model: string;
  data: DataConfig;
  optim: OptimConfig;
}

/**
 * One run of a norm study: the variant of `setup.model` built from `seed`,
 * trained by `trainRun` into OUT/runs/<name> on the opened data, disposed.
 */
export async function trainVariant(
  ctx: RunContext,
  setup: StudySetup,
  data: { train: Dataset; test: Dataset },
  v: NormVariant,
  seed: number,
  name: string,
  extra: { batchSplit?: number; evalEvery?: number } = {},
): Promise<TrainingOutcome> {
  checkStop(ctx);
  return withModel(
    () => buildVariant(setup.model, v, seed, data.train.numClasses),
    (model) =>
      trainRun(ctx, {
        name,
        model,
        modelName: setup.model,
        train: data.train,
        test: data.test,
        dataSpec: setup.data.spec,
        recipe: studyRecipe(setup.optim, { batchSplit: extra.batchSplit }),
        seed,
        evalEvery: extra.evalEvery,
      }),
  );
}

/** A file-name-safe form of a label ('GN+WS' -> 'gn-ws'). */
export function slug(label: string): string {
  return label
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-|-$/g, '');
}

/** Seeds libtorch's generator, then builds (initialization is reproducible per seed). */
export function seeded<M>(seed: number, build: () => M): M {
  T.manualSeed(seed);
  return build();
}

/** Builds a model, hands it to `fn`, disposes it. */
export async function withModel<M extends ImageClassifier, X>(build: () => M, fn: (model: M) => Promise<X>): Promise<X> {
  const model = build();
  try {
    return await fn(model);
  } finally {
    model.dispose();
  }
}

export function checkStop(ctx: RunContext): void {
  if (ctx.signal?.aborted) throw new InterruptedError('interrupted; no report was written');
}

// ---------------------------------------------------------------------------
// numbers

/** Exponential moving average of a curve (training-loss plots), then every `every`-th point (and the last) as [step, value]. */
export function smoothCurve(values: readonly number[], every: number, decay = 0.95): [number, number][] {
  const out: [number, number][] = [];
  let ema = NaN;
  values.forEach((v, i) => {
    ema = Number.isNaN(ema) ? v : decay * ema + (1 - decay) * v;
    if ((i + 1) % every === 0 || i === values.length - 1) out.push([i + 1, ema]);
  });
  return out;
}

/** A data fraction as a percentage: '10%', '0.5%'. */
export function fractionLabel(f: number): string {
  const p = 100 * f;
  return `${Number.isInteger(p) ? p : Number(p.toPrecision(2))}%`;
}

/** Signed difference in percentage points, e.g. '+1.20' / '-0.35'. */
export function signedPts(x: number, d = 2): string {
  const s = (100 * x).toFixed(d);
  return x >= 0 && !s.startsWith('-') ? `+${s}` : s;
}
