// `bit fewshot` and `bit vtab`.
import { Option, type Command } from 'commander';
import * as path from 'node:path';
import { openDataset, parseDataSpec } from '../data/index.js';
import { linearFewShot, DEFAULT_SHOTS, DEFAULT_SEEDS, type FewShotRow } from '../eval/fewshot.js';
import { finetuneFewShot } from '../eval/fewshot-finetune.js';
import { formatFewShot, saveFewShot, type FewShotCurve } from '../eval/fewshot-report.js';
import { runVtab, VTAB_TASKS } from '../eval/vtab.js';
import { writeFileAtomic } from '../io/atomic.js';
import { getModel, loadModel, readMeta, type ModelMeta } from '../models/index.js';
import { EventWriter, markdownTable, textTable, type Table } from '../report/index.js';
import * as T from '../tensor/index.js';
import { hyperRuleResolution } from '../train/recipes.js';
import { lockRunFolder } from '../train/run-lock.js';
import { InterruptedError, UsageError } from '../util/errors.js';
import { RunProgress } from '../util/progress.js';
import { withStopSignals } from '../util/signals.js';
import { parseIntList, parseIntOption, parseThreadCount, WEIGHTS_HELP } from './options.js';
import { addRecipeFlags, recipeOverrides, type RecipeFlags } from './train-commands.js';

/** `scratch` in place of a weights file: a randomly initialised model (the from-scratch baseline). */
export const SCRATCH = 'scratch';

interface FewShotFlags extends RecipeFlags {
  weights: string[];
  label?: string[];
  data: string;
  model?: string;
  shots: number[];
  seeds: number;
  method: 'linear' | 'finetune' | 'both';
  out: string;
  seed: number;
  threads?: number;
  workers?: number;
  tensorboard?: string;
}

function modelNameOf(weights: string, meta: ModelMeta | null, flag?: string): string {
  if (weights === SCRATCH) {
    if (!flag) throw new UsageError('--weights scratch needs --model NAME');
    return getModel(flag).name;
  }
  const name = flag ?? meta?.model;
  if (!name) throw new UsageError(`${weights} does not say which model it holds: pass --model NAME`);
  return getModel(name).name;
}

