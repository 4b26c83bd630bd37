// `bit finetune` and `bit eval`.
import { Option, type Command } from 'commander';
import * as path from 'node:path';
import { describeSkipped, MAX_IMAGE_SIDE, openDataset, parseDataSpec, skippedEntries } from '../data/index.js';
import { loadModel, readMeta } from '../models/index.js';
import * as T from '../tensor/index.js';
import { evaluate } from '../train/evaluate.js';
import { describeRecipe, finetune } from '../train/finetune.js';
import { UsageError } from '../util/errors.js';
import { parseFloatOption, parseIntOption, parseThreadCount, WEIGHTS_HELP } from './options.js';
import { addRunFlags, evaluationSummary, runTrainingCommand, type RunFlagValues } from './training-run.js';

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

/** The HyperRule recipe flags of `bit finetune` (`bit pretrain` has the upstream recipe's own). */
export function addRecipeFlags(cmd: Command): Command {
  return cmd
    .option('--steps <n>', 'optimizer steps (warm-up and decays scale along)', parseIntOption(1))
    .option('--batch <n>', 'effective batch size (lr scales by batch/512 unless --lr is given)', parseIntOption(1))
    .option('--batch-split <n>', 'micro-batches per step: same math, less memory', parseIntOption(1))
    .option('--lr <x>', 'learning rate, used as is', parseFloatOption(0))
    .option('--base-lr <x>', 'learning rate at batch 512 (scaled with the batch)', parseFloatOption(0))
    .option('--resolution <n>', 'crop size fed to the model', parseIntOption(8, MAX_IMAGE_SIDE))
    .option('--precrop <n>', 'resize size before the random crop', parseIntOption(8, MAX_IMAGE_SIDE))
    .option('--mixup <alpha>', 'MixUp alpha (0 = off)', parseFloatOption(0))
    .option('--no-flip', 'no random horizontal flips')
    .option('--weight-decay <x>', 'weight decay', parseFloatOption(0));
}

export function recipeOverrides(o: RecipeFlags) {
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

interface FinetuneFlags extends RecipeFlags, RunFlagValues {
  model: string;
  weights?: string;
  data: string;
  shots?: number;
  resolutionRule: 'code' | 'paper';
  evalSplit: 'test' | 'val';
}

/** The model the weights hold (their metadata, or the catalogue for an official file), for a command given no --model. */
async function modelOfWeights(weights: string | undefined): Promise<string> {
  const meta = weights ? await readMeta(weights) : null;
  if (!meta) throw new UsageError(weights ? `${weights} does not say which model it holds: pass --model NAME` : 'give --model NAME (training from scratch)');
  return meta.model;
}

export function registerTrainCommands(program: Command): void {
  const finetuneCmd = addRecipeFlags(
    program
      .command('finetune')
      .description('transfer a model to a new task with the BiT-HyperRule (new zero-initialized head)')
      .option('--model <name>', 'model name (see bit models; default: the one the weights hold)')
      .option('--weights <file|name>', `upstream weights: ${WEIGHTS_HELP}; omitted: from scratch`)
      .requiredOption('--data <spec>', 'dataset: mnist, fashion-mnist, digits, a folder DIR/{train,test}/<class>/..., idx:DIR')
      .requiredOption('--out <dir>', 'output folder (checkpoint.npz, model.npz, metrics.json, metrics.jsonl)')
      .option('--shots <k>', 'k training examples per class', parseIntOption(1))
      .option('--seed <s>', 'seed of data order, augmentation, MixUp and the k-shot draw', parseIntOption(0), 0),
  )
    .addOption(new Option('--resolution-rule <rule>', 'HyperRule resolutions of the original code or the paper').choices(['code', 'paper']).default('code'))
    .addOption(new Option('--eval-split <split>', 'split to evaluate on').choices(['test', 'val']).default('test'));
  addRunFlags(finetuneCmd).action(async (flags: Omit<FinetuneFlags, 'model'> & { model?: string }, cmd: Command) => {
    const o: FinetuneFlags = { ...flags, model: flags.model ?? (await modelOfWeights(flags.weights)) };
    await runTrainingCommand(
      cmd,
      o,
      (run, { announce }) =>
        finetune({
          ...run,
          model: o.model,
          weights: o.weights,
          data: o.data,
          shots: o.shots,
          overrides: recipeOverrides(o),
          resolutionRule: o.resolutionRule,
          evalSplit: o.evalSplit,
          onRecipe: (r, train) => announce(train, describeRecipe(r)),
        }),
      (m) =>
        `${evaluationSummary(m, o.evalSplit)}${m.steps} steps  ${m.images_per_s.toFixed(1)} img/s\n` +
        `wrote ${path.join(o.out, 'model.npz')} and ${path.join(o.out, 'metrics.json')}\n`,
    );
  });

  program
    .command('eval')
    .description('top-1 / top-5 accuracy of a weights file on a dataset split')
    .requiredOption('--weights <file|name>', `weights: ${WEIGHTS_HELP}`)
    .requiredOption('--data <spec>', 'dataset spec')
    .option('--model <name>', 'model name (needed for files without metadata that are not named as an official file)')
    .option('--resolution <n>', 'eval resolution (default: the one the weights were trained at)', parseIntOption(8, MAX_IMAGE_SIDE))
    .addOption(new Option('--split <split>', 'split').choices(['train', 'val', 'test']).default('test'))
    .option('--threads <n>', 'libtorch threads', parseThreadCount('--threads'))
    .option('--json', 'print JSON')
    .action(
      async (o: { weights: string; data: string; model?: string; resolution?: number; split: 'train' | 'val' | 'test'; threads?: number; json?: boolean }) => {
        T.configureThreads(o.threads);
        const ds = await openDataset(parseDataSpec(o.data), o.split);
        const leftOut = describeSkipped(skippedEntries([ds]));
        if (leftOut) process.stderr.write(leftOut + '\n');
        const { model, meta } = await loadModel(o.weights, o.model);
        try {
          if (model.headSize !== ds.numClasses)
            throw new UsageError(`${o.weights} has a ${model.headSize}-way head but ${ds.name} has ${ds.numClasses} classes`);
          const crop = o.resolution ?? meta?.crop;
          if (!crop) throw new UsageError(`${o.weights} does not say its resolution: pass --resolution`);
          const r = await evaluate(model, ds, { crop });
          process.stdout.write(
            o.json
              ? JSON.stringify(r) + '\n'
              : `${ds.name} (${o.split}, ${r.n} images): top-1 ${(100 * r.top1).toFixed(2)}%  top-5 ${(100 * r.top5).toFixed(2)}%  loss ${r.loss.toFixed(4)}\n`,
          );
        } finally {
          model.dispose();
        }
      },
    );
}
