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

  /** Pre-logit features [N, featureDim] of an NCHW batch in [-1, 1]. */
  abstract features(x: Tensor): Tensor;
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
  cin: number;
  /** Bottleneck (or basic block) width. */
  width: number;
  cout: number;
  stride: number;
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
      plan.push({ path: root.sub(`block${s + 1}`).sub(`unit${String(u).padStart(2, '0')}`), cin, width, cout, stride: u === 1 && s > 0 ? 2 : 1 });
      cin = cout;
    }
  });
  return plan;
}
