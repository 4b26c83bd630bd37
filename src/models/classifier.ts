// What every model of the zoo offers to the layers above.
import type { Tensor } from '../tensor/index.js';
import { Module, type NormSpec, type Path, type VarStore } from '../nn/index.js';

/**
 * How a model was built where it may differ from its registry entry (the
 * normalization studies, `bit pretrain --norm batch`). Recorded in the weights'
 * metadata so that loaders rebuild the same architecture.
 */
export interface ArchitectureOverrides {
  norm?: NormSpec;
  standardize?: boolean;
}

/** The architecture overrides among `o`'s fields (build options, metadata), and nothing else. */
export function overridesOf(o: ArchitectureOverrides): ArchitectureOverrides {
  return { ...(o.norm !== undefined && { norm: o.norm }), ...(o.standardize !== undefined && { standardize: o.standardize }) };
}

/** What `features` can return: the output of a stage (`block1`, `block2`, ...) or the pre-logits. */
export type FeatureLayer = 'pre-logits' | `block${number}`;

export const PRE_LOGITS: FeatureLayer = 'pre-logits';

export interface FeatureOptions {
  /** Whose output (default 'pre-logits'): see the model's `featureLayers`. */
  layer?: FeatureLayer;
  /** Average over the spatial positions (default true): [N, C]; false: the whole map [N, C, H, W]. */
  pool?: boolean;
}

export abstract class ImageClassifier extends Module {
  /** What the registry's build was told beyond the entry's own architecture (set by the registry). */
  overrides: ArchitectureOverrides = {};
  /** Owns every parameter and buffer under its official key. */
  abstract readonly store: VarStore;
  /** Number of outputs of the head. */
  abstract readonly headSize: number;
  /** Width of the pre-logit features. */
  abstract readonly featureDim: number;
  /** Key prefix of the head's parameters (replaced when transferring to a new task). */
  abstract readonly headPrefix: string;

  /** The layers `features` can return, in order: one per stage, then 'pre-logits'. */
  abstract readonly featureLayers: readonly FeatureLayer[];

  /**
   * The forward pass up to `layer`, whose output it returns unpooled: a
   * stage's output [N, C, H, W], or for 'pre-logits' the map the head pools.
   * `layer` is one of `featureLayers`.
   */
  protected abstract featureMap(x: Tensor, layer: FeatureLayer): Tensor;

  /**
   * Features of an NCHW batch in [-1, 1]: by default the pre-logits [N,
   * featureDim] the head sees; `layer` picks a stage's output instead, `pool:
   * false` keeps the spatial map. Only the layers up to `layer` run.
   */
  features(x: Tensor, opts: FeatureOptions = {}): Tensor {
    const layer = opts.layer ?? PRE_LOGITS;
    if (!this.featureLayers.includes(layer)) {
      throw new Error(`this ${this.constructor.name} has no layer '${layer}'; its layers are ${this.featureLayers.join(', ')}`);
    }
    const map = this.featureMap(x, layer);
    return opts.pool === false ? map : map.mean([2, 3]);
  }
  /** Logits [N, headSize] of pre-logit features. */
  abstract head(features: Tensor): Tensor;

  forward(x: Tensor): Tensor {
    return this.head(this.features(x));
  }

  /** Both outputs of one pass. */
  forwardBoth(x: Tensor): { preLogits: Tensor; logits: Tensor } {
    const preLogits = this.features(x);
    return { preLogits, logits: this.head(preLogits) };
  }

  /** Frees the parameters and every cache. */
  override dispose(): void {
    super.dispose();
    this.store.dispose();
  }
}

/** One residual unit of a ResNet's stages: where its parameters live and its shape. */
export interface UnitPlan {
  path: Path;
  /** The stage's layer name (`block1`, ...) on its last unit, where `features` can stop; null on the others. */
  stageEnd: FeatureLayer | null;
  cin: number;
  /** Bottleneck (or basic block) width. */
  width: number;
  cout: number;
  stride: number;
}

/** The layers of a model with these units: each stage, then the pre-logits. */
export function layersOf(plan: readonly UnitPlan[]): FeatureLayer[] {
  return [...plan.flatMap((u) => (u.stageEnd ? [u.stageEnd] : [])), PRE_LOGITS];
}

/**
 * Runs the residual units in order on `h` and returns the output of the
 * stage named `layer`, or of the last unit when `layer` names no stage.
 * `step` runs one unit (default: its forward); each unit's input is the
 * previous unit's output, read by nothing else, so a step may consume it.
 */
export function runUnits<U extends Module>(
  h: Tensor,
  units: readonly U[],
  plan: readonly UnitPlan[],
  layer: FeatureLayer,
  step: (unit: U, h: Tensor) => Tensor = (unit, x) => unit.forward(x),
): Tensor {
  for (let i = 0; i < units.length; i++) {
    h = step(units[i], h);
    if (plan[i].stageEnd === layer) break;
  }
  return h;
}

/**
 * The units of He et al.'s stage layout, shared by the classic ResNet and
 * BiT's ResNet-v2: stage s has width base * 2^s and output width x
 * `expansion`; the first unit of every stage but the first has stride 2;
 * parameters under `block<s>/unit<NN>`.
 */
export function stageUnits(root: Path, blockUnits: readonly number[], base: number, expansion: number, model: string): UnitPlan[] {
  if (blockUnits.length === 0 || blockUnits.some((u) => !Number.isInteger(u) || u < 1)) {
    throw new Error(`${model}: blockUnits must be positive integers, got [${blockUnits.join(', ')}]`);
  }
  const plan: UnitPlan[] = [];
  let cin = base;
  blockUnits.forEach((units, s) => {
    const width = base * 2 ** s;
    const cout = width * expansion;
    for (let u = 1; u <= units; u++) {
      plan.push({
        path: root.sub(`block${s + 1}`).sub(`unit${String(u).padStart(2, '0')}`),
        stageEnd: u === units ? `block${s + 1}` : null,
        cin,
        width,
        cout,
        stride: u === 1 && s > 0 ? 2 : 1,
      });
      cin = cout;
    }
  });
  return plan;
}
