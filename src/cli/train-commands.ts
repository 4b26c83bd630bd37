// `bit finetune`, `bit eval`, `bit predict`.
import { Option, type Command } from 'commander';
import * as path from 'node:path';
import { openDataset, parseDataSpec } from '../data/index.js';
import { getModel, loadWeights, readMeta } from '../models/index.js';
import * as T from '../tensor/index.js';
import { evaluate } from '../train/evaluate.js';
import { describeRecipe, finetune } from '../train/finetune.js';
import { UsageError } from '../util/errors.js';
import { withStopSignals } from '../util/signals.js';
import { parseFloatOption, parseIntOption } from './options.js';

export interface RecipeFlags {
  steps?: number;
  batch?: number;
  batchSplit?: number;
  lr?: number;
  baseLr?: number;
  resolution?: number;
  precrop?: number;
  mixup?: number;
  flip: boolean;
  weightDecay?: number;
}

/** Flags every training command shares. */
export function addRecipeFlags(cmd: Command): Command {
  return cmd
    .option('--steps <n>', 'optimizer steps (warm-up and decays scale along)', parseIntOption(1))
    .option('--batch <n>', 'effective batch size (lr scales by batch/512 unless --lr is given)', parseIntOption(1))
    .option('--batch-split <n>', 'micro-batches per step: same math, less memory', parseIntOption(1))
    .option('--lr <x>', 'learning rate, used as is', parseFloatOption(0))
    .option('--base-lr <x>', 'learning rate at batch 512 (scaled with the batch)', parseFloatOption(0))
    .option('--resolution <n>', 'crop size fed to the model', parseIntOption(8))
    .option('--precrop <n>', 'resize size before the random crop', parseIntOption(8))
    .option('--mixup <alpha>', 'MixUp alpha (0 = off)', parseFloatOption(0))
    .option('--no-flip', 'no random horizontal flips')
    .option('--weight-decay <x>', 'weight decay', parseFloatOption(0));
}

export function recipeOverrides(o: RecipeFlags & { flipSet?: boolean }) {
  return {
    steps: o.steps,
    batch: o.batch,
    batchSplit: o.batchSplit,
    lr: o.lr,
    baseLr: o.baseLr,
    crop: o.resolution,
    precrop: o.precrop,
    mixup: o.mixup,
    flip: o.flip === false ? false : undefined,
    weightDecay: o.weightDecay,
  };
}

/** Applies --threads (default every core). */
export function applyThreads(threads?: number): void {
  T.configureThreads(threads);
}

interface FinetuneFlags extends RecipeFlags {
  model: string;
  weights?: string;
  data: string;
  out: string;
  shots?: number;
  seed: number;
  evalEvery?: number;
  checkpointEvery?: number;
  threads?: number;
  workers?: number;
  resume: boolean;
  resolutionRule: 'code' | 'paper';
  evalSplit: 'test' | 'val';
}

async function loadForInference(weights: string, modelFlag?: string, headSize?: number) {
  const meta = await readMeta(weights);
  const name = modelFlag ?? meta?.model;
  if (!name) throw new UsageError(`${weights} does not say which model it holds (official BiT files don't): pass --model NAME`);
  const entry = getModel(name);
  const model = entry.build({ headSize: headSize ?? meta?.headSize ?? entry.defaultHeadSize }).eval();
  try {
    await loadWeights(model, weights);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, meta, entry };
}

