// landscape: Santurkar et al. 2018, Section 3.1 and Figure 4 (the lecture's
// "Experiment: Gradient and Loss Variation" slides): at regular training steps,
// move from the current parameters along the gradient by a range of step
// sizes and record (a) the range of the loss reached ("loss landscape") and
// (b) the L2 change of the gradient ("gradient predictiveness"), for a network
// without normalization, with BatchNorm and with GroupNorm + WS.
//
// The training runs the project's training step (train/step.ts) on its
// loader; the probes run in the step's after-backward hook, moving the
// parameters and restoring them (BatchNorm running statistics included)
// around extra forward/backward passes before the update.
import { trainLoader, type Dataset } from '../data/index.js';
import type { ImageClassifier } from '../models/index.js';
import { bandChart, hconcatFigures, markdownTable, PANEL_WIDTH, meanStd, type BandSeries, type Cell } from '../report/index.js';
import type { TopLevelSpec } from 'vega-lite';
import * as T from '../tensor/index.js';
import { labelTensor, rawImages, toModelInput } from '../train/batch.js';
import { evaluate } from '../train/evaluate.js';
import { UPSTREAM_MOMENTUM, UPSTREAM_WEIGHT_DECAY } from '../train/recipes.js';
import { learningRate } from '../train/schedule.js';
import { lossOf, TrainStep } from '../train/step.js';
import {
  band,
  buildVariant,
  checkStop,
  defineExperiment,
  describeData,
  describeOptim,
  formatDuration,
  openData,
  pct,
  STUDY_EVAL_BATCH,
  studyRecipe,
  withModel,
  type DataConfig,
  type NormVariant,
  type OptimConfig,
  type Outcome,
  type RunContext,
} from './common.js';

export interface LandscapeConfig {
  data: DataConfig;
  model: string;
  variants: NormVariant[];
  optim: OptimConfig;
  /** Step sizes eta of the probes: the parameters move to theta - eta * grad. */
  stepSizes: number[];
  /** Probe every N training steps (and at step 0). */
  probeEvery: number;
  seed: number;
}

/** Santurkar et al. 2018, Figure 4 (VGG on CIFAR-10): what it shows, in words. */
export const LANDSCAPE_PUBLISHED = {
  source: 'Santurkar et al. 2018, Section 3.1 and Figure 4 (VGG on CIFAR-10)',
  claim:
    'With BatchNorm the loss changes far less along the gradient direction (a narrow band) and the gradient changes far less (it stays predictive) than without; the difference is largest early in training.',
};

const GROUPS = 8;

const VARIANTS: NormVariant[] = [
  { label: 'no normalization', norm: { kind: 'none' }, standardize: false },
  { label: 'BatchNorm', norm: { kind: 'batch' }, standardize: false },
  { label: 'GroupNorm + WS', norm: { kind: 'group', groups: GROUPS }, standardize: true },
];

