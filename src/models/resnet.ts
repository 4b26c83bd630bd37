// The classic ResNets of He et al. 2016 (the architecture table of the BiT
// lecture): post-activation units, basic blocks for 18/34, bottlenecks for
// 50/101/152 with the stride on the first 1x1 conv as in the original paper,
// BatchNorm by default. Norm and conv type are config choices, so the
// normalization studies compare BN / GN / GN+WS on one implementation.
import type { OnnxGraph } from '../io/onnx.js';
import * as T from '../tensor/index.js';
import { Conv2d, Dense, Module, VarStore, makeNorm, onnxRelu, type NormSpec, type Path } from '../nn/index.js';
import { ImageClassifier, layersOf, runUnits, stageUnits, type FeatureLayer, type UnitPlan } from './classifier.js';

export interface ResNetConfig {
  /** Units per stage: [2,2,2,2] (18), [3,4,6,3] (34 and 50), [3,4,23,3] (101), [3,8,36,3] (152). */
  blockUnits: readonly number[];
  block: 'basic' | 'bottleneck';
  headSize: number;
  /** Stem and first-stage width (64 in He et al.). */
  baseWidth?: number;
  /** BatchNorm by default. */
  norm?: NormSpec;
  /** Weight-standardized convs (off by default). */
  standardize?: boolean;
  virtual?: boolean;
}

const BATCH_NORM: NormSpec = { kind: 'batch' };

interface UnitShape {
  cin: number;
  width: number;
  cout: number;
  stride: number;
}

class BasicBlock extends Module {
  readonly #c1: Conv2d;
  readonly #n1: Module;
  readonly #c2: Conv2d;
  readonly #n2: Module;
  readonly #down: Shortcut | null;
  readonly #path: string;
  constructor(p: Path, s: UnitShape, norm: NormSpec, ws: boolean) {
    super();
    this.#path = p.parts.join('/');
    this.#c1 = this.child(new Conv2d(p.sub('conv1'), { cin: s.cin, cout: s.width, kernel: 3, stride: s.stride, padding: 1, standardize: ws }));
    this.#n1 = this.child(makeNorm(norm, p.sub('conv1'), s.width));
    this.#c2 = this.child(new Conv2d(p.sub('conv2'), { cin: s.width, cout: s.cout, kernel: 3, padding: 1, standardize: ws }));
    this.#n2 = this.child(makeNorm(norm, p.sub('conv2'), s.cout));
    this.#down = needsShortcut(s) ? this.child(new Shortcut(p, s, norm, ws)) : null;
  }
  forward(x: T.Tensor): T.Tensor {
    const h = this.#n1.forward(this.#c1.forward(x)).relu();
    const y = this.#n2.forward(this.#c2.forward(h));
    const r = this.#down ? this.#down.forward(x) : x;
    return y.add(r).relu();
  }
  override toOnnx(g: OnnxGraph, x: string): string {
    const h = onnxRelu(g, this.#n1.toOnnx(g, this.#c1.toOnnx(g, x)));
    const y = this.#n2.toOnnx(g, this.#c2.toOnnx(g, h));
    const r = this.#down ? this.#down.toOnnx(g, x) : x;
    return onnxRelu(g, g.node('Add', [y, r], `${this.#path}/sum`));
  }
}

class Bottleneck extends Module {
  readonly #convs: Conv2d[];
  readonly #norms: Module[];
  readonly #down: Shortcut | null;
  readonly #path: string;
  constructor(p: Path, s: UnitShape, norm: NormSpec, ws: boolean) {
    super();
    this.#path = p.parts.join('/');
    const specs = [
      { cin: s.cin, cout: s.width, kernel: 1, stride: s.stride, padding: 0 },
      { cin: s.width, cout: s.width, kernel: 3, stride: 1, padding: 1 },
      { cin: s.width, cout: s.cout, kernel: 1, stride: 1, padding: 0 },
    ];
    this.#convs = specs.map((c, i) => this.child(new Conv2d(p.sub(`conv${i + 1}`), { ...c, standardize: ws })));
    this.#norms = specs.map((c, i) => this.child(makeNorm(norm, p.sub(`conv${i + 1}`), c.cout)));
    this.#down = needsShortcut(s) ? this.child(new Shortcut(p, s, norm, ws)) : null;
  }
  forward(x: T.Tensor): T.Tensor {
    let h = x;
    for (let i = 0; i < 3; i++) {
      h = this.#norms[i].forward(this.#convs[i].forward(h));
      if (i < 2) h = h.relu();
    }
    const r = this.#down ? this.#down.forward(x) : x;
    return h.add(r).relu();
  }
  override toOnnx(g: OnnxGraph, x: string): string {
    let h = x;
    for (let i = 0; i < 3; i++) {
      h = this.#norms[i].toOnnx(g, this.#convs[i].toOnnx(g, h));
      if (i < 2) h = onnxRelu(g, h);
    }
    const r = this.#down ? this.#down.toOnnx(g, x) : x;
    return onnxRelu(g, g.node('Add', [h, r], `${this.#path}/sum`));
  }
}

/** The projection shortcut: 1x1 conv with the unit's stride, then a norm. */
class Shortcut extends Module {
  readonly #conv: Conv2d;
  readonly #norm: Module;
  constructor(p: Path, s: UnitShape, norm: NormSpec, ws: boolean) {
    super();
    const d = p.sub('downsample');
    this.#conv = this.child(new Conv2d(d, { cin: s.cin, cout: s.cout, kernel: 1, stride: s.stride, standardize: ws }));
    this.#norm = this.child(makeNorm(norm, d, s.cout));
  }
  forward(x: T.Tensor): T.Tensor {
    return this.#norm.forward(this.#conv.forward(x));
  }
  override toOnnx(g: OnnxGraph, x: string): string {
    return this.#norm.toOnnx(g, this.#conv.toOnnx(g, x));
  }
}

function needsShortcut(s: UnitShape): boolean {
  return s.stride !== 1 || s.cin !== s.cout;
}

export class ResNet extends ImageClassifier {
  readonly store: VarStore;
  readonly headSize: number;
  readonly featureDim: number;
  readonly headPrefix = 'resnet/fc/';
  readonly config: Readonly<ResNetConfig>;
  readonly featureLayers: readonly FeatureLayer[];
  readonly #stem: Conv2d;
  readonly #stemNorm: Module;
  readonly #units: Module[] = [];
  readonly #plan: readonly UnitPlan[];
  readonly #fc: Dense;

