// Downstream transfer with the BiT-HyperRule: open the task, pick the recipe
// from its size and image resolution, build the model with a new zero head,
// load upstream weights, train, evaluate. Multi-label tasks (several labels per
// image, data/multilabel.ts) train with the sigmoid cross-entropy of BiT's
// upstream recipe and report the mean average precision beside top-1.
import { formatDataSpec, openForTraining, parseDataSpec, type Dataset, type DatasetSpec } from '../data/index.js';
import { getModel, loadWeights, overridesOf, readMeta } from '../models/index.js';
import * as T from '../tensor/index.js';
import { UsageError } from '../util/errors.js';
import { applyOverrides, bitHyperRule, type FinetuneRecipe, type RecipeOverrides, type ResolutionRule } from './recipes.js';
import { train, type FinalMetrics, type RunOptions } from './trainer.js';

export interface FinetuneOptions extends RunOptions {
  model: string;
  /** Upstream weights (.npz); omitted: train from scratch. */
  weights?: string;
  data: string;
  /** k examples per class (k-shot transfer). */
  shots?: number;
  overrides?: RecipeOverrides;
  resolutionRule?: ResolutionRule;
  /** Evaluate on 'test' (default) or the 'val' split. */
  evalSplit?: 'test' | 'val';
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
    largeModel: getModel(o.model).hyperRuleLarge,
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
  const { train: trainSet, openEval } = await openForTraining(spec, o.evalSplit ?? 'test');
  const evalSet = (await openEval())!; // 'test' or 'val', never 'none'
  const recipe = resolveRecipe(trainSet, o);
  o.onRecipe?.(recipe, trainSet);
  const entry = getModel(o.model);
  // the same initial weights for the same seed (from scratch), whatever the number of workers
  T.manualSeed(o.seed ?? 0);
  const meta = o.weights ? await readMeta(o.weights) : null;
  if (meta && meta.model.toLowerCase() !== entry.name.toLowerCase()) {
    throw new UsageError(`${o.weights} holds a ${meta.model}, not a ${entry.name}: pass --model ${meta.model}`);
  }
  // Upstream weights built otherwise than their entry (bit pretrain --norm batch) say so in their metadata.
  const model = entry.build({ headSize: trainSet.numClasses, zeroHead: recipe.zeroHead, ...overridesOf(meta ?? {}) });
  try {
    if (o.weights) await loadWeights(model, o.weights, { head: 'new' });
    const loss = trainSet.multiLabel ? 'sigmoid' : 'softmax';
    return await train({
      model,
      modelName: entry.name,
      train: trainSet,
      evalSet,
      dataSpec: formatDataSpec(spec),
      recipe,
      loss,
      run: o,
      info: {
        weights: o.weights ?? null,
        train_images: trainSet.length,
        classes: trainSet.numClasses,
        task: 'finetune',
        loss,
        multi_label: trainSet.multiLabel,
      },
    });
  } finally {
    model.dispose();
  }
}
