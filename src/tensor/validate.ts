// Argument checks with uniform messages, in the style of tfjs:
// "Argument 'x' passed to 'conv2d' must be rank 4, but got rank 3 (shape [3, 32, 32])".
import type { DType } from '../native/index.js';
import type { Tensor } from './tensor.js';

export class ArgumentError extends Error {
  override name = 'ArgumentError';
}

function describe(t: Tensor): string {
  return `shape [${t.shape.join(', ')}], ${t.dtype}`;
}

export function assertRank(t: Tensor, rank: number | readonly number[], arg: string, op: string): void {
  const ok = typeof rank === 'number' ? t.rank === rank : rank.includes(t.rank);
  if (!ok) {
    const want = typeof rank === 'number' ? `rank ${rank}` : `rank ${rank.join(' or ')}`;
    throw new ArgumentError(`Argument '${arg}' passed to '${op}' must be ${want}, but got rank ${t.rank} (${describe(t)})`);
  }
}

export function assertFloat(t: Tensor, arg: string, op: string): void {
  if (!['float32', 'float64', 'float16', 'bfloat16'].includes(t.dtype)) {
    throw new ArgumentError(`Argument '${arg}' passed to '${op}' must be a floating-point tensor, but got ${t.dtype} (${describe(t)})`);
  }
}

export function assertDtype(t: Tensor, dtypes: readonly DType[], arg: string, op: string): void {
  if (!dtypes.includes(t.dtype)) {
    throw new ArgumentError(`Argument '${arg}' passed to '${op}' must have dtype ${dtypes.join(' or ')}, but got ${t.dtype} (${describe(t)})`);
  }
}

export function assertInt(v: number, arg: string, op: string, min = -Infinity): void {
  if (!Number.isInteger(v) || v < min) {
    throw new ArgumentError(`Argument '${arg}' passed to '${op}' must be an integer${min > -Infinity ? ` >= ${min}` : ''}, but got ${v}`);
  }
}

export function assertShape(shape: readonly number[], arg: string, op: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ArgumentError(`Argument '${arg}' passed to '${op}' must be a shape of non-negative integers, but got [${shape.join(', ')}]`);
    }
  }
}

/** Expands a number to a pair (kernel sizes, strides, paddings). */
export function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}
