// Normalization layers, chosen by a NormSpec so that models inject them
// (GroupNorm for BiT, BatchNorm for the classic ResNets and the studies).
import type { OnnxGraph } from '../io/onnx.js';
import * as T from '../tensor/index.js';
import { BN_EPS, BN_MOMENTUM, GN_EPS, GN_GROUPS } from './constants.js';
import { Identity, Module } from './module.js';
import { tensorInitializer } from './onnx.js';
import type { Path } from './varstore.js';

/**
 * Santurkar et al. 2018, Algorithm 1 ("noisy" BatchNorm): after normalization,
 * each step and layer draws mu ~ U(-nMu, nMu) and sigma ~ U(1, nSigma); then
 * every (sample, channel) gets s ~ N(sigma, rSigma) and m ~ U(mu - rMu, mu + rMu),
 * and the activation becomes s * a + m (the same s, m over the spatial positions).
 */
export interface NoiseSpec {
  nMu: number;
  nSigma: number;
  rMu: number;
  rSigma: number;
}

/** The paper's constants. */
export const SANTURKAR_NOISE: NoiseSpec = { nMu: 0.5, nSigma: 1.25, rMu: 0.1, rSigma: 0.1 };

export type NormSpec =
  /** GroupNorm with `groups` groups (default 32) or `channelsPerGroup` channels per group; groups 1 is LayerNorm, 1 channel per group InstanceNorm. */
  { kind: 'group'; groups?: number; channelsPerGroup?: number } | { kind: 'batch'; momentum?: number; noise?: NoiseSpec } | { kind: 'none' };

export const BIT_NORM: NormSpec = { kind: 'group', groups: GN_GROUPS };

/** The number of groups a GroupNorm over `channels` channels uses under `spec`. */
export function groupCount(spec: { groups?: number; channelsPerGroup?: number }, channels: number, where: string): number {
  const groups = spec.channelsPerGroup !== undefined ? Math.max(1, Math.floor(channels / spec.channelsPerGroup)) : (spec.groups ?? GN_GROUPS);
  if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) {
    throw new Error(
      `GroupNorm at '${where}': ${groups} groups do not divide its ${channels} channels; choose a group count that divides every layer's width (small models need fewer groups)`,
    );
  }
  return groups;
}

/** The first ONNX opset whose GroupNormalization takes per-channel scale and bias (opset 18's took per-group ones). */
export const ONNX_GROUP_NORMALIZATION_OPSET = 21;

export class GroupNorm extends Module {
  readonly gamma: T.Tensor;
  readonly beta: T.Tensor;
  readonly name: string;
  constructor(
    path: Path,
    channels: number,
    readonly groups: number,
    readonly eps = GN_EPS,
  ) {
    super();
    const p = path.sub('group_norm');
    this.name = p.parts.join('/');
    this.gamma = p.param('gamma', [channels], { kind: 'ones' }, 'vector');
    this.beta = p.param('beta', [channels], { kind: 'zeros' }, 'vector');
  }
  forward(x: T.Tensor): T.Tensor {
    return T.groupNorm(x, this.groups, this.gamma, this.beta, this.eps);
  }

  /**
   * forward(x).relu(). Where no gradient is recorded (inference) and x is
   * float32 on the CPU, one fused native op (`groupNormRelu`): two passes
   * over memory instead of four, the layout of x kept.
   */
  forwardRelu(x: T.Tensor): T.Tensor {
    if (!T.isGradEnabled() && x.dtype === 'float32' && x.device === 'cpu') {
      return T.groupNormRelu(x, this.groups, this.gamma, this.beta, this.eps);
    }
    return T.tidy(() => this.forward(x).relu());
  }