export function registerEvalCommands(program: Command): void {
  addRecipeFlags(
    program
      .command('fewshot')
      .description('few-shot transfer: k examples per class, several seeds; the closed-form linear evaluator and/or HyperRule fine-tuning')
      .requiredOption('--weights <files...>', `weights, one curve each: ${WEIGHTS_HELP}; '${SCRATCH}' = random init (needs --model)`)
      .option('--label <names...>', 'a label per weights file (default: the file name)')
      .requiredOption('--data <spec>', 'downstream dataset (its train split is sampled, its test split evaluated)')
      .option('--model <name>', 'model name (for files without metadata and for scratch)')
      .option('--shots <list>', 'shots per class', parseIntList(1), [...DEFAULT_SHOTS])
      .option('--seeds <n>', 'draws per shot count', parseIntOption(1), DEFAULT_SEEDS)
      .addOption(new Option('--method <m>', 'evaluator').choices(['linear', 'finetune', 'both']).default('linear'))
      .option('--out <dir>', 'output folder (fewshot.json/.md/.svg/.png; fine-tuning runs)', 'bit-fewshot')
      .option('--seed <s>', 'model initialisation seed for scratch', parseIntOption(0), 0),
  )
    .option('--threads <n>', 'libtorch threads', parseThreadCount('--threads'))
    .option('--workers <n>', 'data loader threads', parseThreadCount('--workers'))
    .option(
      '--tensorboard <dir>',
      "also write TensorBoard event files: the accuracies and the figure, and each fine-tuning run's metrics in runs/<curve>/<k>shot-seed<s>",
    )
    .action(async (o: FewShotFlags) => {
      T.configureThreads(o.threads);
      if (o.label && o.label.length !== o.weights.length) throw new UsageError(`--label gives ${o.label.length} names for ${o.weights.length} weights files`);
      await lockRunFolder(o.out); // one command per output folder; held until this process exits
      const spec = parseDataSpec(o.data);
      const train = await openDataset(spec, 'train');
      // the linear evaluator scores the test split here; fine-tuning runs open their own
      const test = o.method !== 'finetune' ? await openDataset(spec, 'test') : null;
      const curves: FewShotCurve[] = [];
      const metas = await Promise.all(o.weights.map((w) => (w === SCRATCH ? null : readMeta(w))));
      // one resolution for every curve: --resolution, else the first file's trained one, else the HyperRule's
      const size = train.originalSize ?? { height: 224, width: 224 };
      const crop = o.resolution ?? metas.find((m) => m?.crop)?.crop ?? hyperRuleResolution(size.height, size.width).crop;
      const finetuneRuns = o.method !== 'linear' ? o.shots.length * o.seeds : 0;
      const progress = new RunProgress(o.weights.length * ((test ? 1 : 0) + finetuneRuns), 'fewshot', (line) => process.stderr.write(line + '\n'));
      await withStopSignals(async (signal) => {
        for (const [i, w] of o.weights.entries()) {
          if (signal.aborted) throw new InterruptedError('few-shot evaluation interrupted; the curves so far were not saved');
          const label = o.label?.[i] ?? (w === SCRATCH ? 'from scratch' : path.basename(w, '.npz'));
          const runName = `${i}-${label.replace(/[^A-Za-z0-9._-]+/g, '_')}`;
          const modelName = modelNameOf(w, metas[i], o.model);
          if (test) {
            progress.start(`${label}: the linear evaluator, ${o.shots.join('/')}-shot x ${o.seeds} draw(s)`);
            T.manualSeed(o.seed);
            const { model } = w === SCRATCH ? { model: getModel(modelName).build({ headSize: 1 }) } : await loadModel(w, modelName);
            try {
              const rows: FewShotRow[] = await linearFewShot(model, train, test, { crop, shots: o.shots, seeds: o.seeds, workers: o.workers });
              curves.push({ label, method: 'linear', rows });
              progress.end();
              process.stderr.write(`${label} (linear, ${crop}px): ${rows.map((r) => `${r.shots}-shot ${(100 * r.mean).toFixed(1)}%`).join('  ')}\n`);
            } finally {
              model.dispose();
            }
          }
          if (o.method !== 'linear') {
            const rows = await finetuneFewShot({
              model: modelName,
              weights: w === SCRATCH ? null : w,
              data: o.data,
              out: path.join(o.out, 'runs', runName),
              tensorboard: o.tensorboard ? path.join(o.tensorboard, 'runs', runName) : undefined,
              shots: o.shots,
              seeds: o.seeds,
              overrides: { ...recipeOverrides(o), crop },
              workers: o.workers,
              signal,
              progress,
              label,
              onRun: (k, s, top1, reused) =>
                process.stderr.write(`${label} (fine-tune): ${k}-shot seed ${s}: ${(100 * top1).toFixed(1)}%${reused ? ' (finished earlier)' : ''}\n`),
            });
            curves.push({ label, method: 'finetune', rows });
          }
        }
      });
      const tensorboard = o.tensorboard ? await EventWriter.open(o.tensorboard) : undefined;
      let files: string[];
      try {
        const title = `Few-shot transfer to ${train.name.replace(/\/train.*$/, '')}`;
        files = await saveFewShot(curves, path.join(o.out, 'fewshot'), title, { data: o.data, seeds: o.seeds, shots: o.shots }, tensorboard);
      } finally {
        tensorboard?.close();
      }
      process.stdout.write(formatFewShot(curves) + '\n' + `accuracy in %, mean ± std over ${o.seeds} seed(s); wrote ${files.join(', ')}\n`);
    });

  addRecipeFlags(
    program
      .command('vtab')
      .description('the VTAB-1k protocol: 1,000 training examples per task, HyperRule fine-tuning, full test split; per-task, per-category and overall means')
      .requiredOption('--weights <file>', `upstream weights: ${WEIGHTS_HELP}; '${SCRATCH}' = from scratch (needs --model)`)
      .option('--model <name>', 'model name (for files without metadata and for scratch)')
      .option(
        '--data-root <dir>',
        `folder with one folder per task: DIR/<task>/train/<class>/... (1,000 images) and DIR/<task>/test/<class>/...; task names: ${VTAB_TASKS.map((t) => t.name).join(', ')}`,
      )
      .option('--tasks <names>', 'comma-separated tasks (VTAB folder names, or the stand-ins mnist, fashion-mnist, digits)', (v: string) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .option('--out <dir>', 'output folder (vtab.json, vtab.md, one run folder per task)', 'bit-vtab')
      .option('--seed <s>', 'seed of the 1,000-example draws and training', parseIntOption(0), 0),
  )
    .option('--threads <n>', 'libtorch threads', parseThreadCount('--threads'))
    .option('--workers <n>', 'data loader threads', parseThreadCount('--workers'))
    .action(
      async (
        o: RecipeFlags & {
          weights: string;
          model?: string;
          dataRoot?: string;
          tasks?: string[];
          out: string;
          seed: number;
          threads?: number;
          workers?: number;
        },
      ) => {
        T.configureThreads(o.threads);
        const modelName = modelNameOf(o.weights, o.weights === SCRATCH ? null : await readMeta(o.weights), o.model);
        await lockRunFolder(o.out); // one command per output folder; held until this process exits
        const report = await withStopSignals((signal) =>
          runVtab({
            model: modelName,
            weights: o.weights === SCRATCH ? null : o.weights,
            dataRoot: o.dataRoot,
            tasks: o.tasks,
            out: o.out,
            seed: o.seed,
            overrides: recipeOverrides(o),
            workers: o.workers,
            signal,
            log: (line) => process.stderr.write(line + '\n'),
            onTask: (r, reused) =>
              process.stderr.write(
                `${r.task} (${r.category}): top-1 ${(100 * r.top1).toFixed(2)}% on ${r.testImages} test images${reused ? ' (finished earlier)' : ''}\n`,
              ),
          }),
        );
        const toPercent = (v: number | null) => (v === null ? null : 100 * v);
        const table: Table = {
          columns: [
            { header: 'task', align: 'left' },
            { header: 'category', align: 'left' },
            { header: 'top-1 (%)', decimals: 2 },
            { header: 'train', decimals: 0 },
            { header: 'test', decimals: 0 },
          ],
          rows: [
            ...report.results.map((r) => [r.task, r.category, toPercent(r.top1), r.trainImages, r.testImages]),
            ...(['Natural', 'Specialized', 'Structured'] as const).map((c) => [`mean ${c}`, c, toPercent(report.categoryMeans[c]), null, null]),
            ['mean (VTAB tasks)', '', toPercent(report.vtabMean), null, null],
            ['mean (all tasks run)', '', toPercent(report.overallMean), null, null],
          ],
        };
        await writeFileAtomic(path.join(o.out, 'vtab.json'), JSON.stringify(report, null, 2) + '\n');
        await writeFileAtomic(path.join(o.out, 'vtab.md'), markdownTable(table) + '\n');
        process.stdout.write(textTable(table) + '\n');
        if (report.missing.length) process.stdout.write(`missing tasks (not under ${o.dataRoot ?? 'a --data-root'}): ${report.missing.join(', ')}\n`);
        process.stdout.write(`wrote ${path.join(o.out, 'vtab.json')} and ${path.join(o.out, 'vtab.md')}\n`);
      },
    );
}
