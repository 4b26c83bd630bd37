// Recipes are data: the BiT-HyperRule for fine-tuning and the upstream
// pre-training recipe, with the paper's and the original code's numbers.
import { MAX_IMAGE_SIDE, type CropStyle } from '../data/index.js';
import { UsageError } from '../util/errors.js';
import { rescaleSchedule, type StepSchedule } from './schedule.js';

// ---- BiT-HyperRule (Kolesnikov et al. 2020, Sec. 3.3; big_transfer/bit_hyperrule.py)

/** SGD momentum (paper). */
export const HYPERRULE_MOMENTUM = 0.9;
/** Base learning rate at batch 512 (paper; train.py --base_lr default). */
export const HYPERRULE_BASE_LR = 0.003;
/** Batch size the base learning rate refers to (paper; train.py --batch default). */
export const HYPERRULE_BATCH = 512;
/** MixUp alpha for tasks with >= 20k examples (paper; bit_hyperrule.get_mixup). */
export const HYPERRULE_MIXUP_ALPHA = 0.1;

/** Schedules by training-set size: [warm-up, decay, decay, decay, total] steps (bit_hyperrule.get_schedule). */
const SCHEDULES: readonly { below: number; supports: readonly number[] }[] = [
  { below: 20_000, supports: [100, 200, 300, 400, 500] },
  { below: 500_000, supports: [500, 3000, 6000, 9000, 10_000] },
  { below: Infinity, supports: [500, 6000, 12_000, 18_000, 20_000] },
];

/**
 * Resolutions: images under 96x96 in area resize to 160 and crop 128; larger
 * ones 512 -> 480 in the original code (bit_hyperrule.get_resolution); the
 * paper's table says 448 -> 384 (and 512 -> 480 for R152x4).
 */
export type ResolutionRule = 'code' | 'paper';

/** The numbers of a run that the training loop uses (both recipes provide them). */
export interface TrainRecipe {
  /** Effective batch (summed over micro-batches and workers). */
  batch: number;
  /** Micro-batches per step (`--batch-split`): memory, not math. */
  batchSplit: number;
  /** Learning rate actually used. */
  lr: number;
  momentum: number;
  weightDecay: number;
  schedule: StepSchedule;
  /** MixUp alpha, 0 = off. One lambda per step, shared by its micro-batches. */
  mixupAlpha: number;
  precrop: number;
  crop: number;
  flip: boolean;
  /** 'resize' (default: a crop x crop window of the precrop resize; BiT fine-tuning) or 'inception' (an Inception-style window resized to the crop; BiT upstream). */
  cropStyle?: CropStyle;
}

export interface FinetuneRecipe extends TrainRecipe {
  zeroHead: boolean;
  /** Where each number came from, for the printout. */
  notes: string[];
}

export interface HyperRuleInput {
  /** Training examples (for k-shot: k x classes). */
  datasetSize: number;
  /** Size of the source images (the rule looks at their area). */
  imageHeight: number;
  imageWidth: number;
  resolutionRule?: ResolutionRule;
  /** R152x4 in the paper's table gets 512 -> 480 at high resolution. */
  largeModel?: boolean;
  flip?: boolean;
}

export function hyperRuleSchedule(datasetSize: number): StepSchedule {
  const s = SCHEDULES.find((e) => datasetSize < e.below)!.supports;
  return { baseLr: HYPERRULE_BASE_LR, warmupSteps: s[0], decaySteps: s.slice(1, 4), decayFactor: 10, totalSteps: s[4] };
}

export function hyperRuleResolution(h: number, w: number, rule: ResolutionRule = 'code', largeModel = false): { precrop: number; crop: number } {
  if (h * w < 96 * 96) return { precrop: 160, crop: 128 };
  if (rule === 'code' || largeModel) return { precrop: 512, crop: 480 };
  return { precrop: 448, crop: 384 };
}

/** The BiT-HyperRule for a downstream task. */
export function bitHyperRule(input: HyperRuleInput): FinetuneRecipe {
  if (!(input.datasetSize > 0)) throw new Error(`BiT-HyperRule: the training set is empty (size ${input.datasetSize})`);
  const schedule = hyperRuleSchedule(input.datasetSize);
  const res = hyperRuleResolution(input.imageHeight, input.imageWidth, input.resolutionRule, input.largeModel);
  const mixup = input.datasetSize < 20_000 ? 0 : HYPERRULE_MIXUP_ALPHA;
  return {
    batch: HYPERRULE_BATCH,
    batchSplit: 1,
    lr: HYPERRULE_BASE_LR,
    momentum: HYPERRULE_MOMENTUM,
    weightDecay: 0,
    schedule,
    mixupAlpha: mixup,
    ...res,
    flip: input.flip ?? true,
    zeroHead: true,
    notes: [
      `schedule ${schedule.totalSteps} steps (warm-up ${schedule.warmupSteps}, /10 after ${schedule.decaySteps.join('/')}) for ${input.datasetSize} examples`,
      `resolution ${res.precrop} -> ${res.crop} for ${input.imageHeight}x${input.imageWidth} images (${input.resolutionRule ?? 'code'} rule)`,
      mixup ? `MixUp alpha ${mixup} (>= 20k examples)` : 'no MixUp (< 20k examples)',
    ],
  };
}