  constructor(cfg: ResNetConfig) {
    super();
    this.config = Object.freeze({ ...cfg });
    const norm = cfg.norm ?? BATCH_NORM;
    const ws = cfg.standardize ?? false;
    const base = cfg.baseWidth ?? 64;
    const expansion = cfg.block === 'basic' ? 1 : 4;
    this.store = new VarStore({ virtual: cfg.virtual });
    const r = this.store.root().sub('resnet');
    this.#stem = this.child(new Conv2d(r.sub('conv1'), { cin: 3, cout: base, kernel: 7, stride: 2, padding: 3, standardize: ws }));
    this.#stemNorm = this.child(makeNorm(norm, r.sub('conv1'), base));
    const plan = stageUnits(r, cfg.blockUnits, base, expansion, 'ResNet');
    for (const u of plan) this.#units.push(this.child(cfg.block === 'basic' ? new BasicBlock(u.path, u, norm, ws) : new Bottleneck(u.path, u, norm, ws)));
    this.#plan = plan;
    this.featureLayers = layersOf(plan);
    this.featureDim = plan[plan.length - 1].cout;
    this.headSize = cfg.headSize;
    this.#fc = this.child(new Dense(r.sub('fc'), this.featureDim, cfg.headSize));
  }

  /** The pre-logits of a classic ResNet are the last stage's output (post-activation units end with a ReLU). */
  protected featureMap(x: T.Tensor, layer: FeatureLayer): T.Tensor {
    T.assertRank(x, 4, 'x', 'ResNet.features');
    return runUnits(T.maxPool2d(this.#stemNorm.forward(this.#stem.forward(x)).relu(), 3, 2, 1), this.#units, this.#plan, layer);
  }

  head(features: T.Tensor): T.Tensor {
    return this.#fc.forward(features);
  }

  /** features then head, as `forward`: max pool with -inf padding as libtorch's, the mean over H, W as GlobalAveragePool. */
  override toOnnx(g: OnnxGraph, x: string): string {
    let h = onnxRelu(g, this.#stemNorm.toOnnx(g, this.#stem.toOnnx(g, x)));
    h = g.node('MaxPool', [h], 'resnet/max_pool', { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] } });
    for (const u of this.#units) h = u.toOnnx(g, h);
    const pooled = g.node('Flatten', [g.node('GlobalAveragePool', [h], 'resnet/pool')], 'resnet/pre_logits', { axis: { int: 1 } });
    return this.#fc.toOnnx(g, pooled);
  }
}
