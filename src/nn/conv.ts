// Convolutions: plain, or weight-standardized as in BiT's StdConv2d.
import type { OnnxGraph } from '../io/onnx.js';
import * as T from '../tensor/index.js';
import { WS_EPS } from './constants.js';
import { countingMacs, reportMacs } from './flops.js';
import { Module } from './module.js';
import { tensorInitializer } from './onnx.js';
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

/**
 * (w - mean) / sqrt(var + WS_EPS) over each output channel's fan-in, biased
 * variance. Computed as a layer norm without affine over the rows of the
 * [out, fan-in] matrix: the same formula in one fused libtorch kernel, whose
 * fused backward replaces the ~20 elementwise passes over the kernel that
 * autograd runs for var_mean/sub/div (5x faster forward+backward over
 * BiT-R50's kernels; see docs/performance.md).
 */
export function standardizeWeight(w: T.Tensor): T.Tensor {
  const [cout, cin, kh, kw] = w.shape;
  const fanIn = cin * kh * kw;
  return T.tidy(() => T.layerNorm(w.reshape([cout, fanIn]), [fanIn], null, null, WS_EPS).reshape([cout, cin, kh, kw]));
}

let oneDnn: boolean | undefined;
/** Whether libtorch was built with oneDNN (asked once). */
function hasOneDnn(): boolean {
  oneDnn ??= T.buildInfo().mkldnn;
  return oneDnn;
}

/**
 * A 2-D convolution whose kernel lives at `<path>/standardized_conv2d/kernel`
 * (weight-standardized, the BiT key) or `<path>/conv2d/kernel` (plain).
 *
 * Inference (no gradients, float32 on the CPU) keeps the kernel as applied,
 * standardized and packed into oneDNN's blocked layout, until the raw kernel
 * changes (tracked by libtorch's in-place version counter): a forward pass
 * then neither standardizes nor reorders a kernel. Training standardizes at
 * every call, inside the autograd graph.
 */
export class Conv2d extends Module {
  readonly weight: T.Tensor;
  readonly bias: T.Tensor | null;
  readonly stride: number;
  readonly padding: number;
  readonly standardize: boolean;
  /** Where the parameters live (`.../standardized_conv2d` or `.../conv2d`), also the ONNX node's name. */
  readonly name: string;
  /** Inference caches, tagged with the raw kernel's version: the kernel as applied (OIHW), and packed for oneDNN. */
  #cached: { version: number; weight: T.Tensor } | null = null;
  #packed: { version: number; weight: T.Tensor } | null = null;

  constructor(path: Path, cfg: Conv2dConfig) {
    super();
    this.standardize = cfg.standardize ?? false;
    this.stride = cfg.stride ?? 1;
    this.padding = cfg.padding ?? 0;
    const p = path.sub(this.standardize ? 'standardized_conv2d' : 'conv2d');
    this.name = p.parts.join('/');
    this.weight = p.param('kernel', [cfg.cout, cfg.cin, cfg.kernel, cfg.kernel], cfg.init ?? { kind: 'kaiming', mode: 'fanOut' }, 'conv');
    this.bias = cfg.bias ? p.param('bias', [cfg.cout], { kind: 'zeros' }, 'vector') : null;
  }

  /** The kernel actually applied (standardized when configured), OIHW. */
  effectiveWeight(): T.Tensor {
    if (!this.standardize) return this.weight;
    if (T.isGradEnabled()) {
      // Training changes the kernel every step: free the inference copies
      // rather than keep a second set of kernels beside the activations.
      this.#dropCaches();
      return standardizeWeight(this.weight);
    }
    const version = this.weight.version;
    if (this.#cached && this.#cached.version === version) return this.#cached.weight;
    this.#dropCaches();
    this.#cached = { version, weight: T.keep(standardizeWeight(this.weight)) };
    return this.#cached.weight;
  }

  /** The applied kernel in oneDNN's layout for this convolution (inference), chosen for inputs shaped like `inputShape`. */
  #packedWeight(inputShape: readonly number[]): T.Tensor {
    const version = this.weight.version;
    if (this.#packed && this.#packed.version === version) return this.#packed.weight;
    this.#dropCaches();
    const packed = T.tidy(() =>
      T.packConv2dWeight(this.standardize ? standardizeWeight(this.weight) : this.weight, { stride: this.stride, padding: this.padding }, inputShape),
    );
    this.#packed = { version, weight: T.keep(packed) };
    return packed;
  }

  #dropCaches(): void {
    this.#cached?.weight.dispose();
    this.#cached = null;
    this.#packed?.weight.dispose();
    this.#packed = null;
  }

