// Neural-network ops with argument validation.
import { native, type Reduction } from '../native/index.js';
import { Tensor, tidy, wrap } from './tensor.js';
import { ArgumentError, assertDtype, assertFloat, assertInt, assertRank, pair } from './validate.js';

export type { Reduction };
type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  bias?: Tensor | null;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** The native arguments of a convolution's options: [stride, padding, dilation] pairs and a checked group count. */
function convArgs(opts: Omit<Conv2dOptions, 'bias'>, op: string): [[number, number], [number, number], [number, number], number] {
  const groups = opts.groups ?? 1;
  assertInt(groups, 'groups', op, 1);
  return [pair(opts.stride ?? 1), pair(opts.padding ?? 0), pair(opts.dilation ?? 1), groups];
}

/** An input with the kernel's input channels times the groups, or an error naming both. */
function checkInChannels(x: Tensor, weight: Tensor, groups: number, op: string): void {
  if (x.shape[1] !== weight.shape[1] * groups) {
    throw new ArgumentError(
      `Argument 'x' passed to '${op}' must have ${weight.shape[1] * groups} input channels (weight [${weight.shape.join(', ')}], groups ${groups}), but got ${x.shape[1]} (shape [${x.shape.join(', ')}])`,
    );
  }
}

/** 2-D convolution, NCHW input and OIHW weight. */
export function conv2d(x: Tensor, weight: Tensor, opts: Conv2dOptions = {}): Tensor {
  assertRank(x, 4, 'x', 'conv2d');
  assertRank(weight, 4, 'weight', 'conv2d');
  const args = convArgs(opts, 'conv2d');
  checkInChannels(x, weight, args[3], 'conv2d');
  return wrap(native().conv2d(x.handle, weight.handle, opts.bias ? opts.bias.handle : null, ...args));
}

/**
 * A convolution kernel (OIHW, float32) packed for `conv2dPacked` with these
 * options: reordered once into the layout oneDNN's convolution for inputs of
 * `inputShape` (NCHW; a typical one when omitted) reads, so that inference
 * skips the reorder of the kernel that every `conv2d` call does. The result
 * is an opaque buffer, only for `conv2dPacked`; it is not differentiable.
 */
export function packConv2dWeight(weight: Tensor, opts: Omit<Conv2dOptions, 'bias'> = {}, inputShape?: readonly number[]): Tensor {
  assertRank(weight, 4, 'weight', 'packConv2dWeight');
  assertDtype(weight, ['float32'], 'weight', 'packConv2dWeight');
  return wrap(native().packConv2dWeight(weight.handle, ...convArgs(opts, 'packConv2dWeight'), inputShape ? [...inputShape] : null));
}

export interface Conv2dPackedOptions extends Conv2dOptions {
  /**
   * A tensor of the output's shape in channels-last layout that the result
   * is added to in place (oneDNN's sum post-op) and returned: the residual
   * add fused into the convolution. Its old values are lost.
   */
  accumulate?: Tensor | null;
}

/**
 * 2-D convolution of a float32 input (NCHW shape, any layout) with a kernel
 * from `packConv2dWeight` (same options); not differentiable. When the addon
 * calls oneDNN itself (`buildInfo().onednn`), the input is read and the
 * result written in channels-last layout (an NCHW input is converted first).
 */
export function conv2dPacked(x: Tensor, packed: Tensor, opts: Conv2dPackedOptions = {}): Tensor {
  assertRank(x, 4, 'x', 'conv2dPacked');
  assertDtype(x, ['float32'], 'x', 'conv2dPacked');
  const args = convArgs(opts, 'conv2dPacked');
  return wrap(native().conv2dPacked(x.handle, packed.handle, opts.bias ? opts.bias.handle : null, ...args, opts.accumulate ? opts.accumulate.handle : null));
}

/**
 * Max pooling. NCHW float inputs are pooled in channels-last layout and
 * copied back: libtorch 1.13's NCHW kernel pools one plane at a time without
 * vectorising, its channels-last kernel vectorises over channels (BiT's stem
 * pool, 8x64x66x66: 22 ms -> 2.4 ms with both copies, forward and backward
 * alike). The values, and the gradients, are the same.
 */
export function maxPool2d(x: Tensor, kernel: Pair, stride?: Pair, padding: Pair = 0): Tensor {
  assertRank(x, 4, 'x', 'maxPool2d');
  const pool = (t: Tensor): Tensor => wrap(native().maxPool2d(t.handle, pair(kernel), pair(stride ?? kernel), pair(padding), [1, 1], false));
  if ((x.dtype !== 'float32' && x.dtype !== 'float64') || native().isChannelsLast(x.handle)) return pool(x);
  return tidy(() => pool(x.contiguous('channelsLast')).contiguous());
}

export function avgPool2d(x: Tensor, kernel: Pair, stride?: Pair, padding: Pair = 0): Tensor {
  assertRank(x, 4, 'x', 'avgPool2d');
  return wrap(native().avgPool2d(x.handle, pair(kernel), pair(stride ?? kernel), pair(padding), false, true));
}

export function adaptiveAvgPool2d(x: Tensor, size: Pair): Tensor {
  assertRank(x, 4, 'x', 'adaptiveAvgPool2d');
  return wrap(native().adaptiveAvgPool2d(x.handle, pair(size)));
}

/** Zero padding (or `value`) of the last two dims: [left, right, top, bottom]. */
export function pad2d(x: Tensor, pads: readonly [number, number, number, number], value = 0): Tensor {
  return wrap(native().constantPad(x.handle, [...pads], value));
}