export function registerTrainCommands(program: Command): void {
  addRecipeFlags(
    program
      .command('finetune')
      .description('transfer a model to a new task with the BiT-HyperRule (new zero-initialized head)')
      .requiredOption('--model <name>', 'model name (see bit models)')
      .option('--weights <file>', 'upstream weights (.npz: official BiT files or this project\'s); omitted: from scratch')
      .requiredOption('--data <spec>', 'dataset: mnist, fashion-mnist, digits, a folder DIR/{train,test}/<class>/..., idx:DIR')
      .requiredOption('--out <dir>', 'output folder (checkpoint.npz, model.npz, metrics.json, metrics.jsonl)')
      .option('--shots <k>', 'k training examples per class', parseIntOption(1))
      .option('--seed <s>', 'seed of data order, augmentation, MixUp and the k-shot draw', parseIntOption(0), 0),
  )
    .option('--eval-every <n>', 'evaluate every n steps (default: at the end only)', parseIntOption(1))
    .option('--checkpoint-every <n>', 'checkpoint every n steps (default: a tenth of the run)', parseIntOption(1))
    .addOption(new Option('--resolution-rule <rule>', 'HyperRule resolutions of the original code or the paper').choices(['code', 'paper']).default('code'))
    .addOption(new Option('--eval-split <split>', 'split to evaluate on').choices(['test', 'val']).default('test'))
    .option('--threads <n>', 'libtorch threads (default: every core)', parseIntOption(1))
    .option('--workers <n>', 'data loader threads', parseIntOption(1))
    .option('--no-resume', 'start over even if the output folder holds a checkpoint')
    .action(async (o: FinetuneFlags) => {
      applyThreads(o.threads);
      const metrics = await withStopSignals((signal) =>
        finetune({
          model: o.model,
          weights: o.weights,
          data: o.data,
          out: o.out,
          shots: o.shots,
          seed: o.seed,
          overrides: recipeOverrides(o),
          resolutionRule: o.resolutionRule,
          evalSplit: o.evalSplit,
          evalEvery: o.evalEvery,
          checkpointEvery: o.checkpointEvery,
          resume: o.resume,
          workers: o.workers,
          signal,
          onRecipe: (r, train) => process.stderr.write(`${train.name}: ${train.length} training images, ${train.numClasses} classes\n${describeRecipe(r)}\n`),
        }),
      );
      const pct = (v: number | null) => (v === null ? 'n/a' : `${(100 * v).toFixed(2)}%`);
      process.stdout.write(
        `top-1 ${pct(metrics.top1)}  top-5 ${pct(metrics.top5)}  (${metrics.eval_images} test images)  ${metrics.steps} steps  ${metrics.images_per_s.toFixed(1)} img/s\n` +
          `wrote ${path.join(o.out, 'model.npz')} and ${path.join(o.out, 'metrics.json')}\n`,
      );
      if (metrics.stopped_early) process.exitCode = 130;
    });

  program
    .command('eval')
    .description('top-1 / top-5 accuracy of a weights file on a dataset split')
    .requiredOption('--weights <file>', 'weights (.npz)')
    .requiredOption('--data <spec>', 'dataset spec')
    .option('--model <name>', 'model name (needed for files without metadata, e.g. official BiT files)')
    .option('--resolution <n>', 'eval resolution (default: the one the weights were trained at)', parseIntOption(8))
    .addOption(new Option('--split <split>', 'split').choices(['train', 'val', 'test']).default('test'))
    .option('--threads <n>', 'libtorch threads', parseIntOption(1))
    .option('--json', 'print JSON')
    .action(async (o: { weights: string; data: string; model?: string; resolution?: number; split: 'train' | 'val' | 'test'; threads?: number; json?: boolean }) => {
      applyThreads(o.threads);
      const ds = await openDataset(parseDataSpec(o.data), o.split);
      const { model, meta } = await loadForInference(o.weights, o.model);
      try {
        if (model.headSize !== ds.numClasses) throw new UsageError(`${o.weights} has a ${model.headSize}-way head but ${ds.name} has ${ds.numClasses} classes`);
        const crop = o.resolution ?? meta?.crop;
        if (!crop) throw new UsageError(`${o.weights} does not say its resolution: pass --resolution`);
        const r = await evaluate(model, ds, { crop });
        process.stdout.write(o.json ? JSON.stringify(r) + '\n' : `${ds.name} (${o.split}, ${r.n} images): top-1 ${(100 * r.top1).toFixed(2)}%  top-5 ${(100 * r.top5).toFixed(2)}%  loss ${r.loss.toFixed(4)}\n`);
      } finally {
        model.dispose();
      }
    });
}
