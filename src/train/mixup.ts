// MixUp (Zhang et al. 2018) as BiT's train.py applies it: one lambda ~ Beta(a, a)
// per optimizer step, shared by its micro-batches; each micro-batch is mixed
// with a permutation of itself, images and labels alike.
import { RandomPurpose, permutation, randomWords } from '../data/index.js';
import * as T from '../tensor/index.js';

/** A stream of uniforms in (0, 1) for one (seed, purpose, key). */
class UniformStream {
  #counter = 0;
  #words = new Uint32Array(4);
  #left = 0;
  constructor(
    readonly seed: number,
    readonly purpose: RandomPurpose,
    readonly key: number,
  ) {}
  next(): number {
    if (this.#left === 0) {
      randomWords(this.seed, this.purpose, this.key, this.#counter++, this.#words);
      this.#left = 4;
    }
    return ((this.#words[--this.#left] >>> 0) + 0.5) / 4294967296;
  }
  normal(): number {
    return Math.sqrt(-2 * Math.log(this.next())) * Math.cos(2 * Math.PI * this.next());
  }
}

/** Gamma(shape, 1) by Marsaglia & Tsang (2000), with the shape < 1 boost. */
function sampleGamma(shape: number, u: UniformStream): number {
  if (shape < 1) return sampleGamma(shape + 1, u) * u.next() ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = u.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const r = u.next();
    if (r < 1 - 0.0331 * x ** 4 || Math.log(r) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, a) drawn reproducibly for (seed, step). */
export function mixupLambda(alpha: number, seed: number, step: number): number {
  if (alpha <= 0) return 1;
  const u = new UniformStream(seed, RandomPurpose.mixup, step);
  const x = sampleGamma(alpha, u);
  const y = sampleGamma(alpha, u);
  return x / (x + y);
}

/** The partner of each sample of micro-batch `micro` at `step` (a seeded permutation). */
export function mixupPartners(n: number, seed: number, step: number, micro: number): Int32Array {
  return permutation(n, seed, RandomPurpose.mixupPermutation, step * 65536 + micro);
}

/**
 * MixUp for one training step (train/step.ts): each image mixed with a
 * partner image of its micro-batch, its loss with the partner's label.
 */
export interface MixUp {
  /** The weight of the image itself, in (0, 1). */
  lam: number;
  /** The partner of each image of micro-batch `micro` (`size` images): an int64 index tensor [size]. */
  partners(micro: number, size: number): T.Tensor;
}

/** BiT's MixUp for `step` of a run seeded with `seed`: lambda from `mixupLambda`, partners from `mixupPartners`; null when off (alpha 0). */
export function stepMixUp(alpha: number, seed: number, step: number): MixUp | null {
  const lam = mixupLambda(alpha, seed, step);
  if (lam >= 1) return null;
  return { lam, partners: (micro, size) => T.tensor(mixupPartners(size, seed, step, micro), [size]).to('int64') };
}

/** lam * x + (1 - lam) * x[partners]. */
export function mixImages(x: T.Tensor, partners: T.Tensor, lam: number): T.Tensor {
  return x.mul(lam).add(x.indexSelect(0, partners).mul(1 - lam));
}