const FULL: LandscapeConfig = {
  data: { spec: 'fashion-mnist' },
  model: 'ResNet-8-16',
  variants: VARIANTS,
  // One learning rate for every network (as Santurkar et al.), the one the other ResNet-8-16 studies use.
  optim: { batch: 128, lr: 0.1, steps: 1000, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  // Our choice of range: up to a few times the learning rate along the raw gradient.
  stepSizes: [0.05, 0.1, 0.2, 0.3, 0.4],
  probeEvery: 25,
  seed: 0,
};

const QUICK: LandscapeConfig = {
  data: { spec: 'fashion-mnist', testFraction: 0.02 },
  model: 'ResNet-8-16',
  variants: VARIANTS,
  optim: { batch: 16, lr: 0.1, steps: 4, momentum: UPSTREAM_MOMENTUM, weightDecay: UPSTREAM_WEIGHT_DECAY },
  stepSizes: [0.1, 0.4],
  probeEvery: 2,
  seed: 0,
};

/** One probe at a training step. */
export interface Probe {
  step: number;
  /** Loss of the batch at the current parameters. */
  loss: number;
  /** Min and max of the loss over the current point and every step size. */
  lossMin: number;
  lossMax: number;
  /** Min and max over step sizes of ||grad(theta - eta grad) - grad(theta)||. */
  gradChangeMin: number;
  gradChangeMax: number;
  /** ||grad(theta)||. */
  gradNorm: number;
  /** Max over step sizes of ||grad change|| / ||parameter change|| (Santurkar's "effective beta-smoothness"). */
  beta: number;
}

export interface LandscapeRun {
  variant: string;
  /** Final test top-1; null when training diverged. */
  top1: number | null;
  diverged: boolean;
  seconds: number;
  probes: Probe[];
}

export interface LandscapeResults {
  runs: LandscapeRun[];
}

/** Moves the parameters to snapshot - eta * g (buffers back to the snapshot). */
function moveTo(entries: readonly T.Tensor[], snapshot: readonly T.Tensor[], params: readonly number[], g: readonly T.Tensor[], eta: number): void {
  T.noGrad(() => {
    entries.forEach((t, i) => void t.copy_(snapshot[i]));
    params.forEach((entryIndex, k) => void entries[entryIndex].add_(g[k], -eta));
  });
}

/** Loss and gradient of (x, y) at the current parameters (gradients replaced, not accumulated). */
function lossAndGrad(model: { forward(x: T.Tensor): T.Tensor }, params: readonly T.Tensor[], x: T.Tensor, y: T.Tensor): number {
  for (const p of params) p.setGrad(null);
  return T.tidy(() => {
    const loss = lossOf('softmax', model.forward(x), y);
    loss.backward();
    return loss.item();
  });
}

/**
 * The probe at the current parameters, whose `.grad` hold the gradient g0 of
 * (x, y): the loss and the gradient at theta - eta * g0 for every step size;
 * parameters, buffers and gradients restored afterwards. Null when a value
 * is not finite.
 */
export function probe(
  step: number,
  loss: number,
  model: ImageClassifier,
  params: readonly T.Tensor[],
  x: T.Tensor,
  y: T.Tensor,
  stepSizes: readonly number[],
): Probe | null {
  const entries = model.store.entries();
  const paramIndex = entries.map((e, i) => (e.trainable ? i : -1)).filter((i) => i >= 0);
  const all = entries.map((e) => e.tensor);
  const g0 = params.map((p) => (p.grad ?? T.zerosLike(p)).clone());
  const snapshot = all.map((t) => t.detach().clone());
  const gradNorm = Math.sqrt(T.sumOfSquares(g0).item());
  const losses = [loss];
  const changes: number[] = [];
  let beta = 0;
  for (const eta of stepSizes) {
    moveTo(all, snapshot, paramIndex, g0, eta);
    losses.push(lossAndGrad(model, params, x, y));
    const change = T.tidy(() => Math.sqrt(T.sumOfSquares(params.map((p, k) => (p.grad ?? T.zerosLike(p)).sub(g0[k]))).item()));
    changes.push(change);
    if (gradNorm > 0) beta = Math.max(beta, change / (eta * gradNorm));
  }
  moveTo(all, snapshot, paramIndex, g0, 0);
  params.forEach((p, k) => p.setGrad(g0[k]));
  if (![...losses, ...changes].every(Number.isFinite)) return null;
  return {
    step,
    loss,
    lossMin: Math.min(...losses),
    lossMax: Math.max(...losses),
    gradChangeMin: Math.min(...changes),
    gradChangeMax: Math.max(...changes),
    gradNorm,
    beta,
  };
}

async function trainAndProbe(ctx: RunContext, cfg: LandscapeConfig, v: NormVariant, train: Dataset, test: Dataset): Promise<LandscapeRun> {
  const t0 = Date.now();
  ctx.runs?.start(v.label);
  return withModel(
    () => buildVariant(cfg.model, v, cfg.seed, train.numClasses),
    async (model) => {
      // the studies' recipe, through the project's training step; the probes run after its backward pass
      const r = studyRecipe(cfg.optim);
      const probes: Probe[] = [];
      let probeAt = -1;
      const trainStep = new TrainStep({
        model,
        sgd: { momentum: r.momentum, weightDecay: r.weightDecay },
        hooks: {
          afterBackward: (loss, s) => {
            if (probeAt < 0) return;
            const p = probe(probeAt, loss, model, trainStep.params, s.images, s.labels, cfg.stepSizes);
            if (p) probes.push(p);
          },
        },
      });
      const loader = trainLoader(train, { batchSize: r.batch, precrop: r.precrop, crop: r.crop, flip: r.flip, seed: cfg.seed, workers: ctx.workers });
      let diverged = false;
      const it = loader[Symbol.asyncIterator]();
      try {
        for (let step = 0; step < cfg.optim.steps; step++) {
          checkStop(ctx);
          const next = await it.next();
          if (next.done) throw new Error('landscape: the training loader ended early');
          const b = next.value;
          probeAt = step % cfg.probeEvery === 0 ? step : -1;
          const result = T.tidy(() =>
            trainStep.run({ images: toModelInput(rawImages(b)), labels: labelTensor(b, false, train.numClasses), lr: learningRate(r.schedule, step) }),
          );
          if (!result.finite) {
            diverged = true;
            break;
          }
        }
      } finally {
        trainStep.dispose();
        await loader.close();
      }
      const top1 = diverged ? null : (await evaluate(model, test, { crop: r.crop, batchSize: STUDY_EVAL_BATCH, workers: ctx.workers })).top1;
      const seconds = (Date.now() - t0) / 1000;
      ctx.runs?.end();
      ctx.log(`  ${v.label}: ${diverged ? 'diverged' : `test top-1 ${pct(top1 ?? NaN)}%`}, ${probes.length} probes (${formatDuration(seconds)})`);
      return { variant: v.label, top1, diverged, seconds, probes };
    },
  );
}

/** The figure: (a) the loss range and (b) the gradient-change range along the gradient, per network, over training. */
export function landscapeFigure(cfg: LandscapeConfig, runs: readonly LandscapeRun[]): TopLevelSpec {
  const probed = runs.filter((r) => r.probes.length > 0);
  if (probed.length === 0) throw new Error('landscape: no probes to plot (every run diverged at once)');
  const lossSeries: BandSeries[] = probed.map((r) => ({
    name: r.variant,
    points: r.probes.map((p) => ({ x: p.step, lo: p.lossMin, hi: p.lossMax, y: p.loss })),
  }));
  const gradSeries: BandSeries[] = probed.map((r) => ({
    name: r.variant,
    points: r.probes.map((p) => ({ x: p.step, lo: Math.max(p.gradChangeMin, 1e-12), hi: Math.max(p.gradChangeMax, 1e-12) })),
  }));
  return hconcatFigures(
    [
      bandChart(lossSeries, {
        title: '(a) loss landscape',
        subtitle: 'band: loss range; line: loss at θ',
        xTitle: 'training step',
        yTitle: 'loss along the gradient',
        width: PANEL_WIDTH,
        logY: true,
      }),
      bandChart(gradSeries, {
        title: '(b) gradient predictiveness',
        subtitle: 'band: range over step sizes',
        xTitle: 'training step',
        yTitle: 'L2 change of the gradient',
        width: PANEL_WIDTH,
        logY: true,
      }),
    ],
    {
      title: `Loss and gradient variation along the gradient: ${cfg.model} on ${cfg.data.spec}`,
      subtitle: `step sizes ${cfg.stepSizes.join(', ')}; lr ${cfg.optim.lr}, batch ${cfg.optim.batch}`,
    },
  );
}

/** The mean over probes of `of` for a network. */
function probeMean(r: LandscapeResults, variant: string, of: (p: Probe) => number): number | null {
  const run = r.runs.find((x) => x.variant === variant);
  if (!run || run.probes.length === 0) return null;
  return run.probes.reduce((a, p) => a + of(p), 0) / run.probes.length;
}
const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);