export interface RecipeOverrides {
  steps?: number;
  batch?: number;
  batchSplit?: number;
  /** Learning rate at batch 512 (scaled with the batch like the default). */
  baseLr?: number;
  /** Learning rate used as is (no batch scaling). */
  lr?: number;
  crop?: number;
  precrop?: number;
  mixup?: number;
  flip?: boolean;
  weightDecay?: number;
}

/**
 * Applies command-line overrides. A new step count scales warm-up and decays
 * proportionally; a batch other than 512 scales the learning rate by
 * batch/512 (the original authors' advice) unless `lr` is given.
 */
/**
 * A recipe's crop (--resolution) and resize (--precrop) sizes: at most
 * MAX_IMAGE_SIDE, and the resize no smaller than the crop. `precropGiven`:
 * whether --precrop was given, or derived from the crop by the recipe's ratio.
 */
export function checkImageSizes(crop: number, precrop: number, precropGiven: boolean): void {
  if (crop > MAX_IMAGE_SIDE) throw new UsageError(`--resolution ${crop} is larger than the largest image side, ${MAX_IMAGE_SIDE}`);
  if (precrop > MAX_IMAGE_SIDE)
    throw new UsageError(
      precropGiven
        ? `--precrop ${precrop} is larger than the largest image side, ${MAX_IMAGE_SIDE}`
        : `--resolution ${crop} means a resize to ${precrop} before the random crop (the recipe's ratio), larger than the largest image side, ${MAX_IMAGE_SIDE}: give a smaller --resolution, or --precrop`,
    );
  if (precrop < crop) throw new UsageError(`--precrop ${precrop} is smaller than the crop ${crop}`);
}

export function applyOverrides(r: FinetuneRecipe, o: RecipeOverrides): FinetuneRecipe {
  const out: FinetuneRecipe = { ...r, schedule: { ...r.schedule }, notes: [...r.notes] };
  if (o.steps !== undefined && o.steps !== r.schedule.totalSteps) {
    out.schedule = rescaleSchedule(r.schedule, o.steps);
    out.notes.push(`--steps ${o.steps}: warm-up and decays scaled by ${(o.steps / r.schedule.totalSteps).toPrecision(3)}`);
  }
  if (o.batch !== undefined) out.batch = o.batch;
  if (o.batchSplit !== undefined) out.batchSplit = o.batchSplit;
  if (out.batch % out.batchSplit !== 0) throw new UsageError(`--batch ${out.batch} is not divisible by --batch-split ${out.batchSplit}`);
  const base = o.baseLr ?? HYPERRULE_BASE_LR;
  out.lr = o.lr ?? (base * out.batch) / HYPERRULE_BATCH;
  if (o.lr === undefined && out.batch !== HYPERRULE_BATCH)
    out.notes.push(`batch ${out.batch}: lr ${base} x ${out.batch}/${HYPERRULE_BATCH} = ${out.lr.toPrecision(3)}`);
  out.schedule.baseLr = out.lr;
  if (o.crop !== undefined) out.crop = o.crop;
  if (o.precrop !== undefined) out.precrop = o.precrop;
  else if (o.crop !== undefined) out.precrop = Math.round((o.crop * r.precrop) / r.crop);
  checkImageSizes(out.crop, out.precrop, o.precrop !== undefined);
  if (o.mixup !== undefined) out.mixupAlpha = o.mixup;
  if (o.flip !== undefined) out.flip = o.flip;
  if (o.weightDecay !== undefined) out.weightDecay = o.weightDecay;
  return out;
}

// ---- Upstream pre-training (Kolesnikov et al. 2020, Sec. 3.1; the lecture's table)

