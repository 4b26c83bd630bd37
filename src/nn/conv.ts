// Convolutions: plain, or weight-standardized as in BiT's StdConv2d.
import * as T from '../tensor/index.js';
import { WS_EPS } from './constants.js';
import { countingMacs, reportMacs } from './flops.js';
import { Module } from './module.js';
import type { Init, Path } from './varstore.js';

export interface Conv2dConfig {
  cin: number;
  cout: number;
  kernel: number;
  stride?: number;
  padding?: number;
  bias?: boolean;
  /** Weight Standardization (Qiao et al. 2019): the kernel is standardized per output channel before use. */
  standardize?: boolean;
  init?: Init;
}

/** (w - mean) / sqrt(var + WS_EPS) over each output channel's fan-in, biased variance. */
export function standardizeWeight(w: T.Tensor): T.Tensor {
  return T.tidy(() => {
    const [v, m] = w.varMean([1, 2, 3], { correction: 0, keepdim: true });
    return w.sub(m).div(v.add(WS_EPS).sqrt());
  });
}

/**
 * A 2-D convolution whose kernel lives at `<path>/standardized_conv2d/kernel`
 * (weight-standardized, the BiT key) or `<path>/conv2d/kernel` (plain).
 * Inference reuses the standardized kernel until the raw kernel changes
 * (tracked by libtorch's in-place version counter).
 */
export class Conv2d extends Module {
  readonly weight: T.Tensor;
  readonly bias: T.Tensor | null;
  readonly stride: number;
  readonly padding: number;
  readonly standardize: boolean;
  #cached: { version: number; weight: T.Tensor } | null = null;

  constructor(path: Path, cfg: Conv2dConfig) {
    super();
    this.standardize = cfg.standardize ?? false;
    this.stride = cfg.stride ?? 1;
    this.padding = cfg.padding ?? 0;
    const p = path.sub(this.standardize ? 'standardized_conv2d' : 'conv2d');
    this.weight = p.param('kernel', [cfg.cout, cfg.cin, cfg.kernel, cfg.kernel], cfg.init ?? { kind: 'kaiming', mode: 'fanOut' }, 'conv');
    this.bias = cfg.bias ? p.param('bias', [cfg.cout], { kind: 'zeros' }, 'vector') : null;
  }

  /** The kernel actually applied (standardized when configured). */
  effectiveWeight(): T.Tensor {
    if (!this.standardize) return this.weight;
    if (T.isGradEnabled()) return standardizeWeight(this.weight);
    const version = this.weight.version;
    if (this.#cached && this.#cached.version === version) return this.#cached.weight;
    this.#cached?.weight.dispose();
    this.#cached = { version, weight: T.keep(standardizeWeight(this.weight)) };
    return this.#cached.weight;
  }

  forward(x: T.Tensor): T.Tensor {
    // An empty batch only needs the output shape: skip the standardization.
    const w = x.shape[0] === 0 ? this.weight : this.effectiveWeight();
    const y = T.conv2d(x, w, { bias: this.bias, stride: this.stride, padding: this.padding });
    if (countingMacs()) {
      const [, cout, h, wd] = y.shape;
      const [, cin, kh, kw] = this.weight.shape;
      reportMacs(cout * h * wd * cin * kh * kw, x.shape[0]);
    }
    return y;
  }

  /** Frees the cached inference kernel (the parameters belong to the VarStore). */
  override dispose(): void {
    this.#cached?.weight.dispose();
    this.#cached = null;
  }
}

/** A fully connected layer at `<path>/dense/{kernel,bias}` (kernel stored [out, in]). */
export class Dense extends Module {
  readonly weight: T.Tensor;
  readonly bias: T.Tensor | null;
  constructor(path: Path, cin: number, cout: number, opts: { bias?: boolean; init?: Init } = {}) {
    super();
    const p = path.sub('dense');
    this.weight = p.param('kernel', [cout, cin], opts.init ?? { kind: 'uniform', bound: 1 / Math.sqrt(cin) }, 'dense');
    this.bias = (opts.bias ?? true) ? p.param('bias', [cout], { kind: 'zeros' }, 'vector') : null;
  }
  forward(x: T.Tensor): T.Tensor {
    if (countingMacs()) reportMacs(this.weight.shape[0] * this.weight.shape[1], x.shape[0]);
    return T.linear(x, this.weight, this.bias);
  }
}