  /** Whether this call takes the inference path: the packed kernel (no gradients, float32 on the CPU, oneDNN). */
  #packs(x: T.Tensor): boolean {
    return x.shape[0] > 0 && !T.isGradEnabled() && x.dtype === 'float32' && hasOneDnn() && x.device === 'cpu';
  }

  forward(x: T.Tensor): T.Tensor {
    return this.#apply(x, null);
  }

  /**
   * conv(x) + residual. On the inference path the sum is oneDNN's post-op,
   * written into `residual` itself when the caller hands it over (`consume`:
   * nothing else reads it afterwards; it must have the output's shape, and
   * be channels-last as the packed convolutions return); otherwise an add.
   */
  forwardAdd(x: T.Tensor, residual: T.Tensor, consume: boolean): T.Tensor {
    return T.tidy(() => (consume && this.#packs(x) && residual.isChannelsLast ? this.#apply(x, residual) : this.forward(x).add(residual)));
  }

  #apply(x: T.Tensor, accumulate: T.Tensor | null): T.Tensor {
    const opts = { bias: this.bias, stride: this.stride, padding: this.padding };
    let y: T.Tensor;
    if (x.shape[0] === 0) {
      // An empty batch only needs the output shape: skip the standardization.
      y = T.conv2d(x, this.weight, opts);
    } else if (this.#packs(x)) {
      y = T.conv2dPacked(x, this.#packedWeight(x.shape), { ...opts, accumulate });
    } else {
      y = T.conv2d(x, this.effectiveWeight(), opts);
    }
    if (countingMacs()) {
      const [, cout, h, wd] = y.shape;
      const [, cin, kh, kw] = this.weight.shape;
      reportMacs(cout * h * wd * cin * kh * kw, x.shape[0]);
    }
    return y;
  }

  /**
   * A plain ONNX Conv whose kernel is the one applied: weight standardization
   * is done here, once, by the same `standardizeWeight` as training, so any
   * ONNX runtime runs the model without knowing about it.
   */
  override toOnnx(g: OnnxGraph, x: string): string {
    const w = T.tidy(() => T.noGrad(() => (this.standardize ? standardizeWeight(this.weight) : this.weight.detach())));
    const [, , kh, kw] = w.shape;
    let kernel: string;
    try {
      kernel = tensorInitializer(g, `${this.name}/kernel`, w);
    } finally {
      w.dispose();
    }
    const inputs = [x, kernel, ...(this.bias ? [tensorInitializer(g, `${this.name}/bias`, this.bias)] : [])];
    const p = this.padding;
    return g.node('Conv', inputs, this.name, {
      kernel_shape: { ints: [kh, kw] },
      strides: { ints: [this.stride, this.stride] },
      pads: { ints: [p, p, p, p] },
      dilations: { ints: [1, 1] },
      group: { int: 1 },
    });
  }

  /** Frees the inference caches (the parameters belong to the VarStore). */
  override dispose(): void {
    this.#dropCaches();
  }
}

/** A fully connected layer at `<path>/dense/{kernel,bias}` (kernel stored [out, in]). */
export class Dense extends Module {
  readonly weight: T.Tensor;
  readonly bias: T.Tensor | null;
  readonly name: string;
  constructor(path: Path, cin: number, cout: number, opts: { bias?: boolean; init?: Init } = {}) {
    super();
    const p = path.sub('dense');
    this.name = p.parts.join('/');
    this.weight = p.param('kernel', [cout, cin], opts.init ?? { kind: 'uniform', bound: 1 / Math.sqrt(cin) }, 'dense');
    this.bias = (opts.bias ?? true) ? p.param('bias', [cout], { kind: 'zeros' }, 'vector') : null;
  }
  forward(x: T.Tensor): T.Tensor {
    if (countingMacs()) reportMacs(this.weight.shape[0] * this.weight.shape[1], x.shape[0]);
    return T.linear(x, this.weight, this.bias);
  }
  /** Gemm with the [out, in] kernel transposed (B^T), as `linear`. */
  override toOnnx(g: OnnxGraph, x: string): string {
    const inputs = [x, tensorInitializer(g, `${this.name}/kernel`, this.weight)];
    if (this.bias) inputs.push(tensorInitializer(g, `${this.name}/bias`, this.bias));
    return g.node('Gemm', inputs, this.name, { transB: { int: 1 } });
  }
}