export function groupNorm(x: Tensor, groups: number, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  assertRank(x, [2, 3, 4, 5], 'x', 'groupNorm');
  assertInt(groups, 'groups', 'groupNorm', 1);
  const c = x.shape[1];
  if (c % groups !== 0) throw new ArgumentError(`Argument 'groups' passed to 'groupNorm' must divide the ${c} channels, but got ${groups}`);
  return wrap(native().groupNorm(x.handle, groups, weight ? weight.handle : null, bias ? bias.handle : null, eps));
}

/**
 * groupNorm(x, ...) followed by ReLU when `relu`, in two passes over memory
 * (statistics in double), for float32 CPU inputs in NCHW or channels-last
 * layout (the result keeps the layout). Not differentiable: it refuses inputs
 * or parameters that require gradients while gradients are recorded.
 */
export function groupNormRelu(x: Tensor, groups: number, weight: Tensor | null, bias: Tensor | null, eps: number, relu = true): Tensor {
  assertRank(x, [2, 3, 4, 5], 'x', 'groupNormRelu');
  assertInt(groups, 'groups', 'groupNormRelu', 1);
  assertDtype(x, ['float32'], 'x', 'groupNormRelu');
  const c = x.shape[1];
  if (c % groups !== 0) throw new ArgumentError(`Argument 'groups' passed to 'groupNormRelu' must divide the ${c} channels, but got ${groups}`);
  return wrap(native().groupNormRelu(x.handle, groups, weight ? weight.handle : null, bias ? bias.handle : null, eps, relu));
}

export interface BatchNormOptions {
  training: boolean;
  momentum: number;
  eps: number;
}

/** Batch normalization; in training mode the running statistics are updated in place. */
export function batchNorm(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  opts: BatchNormOptions,
): Tensor {
  assertRank(x, [2, 3, 4, 5], 'x', 'batchNorm');
  if (opts.training && x.shape[0] * x.shape.slice(2).reduce((a, b) => a * b, 1) < 2) {
    throw new ArgumentError(
      `Argument 'x' passed to 'batchNorm' must have more than one value per channel in training mode, but got shape [${x.shape.join(', ')}]`,
    );
  }
  return wrap(
    native().batchNorm(
      x.handle,
      weight?.handle ?? null,
      bias?.handle ?? null,
      runningMean?.handle ?? null,
      runningVar?.handle ?? null,
      opts.training,
      opts.momentum,
      opts.eps,
    ),
  );
}

export function layerNorm(x: Tensor, shape: readonly number[], weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  return wrap(native().layerNorm(x.handle, [...shape], weight?.handle ?? null, bias?.handle ?? null, eps));
}

/** y = x W^T + b, W of shape [out, in]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  assertRank(weight, 2, 'weight', 'linear');
  if (x.shape[x.rank - 1] !== weight.shape[1]) {
    throw new ArgumentError(
      `Argument 'x' passed to 'linear' must have ${weight.shape[1]} features in its last dimension, but got shape [${x.shape.join(', ')}]`,
    );
  }
  return wrap(native().linear(x.handle, weight.handle, bias?.handle ?? null));
}

export function softmax(x: Tensor, dim = -1): Tensor {
  return wrap(native().softmax(x.handle, dim));
}

export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return wrap(native().logSoftmax(x.handle, dim));
}

/**
 * Softmax cross-entropy. `target` is int64 class indices [N] or float class
 * probabilities [N, C] (soft labels, e.g. MixUp).
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: { reduction?: Reduction; labelSmoothing?: number } = {}): Tensor {
  assertRank(logits, 2, 'logits', 'crossEntropy');
  if (target.rank === 1) {
    assertDtype(target, ['int64'], 'target', 'crossEntropy');
    if (target.shape[0] !== logits.shape[0])
      throw new ArgumentError(`Argument 'target' passed to 'crossEntropy' must have ${logits.shape[0]} labels, but got ${target.shape[0]}`);
  } else {
    assertFloat(target, 'target', 'crossEntropy');
    if (target.shape.join() !== logits.shape.join()) {
      throw new ArgumentError(
        `Argument 'target' passed to 'crossEntropy' must have the logits' shape [${logits.shape.join(', ')}], but got [${target.shape.join(', ')}]`,
      );
    }
  }
  return wrap(native().crossEntropy(logits.handle, target.handle, opts.reduction ?? 'mean', opts.labelSmoothing ?? 0, null));
}

/** Sigmoid cross-entropy for multi-label targets in [0, 1], shape of the logits. */
export function bceWithLogits(logits: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (target.shape.join() !== logits.shape.join()) {
    throw new ArgumentError(
      `Argument 'target' passed to 'bceWithLogits' must have the logits' shape [${logits.shape.join(', ')}], but got [${target.shape.join(', ')}]`,
    );
  }
  return wrap(native().bceWithLogits(logits.handle, target.handle, reduction, null));
}

export function mseLoss(a: Tensor, b: Tensor, reduction: Reduction = 'mean'): Tensor {
  return wrap(native().mseLoss(a.handle, b.handle, reduction));
}

export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  return wrap(native().dropout(x.handle, p, training));
}

/** One-hot encoding of int64 labels, as int64 [N, n]. */
export function oneHot(labels: Tensor, n: number): Tensor {
  assertDtype(labels, ['int64'], 'labels', 'oneHot');
  return wrap(native().oneHot(labels.handle, n));
}

export function upsampleBilinear(x: Tensor, size: readonly [number, number], alignCorners = false): Tensor {
  assertRank(x, 4, 'x', 'upsampleBilinear');
  return wrap(native().upsampleBilinear(x.handle, [...size], alignCorners));
}
