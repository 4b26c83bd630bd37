// Downstream transfer with the BiT-HyperRule: open the task, pick the recipe
// from its size and image resolution, build the model with a new zero head,
// load upstream weights, train, evaluate.
import { formatDataSpec, openDataset, parseDataSpec, type Dataset, type DatasetSpec } from '../data/index.js';
import { getModel, loadWeights, readMeta } from '../models/index.js';
import { UsageError } from '../util/errors.js';
import type { Collective } from './collective.js';
import { applyOverrides, bitHyperRule, type FinetuneRecipe, type RecipeOverrides, type ResolutionRule } from './recipes.js';
import { train, type FinalMetrics } from './trainer.js';

export interface FinetuneOptions {
  model: string;
  /** Upstream weights (.npz); omitted: train from scratch. */
  weights?: string;
  data: string;
  out: string;
  /** k examples per class (k-shot transfer). */
  shots?: number;
  seed?: number;
  overrides?: RecipeOverrides;
  resolutionRule?: ResolutionRule;
  /** Evaluate on 'test' (default) or the 'val' split. */
  evalSplit?: 'test' | 'val';
  evalEvery?: number;
  checkpointEvery?: number;
  resume?: boolean;
  workers?: number;
  collective?: Collective | null;
  signal?: AbortSignal;
  quiet?: boolean;
  /** Called with the resolved recipe before training starts. */
  onRecipe?: (r: FinetuneRecipe, train: Dataset) => void;
}

/** The dataset spec with --shots/--seed folded in. */
export function finetuneSpec(data: string, shots?: number, seed?: number): DatasetSpec {
  const spec = parseDataSpec(data);
  if (shots === undefined) return spec;
  return { ...spec, shots, seed: spec.seed ?? seed ?? 0 };
}

export function resolveRecipe(train: Dataset, o: Pick<FinetuneOptions, 'overrides' | 'resolutionRule' | 'model'>): FinetuneRecipe {
  const size = train.originalSize;
  if (!size) throw new UsageError(`cannot tell the image size of ${train.name} for the BiT-HyperRule: give --resolution and --precrop`);
  const base = bitHyperRule({
    datasetSize: train.length,
    imageHeight: size.height,
    imageWidth: size.width,
    resolutionRule: o.resolutionRule,
    largeModel: /R152x4/i.test(o.model),
    flip: train.defaultFlip,
  });
  return applyOverrides(base, o.overrides ?? {});
}

export function describeRecipe(r: FinetuneRecipe): string {
  const s = r.schedule;
  return [
    `recipe: BiT-HyperRule`,
    `  steps ${s.totalSteps}, warm-up ${s.warmupSteps}, lr /10 after steps ${s.decaySteps.join(', ')}`,
    `  batch ${r.batch} (${r.batchSplit} micro-batch${r.batchSplit > 1 ? 'es' : ''}), lr ${r.lr.toPrecision(3)}, SGD momentum ${r.momentum}, weight decay ${r.weightDecay}`,
    `  resolution: resize ${r.precrop}x${r.precrop}, random crop ${r.crop}x${r.crop}, flip ${r.flip ? 'on' : 'off'}; MixUp ${r.mixupAlpha > 0 ? `alpha ${r.mixupAlpha}` : 'off'}; head zero-initialized`,
    ...r.notes.map((n) => `  - ${n}`),
  ].join('\n');
}

export async function finetune(o: FinetuneOptions): Promise<FinalMetrics> {
  const spec = finetuneSpec(o.data, o.shots, o.seed);
  const trainSet = await openDataset(spec, 'train');
  const evalSet = await openDataset(spec, o.evalSplit ?? 'test');
  if (trainSet.multiLabel) throw new UsageError(`${trainSet.name} is multi-label: fine-tuning expects one label per image (use bit pretrain for multi-label data)`);
  const recipe = resolveRecipe(trainSet, o);
  o.onRecipe?.(recipe, trainSet);
  const entry = getModel(o.model);
  const model = entry.build({ headSize: trainSet.numClasses, zeroHead: recipe.zeroHead });
  try {
    if (o.weights) {
      const meta = await readMeta(o.weights);
      if (meta && meta.model.toLowerCase() !== entry.name.toLowerCase()) {
        throw new UsageError(`${o.weights} holds a ${meta.model}, not a ${entry.name}: pass --model ${meta.model}`);
      }
      await loadWeights(model, o.weights, { head: 'new' });
    }
    return await train({
      model,
      modelName: entry.name,
      train: trainSet,
      evalSet,
      dataSpec: formatDataSpec(spec),
      recipe,
      loss: 'softmax',
      outDir: o.out,
      seed: o.seed ?? 0,
      evalEvery: o.evalEvery ?? 0,
      checkpointEvery: o.checkpointEvery ?? Math.max(1, Math.round(recipe.schedule.totalSteps / 10)),
      resume: o.resume,
      workers: o.workers,
      collective: o.collective,
      signal: o.signal,
      quiet: o.quiet,
      info: { weights: o.weights ?? null, train_images: trainSet.length, classes: trainSet.numClasses, task: 'finetune' },
    });
  } finally {
    model.dispose();
  }
}
