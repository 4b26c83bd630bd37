// Inference on decoded images, as `bit predict` and `bit serve` both run it:
// images decoded and squashed to the model's resolution by `decodeImage`
// (data/decode.ts; from a file or from bytes), a batch of them scaled to
// [-1, 1] by `toModelInput` (train/batch.ts), one forward pass with no
// gradients, softmax, top-k. One path, so that the service answers exactly
// what the command line answers for the same file.
import type { ImageClassifier } from '../models/index.js';
import * as T from '../tensor/index.js';
import { toModelInput } from '../train/batch.js';

/** What one forward pass should return. */
export interface InferenceOutputs {
  /** Class probabilities (softmax of the logits), [n, headSize] row-major. */
  readonly probabilities: boolean;
  /** Pre-logit features, [n, featureDim] row-major. */
  readonly features: boolean;
}

export interface InferenceResult {
  readonly probabilities: Float32Array | null;
  readonly features: Float32Array | null;
}

/**
 * One forward pass (eval mode, no gradients) over `n` images of
 * resolution x resolution, uint8 RGB, HWC, back to back in `pixels`. Every
 * tensor it makes is freed before it returns.
 */
export function inferPixels(model: ImageClassifier, pixels: Uint8Array, n: number, resolution: number, want: InferenceOutputs): InferenceResult {
  const bytes = n * resolution * resolution * 3;
  if (!Number.isInteger(n) || n < 1 || pixels.length !== bytes) {
    throw new Error(`inferPixels: expected ${n} images of ${resolution}x${resolution}x3 bytes (${bytes} in all), got ${pixels.length} bytes`);
  }
  return T.tidy(() =>
    T.noGrad(() => {
      const x = toModelInput(T.tensor(pixels, [n, resolution, resolution, 3], 'uint8'));
      if (!want.probabilities) return { probabilities: null, features: want.features ? (model.features(x).data() as Float32Array) : null };
      const { preLogits, logits } = model.forwardBoth(x);
      return {
        probabilities: T.softmax(logits, 1).data() as Float32Array,
        features: want.features ? (preLogits.data() as Float32Array) : null,
      };
    }),
  );
}

/** One class of a prediction. */
export interface ClassScore {
  readonly index: number;
  /** The class name (from the weights' metadata or a labels file), else the index as text. */
  readonly label: string;
  readonly probability: number;
}

/** The predictions for one image, as `bit predict --json` prints them and `bit serve` returns them. */
export interface ImagePrediction {
  readonly image: string;
  readonly top: ClassScore[];
}

/**
 * The `k` most probable classes of image `row` of a [n, classes] probability
 * matrix, most probable first (equal probabilities: lower index first).
 */
export function topClasses(probabilities: Float32Array, row: number, classes: number, k: number, names: readonly string[] | null): ClassScore[] {
  const p = probabilities.subarray(row * classes, (row + 1) * classes);
  if (p.length !== classes) throw new Error(`topClasses: row ${row} is outside a matrix of ${probabilities.length / classes} rows`);
  const order = Array.from({ length: classes }, (_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
  return order.slice(0, Math.min(k, classes)).map((index) => ({ index, label: names?.[index] ?? String(index), probability: p[index] }));
}
