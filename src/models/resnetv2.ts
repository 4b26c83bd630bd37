// BiT's ResNet-v2 (Kolesnikov et al. 2020; the original bit_pytorch/models.py):
// pre-activation bottlenecks, GroupNorm(32) and weight-standardized convs,
// parameters under the official BiT keys. Norm, conv type, widths and depths
// are injected through the config, so the small variants and the
// normalization studies reuse this one implementation.
import type { OnnxGraph } from '../io/onnx.js';
import * as T from '../tensor/index.js';
import { BIT_NORM, Conv2d, Module, VarStore, makeNorm, normRelu, onnxRelu, onnxZeroPad2d, type NormSpec, type Path } from '../nn/index.js';
import { ImageClassifier, PRE_LOGITS, layersOf, runUnits, stageUnits, type FeatureLayer, type UnitPlan } from './classifier.js';

export interface ResNetV2Config {
  /** Units per stage, e.g. [3, 4, 6, 3] for R50. */
  blockUnits: readonly number[];
  widthFactor: number;
  headSize: number;
  /** Root width before the width factor: 64 in BiT. */
  baseWidth?: number;
  /** Norm layers: GroupNorm with 32 groups in BiT. */
  norm?: NormSpec;
  /** Weight-standardized convolutions (BiT: true). */
  standardize?: boolean;
  /** Zero-initialize the head (BiT does when training a new head). */
  zeroHead?: boolean;
  /** Shape-only parameters, for counting. */
  virtual?: boolean;
}

/** Pre-activation bottleneck unit (the stride sits on the 3x3 conv, as in BiT). */
class PreActBottleneck extends Module {
  readonly #normA: Module;
  readonly #convA: Conv2d;
  readonly #normB: Module;
  readonly #convB: Conv2d;
  readonly #normC: Module;
  readonly #convC: Conv2d;
  readonly #proj: Conv2d | null;
  readonly #path: string;

  constructor(p: Path, cin: number, cmid: number, cout: number, stride: number, norm: NormSpec, standardize: boolean) {
    super();
    this.#path = p.parts.join('/');
    const a = p.sub('a');
    const b = p.sub('b');
    const c = p.sub('c');
    this.#normA = this.child(makeNorm(norm, a, cin));
    this.#convA = this.child(new Conv2d(a, { cin, cout: cmid, kernel: 1, standardize }));
    this.#normB = this.child(makeNorm(norm, b, cmid));
    this.#convB = this.child(new Conv2d(b, { cin: cmid, cout: cmid, kernel: 3, stride, padding: 1, standardize }));
    this.#normC = this.child(makeNorm(norm, c, cmid));
    this.#convC = this.child(new Conv2d(c, { cin: cmid, cout, kernel: 1, standardize }));
    this.#proj = stride !== 1 || cin !== cout ? this.child(new Conv2d(a.sub('proj'), { cin, cout, kernel: 1, stride, standardize })) : null;
  }

  forward(x: T.Tensor): T.Tensor {
    return this.#run(x, false);
  }

