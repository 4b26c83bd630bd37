// SGD with momentum (PyTorch semantics), updated in place with list ops:
//   g <- grad + weightDecay * p;  buf <- momentum * buf + g;  p <- p - lr * buf
import * as T from '../tensor/index.js';
import { UsageError } from '../util/errors.js';

export interface SgdOptions {
  momentum: number;
  weightDecay: number;
}

export class SGD {
  readonly params: readonly T.Tensor[];
  readonly momentumBuffers: readonly T.Tensor[];
  readonly options: Readonly<SgdOptions>;

  constructor(params: readonly T.Tensor[], options: SgdOptions) {
    this.params = params;
    this.options = Object.freeze({ ...options });
    this.momentumBuffers = params.map((p) => T.keep(T.tidy(() => T.zerosLike(p))));
  }

  /** One update with learning rate `lr` from the accumulated gradients; parameters without a gradient are left alone. */
  step(lr: number): void {
    // libtorch takes the scalar as float32, the parameters' type, and would fail with an overflow message of its own
    if (!Number.isFinite(Math.fround(lr)))
      throw new UsageError(`the learning rate ${lr} is beyond the range of float32 (the parameters' type, largest 3.4e38): give a smaller --lr or --base-lr`);
    T.tidy(() =>
      T.noGrad(() => {
        const ps: T.Tensor[] = [];
        const gs: T.Tensor[] = [];
        const bs: T.Tensor[] = [];
        this.params.forEach((p, i) => {
          const g = p.grad;
          if (g === null) return;
          ps.push(p);
          gs.push(g);
          bs.push(this.momentumBuffers[i]);
        });
        if (this.options.weightDecay !== 0) T.foreachAdd_(gs, ps, this.options.weightDecay);
        // buf = momentum * buf + g in one pass (mul_ then add_ would read and write buf twice)
        T.foreachMulAdd_(bs, this.options.momentum, gs);
        T.foreachAdd_(ps, bs, -lr);
      }),
    );
  }

  /** Drops the accumulated gradients. */
  zeroGrad(): void {
    for (const p of this.params) p.setGrad(null);
  }

  dispose(): void {
    for (const b of this.momentumBuffers) b.dispose();
  }
}
