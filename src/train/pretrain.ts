// Upstream pre-training with BiT's recipe (Kolesnikov et al. 2020, Sec. 3.1;
// the numbers are in recipes.ts): SGD momentum 0.9, lr 0.03 x batch/256 with
// a linear warm-up, weight decay 1e-4, batch 4096, lr /10 at fixed fractions
// of the run; Inception-style crop + flip; softmax cross-entropy for single-label
// data, sigmoid cross-entropy for multi-label data. The result is a BiT .npz
// (model.npz, and checkpoint.npz with the optimizer state) that
// `bit finetune --weights` loads.
import { DataError, formatDataSpec, type CropStyle, openForTraining, parseDataSpec, type Dataset } from '../data/index.js';
import { getModel } from '../models/index.js';
import * as T from '../tensor/index.js';
import { UsageError } from '../util/errors.js';
import { checkImageSizes, upstreamRecipe, type UpstreamRecipe, type UpstreamVariant } from './recipes.js';
import { rescaleSchedule } from './schedule.js';
import { train, type FinalMetrics, type RunOptions } from './trainer.js';

/** What the command line may change in the upstream recipe. */
export interface PretrainRecipeFlags {
  variant?: UpstreamVariant;
  epochs?: number;
  /** Optimizer steps instead of epochs: warm-up and decays scale along. */
  steps?: number;
  batch?: number;
  batchSplit?: number;
  /** Learning rate per 256 images (default 0.03), scaled by batch/256. */
  lrPer256?: number;
  /** Learning rate used as is. */
  lr?: number;
  crop?: number;
  precrop?: number;
  flip?: boolean;
  /** Default 'inception' (BiT upstream); 'resize': fine-tuning's resize-then-random-crop. */
  cropStyle?: CropStyle;
  weightDecay?: number;
  warmupSteps?: number;
}

export interface PretrainOptions extends PretrainRecipeFlags, RunOptions {
  model: string;
  data: string;
  /** Norm layers: the model's own (BiT: GroupNorm + WS), or BatchNorm for comparisons. */
  norm?: 'model' | 'batch';
  /** Split evaluated every evalEvery steps and at the end; 'none': no evaluation. */
  evalSplit?: 'test' | 'val' | 'none';
  onRecipe?: (r: UpstreamRecipe, train: Dataset) => void;
}

/** The upstream recipe for a training set, with the command line's changes. */
export function resolvePretrainRecipe(train: Dataset, f: PretrainRecipeFlags): UpstreamRecipe {
  const base = upstreamRecipe({
    variant: f.variant,
    datasetSize: train.length,
    multiLabel: train.multiLabel,
    epochs: f.epochs,
    batch: f.batch,
    batchSplit: f.batchSplit,
    lrPer256: f.lrPer256,
    crop: f.crop,
    precrop: f.precrop,
    // the recipe flips; datasets where a flip changes the meaning (digits) say so
    flip: f.flip ?? train.defaultFlip,
    cropStyle: f.cropStyle,
    weightDecay: f.weightDecay,
    warmupSteps: f.warmupSteps,
  });
  const r: UpstreamRecipe = { ...base, schedule: { ...base.schedule }, notes: [...base.notes] };
  checkImageSizes(r.crop, r.precrop, f.precrop !== undefined);
  if (f.steps !== undefined && f.steps !== r.schedule.totalSteps) {
    const k = f.steps / r.schedule.totalSteps;
    // an explicit --warmup-steps stays as given
    r.schedule = rescaleSchedule(base.schedule, f.steps, f.warmupSteps !== undefined);
    r.epochs = f.steps / r.stepsPerEpoch;
    r.notes.push(`--steps ${f.steps}: ${r.epochs.toPrecision(3)} epochs; warm-up and decays scaled by ${k.toPrecision(3)}`);
  }
  if (f.lr !== undefined) {
    r.lr = f.lr;
    r.schedule.baseLr = f.lr;
    r.notes.push(`--lr ${f.lr}: used as is`);
  }
  return r;
}

export function describeUpstreamRecipe(r: UpstreamRecipe): string {
  const s = r.schedule;
  return [
    `recipe: BiT upstream (BiT-${r.variant})`,
    `  ${s.totalSteps} steps (${r.stepsPerEpoch} per epoch), warm-up ${s.warmupSteps}, lr /10 after steps ${s.decaySteps.join(', ')}`,
    `  batch ${r.batch} (${r.batchSplit} micro-batch${r.batchSplit > 1 ? 'es' : ''}), lr ${r.lr.toPrecision(3)}, SGD momentum ${r.momentum}, weight decay ${r.weightDecay}`,
    `  resize ${r.precrop}x${r.precrop}, ${r.cropStyle === 'inception' ? `Inception-style crop (area 5-100%, aspect 3/4-4/3) resized to ${r.crop}x${r.crop}` : `random crop ${r.crop}x${r.crop}`}, flip ${r.flip ? 'on' : 'off'}; ${r.loss} cross-entropy`,
    ...r.notes.map((n) => `  - ${n}`),
  ].join('\n');
}

export async function pretrain(o: PretrainOptions): Promise<FinalMetrics> {
  const spec = parseDataSpec(o.data);
  const { train: trainSet, openEval } = await openForTraining(spec, o.evalSplit ?? 'test');
  const evalSet = await openEval().catch((err: unknown) => {
    if (err instanceof DataError) throw new UsageError(`${err.message}\n(pass --eval-split none to pre-train without evaluation)`, { cause: err });
    throw err;
  });
  const recipe = resolvePretrainRecipe(trainSet, o);
  o.onRecipe?.(recipe, trainSet);
  const entry = getModel(o.model);
  // the same initial weights for the same seed, whatever the number of workers (rank 0's are broadcast)
  T.manualSeed(o.seed ?? 0);
  const model = entry.build({ headSize: trainSet.numClasses, norm: o.norm === 'batch' ? { kind: 'batch' } : undefined });
  try {
    return await train({
      model,
      modelName: entry.name,
      train: trainSet,
      evalSet,
      dataSpec: formatDataSpec(spec),
      recipe,
      loss: recipe.loss,
      run: o,
      info: {
        task: 'pretrain',
        variant: recipe.variant,
        epochs: recipe.epochs,
        norm: o.norm === 'batch' ? 'batch' : 'model',
        loss: recipe.loss,
        train_images: trainSet.length,
        classes: trainSet.numClasses,
        multi_label: trainSet.multiLabel,
      },
    });
  } finally {
    model.dispose();
  }
}