  /**
   * forward(x) for a caller that hands x over (reads it no more): on the
   * inference path the identity shortcut's sum is then written into x's
   * memory by the last convolution.
   */
  forwardConsuming(x: T.Tensor): T.Tensor {
    return T.tidy(() => this.#run(x, true));
  }

  #run(x: T.Tensor, consume: boolean): T.Tensor {
    const out = normRelu(this.#normA, x);
    let h = this.#convA.forward(out);
    h = this.#convB.forward(normRelu(this.#normB, h));
    // the projection's output is this unit's own: the last convolution may add into it in place
    return this.#proj
      ? this.#convC.forwardAdd(normRelu(this.#normC, h), this.#proj.forward(out), true)
      : this.#convC.forwardAdd(normRelu(this.#normC, h), x, consume);
  }

  override toOnnx(g: OnnxGraph, x: string): string {
    const out = onnxRelu(g, this.#normA.toOnnx(g, x));
    const residual = this.#proj ? this.#proj.toOnnx(g, out) : x;
    let h = this.#convA.toOnnx(g, out);
    h = this.#convB.toOnnx(g, onnxRelu(g, this.#normB.toOnnx(g, h)));
    h = this.#convC.toOnnx(g, onnxRelu(g, this.#normC.toOnnx(g, h)));
    return g.node('Add', [h, residual], `${this.#path}/sum`);
  }
}

export class ResNetV2 extends ImageClassifier {
  readonly store: VarStore;
  readonly headSize: number;
  readonly featureDim: number;
  readonly headPrefix = 'resnet/head/';
  readonly config: Readonly<ResNetV2Config>;
  readonly featureLayers: readonly FeatureLayer[];
  readonly #root: Conv2d;
  readonly #units: PreActBottleneck[] = [];
  readonly #plan: readonly UnitPlan[];
  readonly #preHeadNorm: Module;
  readonly #headConv: Conv2d;

  constructor(cfg: ResNetV2Config) {
    super();
    if (cfg.blockUnits.length !== 4) throw new Error(`ResNetV2: blockUnits must be 4 positive integers, got [${cfg.blockUnits.join(', ')}]`);
    this.config = Object.freeze({ ...cfg });
    const norm = cfg.norm ?? BIT_NORM;
    const ws = cfg.standardize ?? true;
    const wf = cfg.widthFactor;
    const base = (cfg.baseWidth ?? 64) * wf;
    this.store = new VarStore({ virtual: cfg.virtual });
    const r = this.store.root().sub('resnet');
    this.#root = this.child(new Conv2d(r.sub('root_block'), { cin: 3, cout: base, kernel: 7, stride: 2, padding: 3, standardize: ws }));
    const plan = stageUnits(r, cfg.blockUnits, base, 4, 'ResNetV2');
    for (const u of plan) this.#units.push(this.child(new PreActBottleneck(u.path, u.cin, u.width, u.cout, u.stride, norm, ws)));
    this.#plan = plan;
    this.featureLayers = layersOf(plan);
    const cin = plan[plan.length - 1].cout;
    this.featureDim = cin;
    this.headSize = cfg.headSize;
    this.#preHeadNorm = this.child(makeNorm(norm, r, cin));
    const headInit = (cfg.zeroHead ?? true) ? ({ kind: 'zeros' } as const) : ({ kind: 'normal', std: 0.01 } as const);
    this.#headConv = this.child(new Conv2d(r.sub('head'), { cin, cout: cfg.headSize, kernel: 1, bias: true, init: headInit }));
  }

  protected featureMap(x: T.Tensor, layer: FeatureLayer): T.Tensor {
    T.assertRank(x, 4, 'x', 'ResNetV2.features');
    const stem = T.maxPool2d(T.pad2d(this.#root.forward(x), [1, 1, 1, 1]), 3, 2);
    const h = runUnits(stem, this.#units, this.#plan, layer, (u, v) => u.forwardConsuming(v));
    // the pre-logits: the last unit's output after the pre-head GroupNorm and ReLU (pre-activation units end without one)
    return layer === PRE_LOGITS ? normRelu(this.#preHeadNorm, h) : h;
  }

  head(features: T.Tensor): T.Tensor {
    const n = features.shape[0];
    return this.#headConv.forward(features.reshape([n, this.featureDim, 1, 1])).reshape([n, this.headSize]);
  }

  /** features then head, as `forward`: the mean over H, W is GlobalAveragePool, whose [N, C, 1, 1] output feeds the 1x1 head directly. */
  override toOnnx(g: OnnxGraph, x: string): string {
    let h = this.#root.toOnnx(g, x);
    h = onnxZeroPad2d(g, h, 1, 'resnet/root_block/pad');
    h = g.node('MaxPool', [h], 'resnet/root_block/max_pool', { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] } });
    for (const u of this.#units) h = u.toOnnx(g, h);
    h = onnxRelu(g, this.#preHeadNorm.toOnnx(g, h));
    const pooled = g.node('GlobalAveragePool', [h], 'resnet/pre_logits');
    return g.node('Flatten', [this.#headConv.toOnnx(g, pooled)], 'resnet/head/logits', { axis: { int: 1 } });
  }
}