  /**
   * From opset 21, one GroupNormalization node. Below it (opset 17, what
   * ONNX 1.12's checker knows): x reshaped to [N, groups, -1], normalized by
   * InstanceNormalization (unit scale, zero bias: each group is one
   * "instance"), reshaped back, then the per-channel gamma and beta.
   */
  override toOnnx(g: OnnxGraph, x: string): string {
    const c = this.gamma.shape[0];
    const n = this.name;
    if (g.opset >= ONNX_GROUP_NORMALIZATION_OPSET) {
      const inputs = [x, tensorInitializer(g, `${n}/gamma`, this.gamma), tensorInitializer(g, `${n}/beta`, this.beta)];
      return g.node('GroupNormalization', inputs, n, { epsilon: { float: this.eps }, num_groups: { int: this.groups } });
    }
    const grouped = g.node('Reshape', [x, g.ints(`${n}/groups_shape`, [0, this.groups, -1])], `${n}/grouped`);
    const ones = g.initializer(`${n}/unit_scale`, 'float32', [this.groups], new Float32Array(this.groups).fill(1));
    const zeros = g.initializer(`${n}/zero_bias`, 'float32', [this.groups], new Float32Array(this.groups));
    const normed = g.node('InstanceNormalization', [grouped, ones, zeros], `${n}/normalized`, { epsilon: { float: this.eps } });
    const back = g.node('Reshape', [normed, g.node('Shape', [x], `${n}/input_shape`)], `${n}/ungrouped`);
    const scaled = g.node('Mul', [back, tensorInitializer(g, `${n}/gamma`, this.gamma, [c, 1, 1])], `${n}/scaled`);
    return g.node('Add', [scaled, tensorInitializer(g, `${n}/beta`, this.beta, [c, 1, 1])], n);
  }
}

export class BatchNorm extends Module {
  readonly gamma: T.Tensor;
  readonly beta: T.Tensor;
  readonly movingMean: T.Tensor;
  readonly movingVariance: T.Tensor;
  readonly name: string;
  constructor(
    path: Path,
    channels: number,
    readonly momentum = BN_MOMENTUM,
    readonly noise: NoiseSpec | null = null,
    readonly eps = BN_EPS,
  ) {
    super();
    const p = path.sub('batch_norm');
    this.name = p.parts.join('/');
    this.gamma = p.param('gamma', [channels], { kind: 'ones' }, 'vector');
    this.beta = p.param('beta', [channels], { kind: 'zeros' }, 'vector');
    this.movingMean = p.buffer('moving_mean', [channels], { kind: 'zeros' });
    this.movingVariance = p.buffer('moving_variance', [channels], { kind: 'ones' });
  }
  forward(x: T.Tensor): T.Tensor {
    const y = T.batchNorm(x, this.gamma, this.beta, this.movingMean, this.movingVariance, {
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
    });
    return this.noise && this.training ? injectNoise(y, this.noise) : y;
  }

  /** Inference BatchNormalization with the running statistics (noise, a training-time device, has no inference form). */
  override toOnnx(g: OnnxGraph, x: string): string {
    const n = this.name;
    const inputs = [this.gamma, this.beta, this.movingMean, this.movingVariance].map((t, k) =>
      tensorInitializer(g, `${n}/${['gamma', 'beta', 'moving_mean', 'moving_variance'][k]}`, t),
    );
    return g.node('BatchNormalization', [x, ...inputs], n, { epsilon: { float: this.eps } });
  }
}

function injectNoise(y: T.Tensor, n: NoiseSpec): T.Tensor {
  const shape = [y.shape[0], y.shape[1], ...y.shape.slice(2).map(() => 1)];
  const mu = T.rand([1])
    .mul(2 * n.nMu)
    .sub(n.nMu);
  const sigma = T.rand([1])
    .mul(n.nSigma - 1)
    .add(1);
  const s = T.randn(shape).mul(n.rSigma).add(sigma);
  const m = T.rand(shape)
    .mul(2 * n.rMu)
    .add(mu.sub(n.rMu));
  return y.mul(s).add(m);
}

/** norm.forward(x).relu(), fused for GroupNorm in inference (`GroupNorm.forwardRelu`). */
export function normRelu(norm: Module, x: T.Tensor): T.Tensor {
  return norm instanceof GroupNorm ? norm.forwardRelu(x) : T.tidy(() => norm.forward(x).relu());
}

/** Builds the norm layer `spec` describes over `channels` channels at `path`. */
export function makeNorm(spec: NormSpec, path: Path, channels: number): Module {
  switch (spec.kind) {
    case 'group':
      return new GroupNorm(path, channels, groupCount(spec, channels, path.parts.join('/')));
    case 'batch':
      return new BatchNorm(path, channels, spec.momentum ?? BN_MOMENTUM, spec.noise ?? null);
    case 'none':
      return new Identity();
  }
}