/** The results as checked numbers (docs/experiments.md; full bands around the run there, quick bands around the quick form's value). */
const LANDSCAPE_OUTCOMES: Outcome<LandscapeResults>[] = [
  {
    name: 'loss range along the gradient, no normalization / BatchNorm (ratio of the means over probes)',
    measure: (r) =>
      ratio(
        probeMean(r, 'no normalization', (p) => p.lossMax - p.lossMin),
        probeMean(r, 'BatchNorm', (p) => p.lossMax - p.lossMin),
      ),
    bands: {
      full: band(2, 8, '3.95 (1 seed, 2-core Xeon)'),
      quick: band(0.3, 0.7, '0.47 (quick form, seed 0, 2-core EPYC): after 4 steps the unnormalized network has not yet left its flat start'),
    },
  },
  {
    name: 'largest gradient change, no normalization / BatchNorm (ratio of the means over probes)',
    measure: (r) =>
      ratio(
        probeMean(r, 'no normalization', (p) => p.gradChangeMax),
        probeMean(r, 'BatchNorm', (p) => p.gradChangeMax),
      ),
    bands: { full: band(2, 8, '3.87 (1 seed, 2-core Xeon)'), quick: band(0.2, 0.5, '0.32 (quick form, seed 0, 2-core EPYC)') },
  },
];