export type UpstreamVariant = 'S' | 'M' | 'L';
/** Epochs and decay epochs: BiT-S/M 90 epochs, /10 at 30, 60, 80; BiT-L 40 epochs, /10 at 23, 30, 37. */
const UPSTREAM_EPOCHS: Record<UpstreamVariant, { epochs: number; decays: readonly number[] }> = {
  S: { epochs: 90, decays: [30, 60, 80] },
  M: { epochs: 90, decays: [30, 60, 80] },
  L: { epochs: 40, decays: [23, 30, 37] },
};
/** Batch 4096 (8 images per chip on 512 chips). */
export const UPSTREAM_BATCH = 4096;
/** lr = 0.03 x batch / 256. */
export const UPSTREAM_LR_PER_256 = 0.03;
export const UPSTREAM_WARMUP_STEPS = 5000;
export const UPSTREAM_WEIGHT_DECAY = 1e-4;
export const UPSTREAM_MOMENTUM = 0.9;
export const UPSTREAM_RESOLUTION = 224;
/**
 * The 5000 warm-up steps are 17.8% of BiT-S's 90 epochs of ILSVRC-2012
 * (1,281,167 images / 4096 = 313 steps per epoch, 28,170 steps). Shorter runs
 * keep that fraction, capped at 5000 steps.
 */
const WARMUP_FRACTION = UPSTREAM_WARMUP_STEPS / (90 * Math.ceil(1_281_167 / UPSTREAM_BATCH));

export interface UpstreamRecipe extends TrainRecipe {
  variant: UpstreamVariant;
  epochs: number;
  stepsPerEpoch: number;
  loss: 'softmax' | 'sigmoid';
  notes: string[];
}

export interface UpstreamInput {
  variant?: UpstreamVariant;
  datasetSize: number;
  multiLabel?: boolean;
  epochs?: number;
  batch?: number;
  batchSplit?: number;
  lrPer256?: number;
  crop?: number;
  precrop?: number;
  flip?: boolean;
  /** Default 'inception': BiT's upstream pre-processing (big_transfer issue #26: "standard inception crop resized to 224x224"). */
  cropStyle?: CropStyle;
  weightDecay?: number;
  warmupSteps?: number;
}

export function upstreamRecipe(input: UpstreamInput): UpstreamRecipe {
  const variant = input.variant ?? 'S';
  const ref = UPSTREAM_EPOCHS[variant];
  const batch = input.batch ?? UPSTREAM_BATCH;
  const batchSplit = input.batchSplit ?? 1;
  if (batch % batchSplit !== 0) throw new UsageError(`--batch ${batch} is not divisible by --batch-split ${batchSplit}`);
  const epochs = input.epochs ?? ref.epochs;
  const stepsPerEpoch = Math.ceil(input.datasetSize / batch);
  const totalSteps = epochs * stepsPerEpoch;
  const scale = epochs / ref.epochs;
  const lr = ((input.lrPer256 ?? UPSTREAM_LR_PER_256) * batch) / 256;
  const warmupSteps = input.warmupSteps ?? Math.min(UPSTREAM_WARMUP_STEPS, Math.round(totalSteps * WARMUP_FRACTION));
  const crop = input.crop ?? UPSTREAM_RESOLUTION;
  const precrop = input.precrop ?? Math.round(crop * (256 / 224));
  const decaySteps = ref.decays.map((e) => Math.round(e * scale * stepsPerEpoch));
  return {
    variant,
    batch,
    batchSplit,
    lr,
    momentum: UPSTREAM_MOMENTUM,
    weightDecay: input.weightDecay ?? UPSTREAM_WEIGHT_DECAY,
    epochs,
    stepsPerEpoch,
    schedule: { baseLr: lr, warmupSteps, decaySteps, decayFactor: 10, totalSteps },
    crop,
    precrop,
    flip: input.flip ?? true,
    cropStyle: input.cropStyle ?? 'inception',
    // upstream pre-training uses no MixUp
    mixupAlpha: 0,
    loss: input.multiLabel ? 'sigmoid' : 'softmax',
    notes: [
      `BiT-${variant} recipe: ${ref.epochs} epochs, /10 at epochs ${ref.decays.join(', ')}${scale !== 1 ? `, scaled to ${epochs} epochs (decays at ${ref.decays.map((e) => (e * scale).toFixed(1)).join(', ')})` : ''}`,
      `lr ${input.lrPer256 ?? UPSTREAM_LR_PER_256} x ${batch}/256 = ${lr.toPrecision(3)}, warm-up ${warmupSteps} steps, weight decay ${input.weightDecay ?? UPSTREAM_WEIGHT_DECAY}`,
      `${input.multiLabel ? 'sigmoid' : 'softmax'} cross-entropy (${input.multiLabel ? 'multi' : 'single'}-label data)`,
    ],
  };
}
