// What every model of the zoo offers to the layers above.
import type { Tensor } from '../tensor/index.js';
import { Module, type VarStore } from '../nn/index.js';

export abstract class ImageClassifier extends Module {
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