export const landscape = defineExperiment<LandscapeConfig, LandscapeResults>({
  name: 'landscape',
  title: 'Loss landscape and gradient predictiveness with and without normalization',
  echoes: 'Santurkar et al. 2018, Figure 4 (the lecture\'s "Experiment: Gradient and Loss Variation" slides)',
  published: { markdown: `${LANDSCAPE_PUBLISHED.source}: ${LANDSCAPE_PUBLISHED.claim}\n`, data: LANDSCAPE_PUBLISHED },
  configs: { full: FULL, quick: QUICK },
  outcomes: LANDSCAPE_OUTCOMES,
  expectedMinutes: 3,
  trainingRuns: (c) => c.variants.length,
  async run(cfg, ctx) {
    const { train, test } = await openData(cfg.data);
    const runs: LandscapeRun[] = [];
    for (const v of cfg.variants) runs.push(await trainAndProbe(ctx, cfg, v, train, test));

    const figure = landscapeFigure(cfg, runs);
    const rows: Cell[][] = runs.map((r) => {
      const ps = r.probes;
      const stat = (f: (p: Probe) => number): Cell => (ps.length > 0 ? meanStd(ps.map(f)) : null);
      return [
        r.variant,
        r.top1 === null ? 'diverged' : 100 * r.top1,
        stat((p) => p.lossMax - p.lossMin),
        stat((p) => p.gradChangeMax),
        stat((p) => p.gradNorm),
        ps.length > 0 ? Math.max(...ps.map((p) => p.beta)) : null,
      ];
    });
    const table = markdownTable({
      columns: [
        'network',
        { header: 'test top-1 (%)', decimals: 2 },
        { header: 'loss range along the gradient', decimals: 3 },
        { header: 'max gradient change', decimals: 3 },
        { header: 'gradient norm', decimals: 3 },
        { header: 'max effective β', decimals: 2 },
      ],
      rows,
    });
    const findings: string[] = [];
    const avg = (r: LandscapeRun, f: (p: Probe) => number) => (r.probes.length > 0 ? r.probes.reduce((s, p) => s + f(p), 0) / r.probes.length : NaN);
    for (const r of runs) {
      findings.push(
        `${r.variant}: ${r.diverged ? 'diverged' : `test top-1 ${pct(r.top1 ?? NaN)}%`}; mean loss range along the gradient ${avg(r, (p) => p.lossMax - p.lossMin).toFixed(3)}, mean max gradient change ${avg(r, (p) => p.gradChangeMax).toFixed(3)} over ${r.probes.length} probes.`,
      );
    }
    const none = runs.find((r) => r.variant === cfg.variants[0]?.label);
    for (const r of runs.slice(1)) {
      if (!none || none.probes.length === 0 || r.probes.length === 0) continue;
      const ratio = avg(none, (p) => p.lossMax - p.lossMin) / avg(r, (p) => p.lossMax - p.lossMin);
      findings.push(`The loss range without normalization is ${ratio.toFixed(1)}x that with ${r.variant} (mean over probes).`);
    }
    return {
      results: { runs },
      setup: [
        `model ${cfg.model} (classic ResNet, 3 stages of 1 basic unit): ${cfg.variants.map((v) => v.label).join(', ')}`,
        describeData(cfg.data, train, test),
        `${describeOptim(cfg.optim)}; seed ${cfg.seed}`,
        `every ${cfg.probeEvery} steps, on the step's batch: the parameters move to θ − η ∇L(θ) for η in {${cfg.stepSizes.join(', ')}}; recorded are the range of the loss (including η = 0), ||∇L(θ − η∇L) − ∇L(θ)|| and its ratio to the parameter change (effective β-smoothness); BatchNorm uses the batch's statistics, as in training`,
      ],
      sections: [{ heading: 'Measured (mean ± std over the probes)', markdown: table }],
      figures: [
        {
          file: 'landscape',
          caption: 'Range of the loss (a) and of the L2 change of the gradient (b) when moving along the gradient, with and without normalization',
          spec: figure,
        },
      ],
      findings,
    };
  },
});
