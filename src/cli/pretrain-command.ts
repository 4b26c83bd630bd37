// `bit pretrain`: BiT's upstream recipe, on one process or data-parallel.
import { Option, type Command } from 'commander';
import * as path from 'node:path';
import { describeUpstreamRecipe, pretrain, type PretrainRecipeFlags } from '../train/pretrain.js';
import type { UpstreamVariant } from '../train/recipes.js';
import { CROP_STYLES, MAX_IMAGE_SIDE, type CropStyle } from '../data/index.js';
import { parseFloatOption, parseIntOption } from './options.js';
import { addRunFlags, evaluationSummary, runTrainingCommand, type RunFlagValues } from './training-run.js';

/** The recipe flags as parsed: the library's names, but --resolution for the crop and a plain --no-flip boolean. */
interface PretrainFlags extends RunFlagValues, Omit<PretrainRecipeFlags, 'crop' | 'flip' | 'cropStyle'> {
  crop: CropStyle;
  model: string;
  data: string;
  variant: UpstreamVariant;
  resolution?: number;
  flip: boolean;
  norm: 'model' | 'batch';
  evalSplit: 'test' | 'val' | 'none';
}

export function registerPretrainCommand(program: Command): void {
  const cmd = program
    .command('pretrain')
    .description("pre-train a model with BiT's upstream recipe (on one process, or data-parallel on several processes or machines)")
    .requiredOption('--model <name>', 'model name (see bit models), e.g. BiT-Mini')
    .requiredOption('--data <spec>', 'dataset: mnist, fashion-mnist, a folder, idx:DIR, multilabel:DIR (several labels per image: sigmoid loss)')
    .requiredOption('--out <dir>', 'output folder (checkpoint.npz, model.npz, metrics.json, metrics.jsonl)')
    .addOption(
      new Option('--variant <v>', 'schedule of BiT-S/M (90 epochs, /10 at 30, 60, 80) or BiT-L (40 epochs, /10 at 23, 30, 37)')
        .choices(['S', 'M', 'L'])
        .default('S'),
    )
    .option('--epochs <n>', 'epochs (decays scale along)', parseIntOption(1))
    .option('--steps <n>', 'optimizer steps instead of epochs (warm-up and decays scale along)', parseIntOption(1))
    .option('--batch <n>', 'effective batch over all workers (default 4096); lr = 0.03 x batch/256', parseIntOption(1))
    .option('--batch-split <n>', 'micro-batches per step on each worker: same math, less memory', parseIntOption(1))
    .option('--lr-per-256 <x>', 'learning rate per 256 images (default 0.03)', parseFloatOption(0))
    .option('--lr <x>', 'learning rate, used as is', parseFloatOption(0))
    .option('--resolution <n>', 'random crop size (default 224)', parseIntOption(8, MAX_IMAGE_SIDE))
    .option('--precrop <n>', 'resize size before the crop (default resolution x 256/224)', parseIntOption(8, MAX_IMAGE_SIDE))
    .addOption(
      new Option(
        '--crop <style>',
        "inception: BiT's upstream Inception-style crop (area 5-100%, aspect 3/4-4/3, resized to --resolution); resize: a random window of the --precrop resize",
      )
        .choices(CROP_STYLES)
        .default('inception'),
    )
    .option('--no-flip', 'no random horizontal flips (default: flip unless the dataset says flips change meaning, e.g. digits)')
    .option('--weight-decay <x>', 'weight decay (default 1e-4)', parseFloatOption(0))
    .option('--warmup-steps <n>', 'linear warm-up steps (default 5000, or the same fraction of a shorter run)', parseIntOption(0))
    .addOption(
      new Option(
        '--norm <kind>',
        "norm layers: the model's own (BiT: GroupNorm + WS) or BatchNorm (for comparisons; recorded in the weights, so finetune and eval rebuild it)",
      )
        .choices(['model', 'batch'])
        .default('model'),
    )
    .option('--seed <s>', 'seed of initialization, data order and augmentation', parseIntOption(0), 0)
    .addOption(new Option('--eval-split <split>', 'split to evaluate on').choices(['test', 'val', 'none']).default('test'));
  addRunFlags(cmd).action(async (o: PretrainFlags, parsed: Command) => {
    await runTrainingCommand(
      parsed,
      o,
      (run, { announce }) =>
        pretrain({
          // the flags carry the library's option names, but --resolution (the crop), --crop (the crop style) and --no-flip (a plain boolean)
          ...o,
          ...run,
          crop: o.resolution,
          cropStyle: o.crop,
          flip: o.flip === false ? false : undefined,
          onRecipe: (r, train) => announce(train, describeUpstreamRecipe(r)),
        }),
      (m) =>
        `${evaluationSummary(m, o.evalSplit)}${m.steps} steps  ${m.images_per_s.toFixed(1)} img/s  final train loss ${m.final_train_loss.toFixed(4)}\n` +
        `wrote ${path.join(o.out, 'model.npz')} (BiT .npz; bit finetune --weights loads it) and ${path.join(o.out, 'metrics.json')}\n`,
    );
  });
}
