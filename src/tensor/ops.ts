// Tensor creation and ops over several tensors.
import { native, type DType } from '../native/index.js';
import { Tensor, operand, wrap, type AnyTypedArray } from './tensor.js';
import { ArgumentError, assertShape } from './validate.js';

function dtypeOfArray(data: AnyTypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int8Array) return 'int8';
  return 'uint8';
}

/** Converts plain numbers to the typed array of `dtype`. */
export function typedArrayFrom(values: ArrayLike<number>, dtype: DType): AnyTypedArray {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int64':
      return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
    case 'int32':
      return Int32Array.from(values);
    case 'int8':
      return Int8Array.from(values);
    case 'uint8':
      return Uint8Array.from(values);
    case 'bool':
      return Uint8Array.from(values, (v) => (v ? 1 : 0));
    default:
      throw new ArgumentError(`Argument 'dtype' passed to 'tensor' must be a dtype with a JavaScript array type, but got ${dtype}`);
  }
}

/**
 * A tensor holding a copy of `data` (C order). Plain number arrays become
 * float32 unless `dtype` says otherwise; typed arrays keep their own dtype
 * (`dtype: 'bool'` reads a Uint8Array as booleans). `shape` defaults to 1-D.
 */
export function tensor(data: AnyTypedArray | ArrayLike<number>, shape?: readonly number[], dtype?: DType): Tensor {
  const own = ArrayBuffer.isView(data) ? dtypeOfArray(data as AnyTypedArray) : undefined;
  const dt: DType = dtype ?? own ?? 'float32';
  const arr =
    own !== undefined && (dtype === undefined || dtype === own || (dtype === 'bool' && data instanceof Uint8Array))
      ? (data as AnyTypedArray)
      : typedArrayFrom(data as ArrayLike<number>, dt);
  const s = shape ? [...shape] : [arr.length];
  assertShape(s, 'shape', 'tensor');
  const n = s.reduce((a, b) => a * b, 1);
  if (n !== arr.length) throw new ArgumentError(`Argument 'shape' passed to 'tensor' has ${n} elements, but the data has ${arr.length}`);
  return wrap(native().fromBuffer(arr, s, dt));
}

/** A 0-d tensor. */
export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  return tensor([value], [], dtype);
}

export interface CreateOptions {
  dtype?: DType;
  /** 'cpu' (default), 'cuda:0' or 'meta' (shape only, no memory). */
  device?: string;
}

export function zeros(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  assertShape(shape, 'shape', 'zeros');
  return wrap(native().zeros([...shape], opts.dtype ?? 'float32', opts.device ?? null));
}
export function ones(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  assertShape(shape, 'shape', 'ones');
  return wrap(native().ones([...shape], opts.dtype ?? 'float32', opts.device ?? null));
}
export function empty(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  assertShape(shape, 'shape', 'empty');
  return wrap(native().empty([...shape], opts.dtype ?? 'float32', opts.device ?? null));
}
export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  assertShape(shape, 'shape', 'full');
  return wrap(native().full([...shape], value, opts.dtype ?? 'float32', opts.device ?? null));
}
export function zerosLike(t: Tensor): Tensor {
  return wrap(native().zerosLike(t.handle));
}
export function onesLike(t: Tensor): Tensor {
  return wrap(native().onesLike(t.handle));
}
export function arange(start: number, end: number, step = 1, dtype: DType = 'int64'): Tensor {
  return wrap(native().arange(start, end, step, dtype));
}
export function linspace(start: number, end: number, steps: number, dtype: DType = 'float32'): Tensor {
  return wrap(native().linspace(start, end, steps, dtype));
}
export function eye(n: number, dtype: DType = 'float32'): Tensor {
  return wrap(native().eye(n, dtype));
}

export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ArgumentError("Argument 'tensors' passed to 'cat' must be a non-empty list");
  return wrap(
    native().cat(
      tensors.map((t) => t.handle),
      dim,
    ),
  );
}
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ArgumentError("Argument 'tensors' passed to 'stack' must be a non-empty list");
  return wrap(
    native().stack(
      tensors.map((t) => t.handle),
      dim,
    ),
  );
}
/** Elementwise choice: `a` where `cond` is true, else `b` (numbers broadcast). */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  return wrap(native().where(cond.handle, operand(a), operand(b)));
}
export function matmul(a: Tensor, b: Tensor): Tensor {
  return wrap(native().matmul(a.handle, b.handle));
}
export function lerp(a: Tensor, b: Tensor, weight: number): Tensor {
  return wrap(native().lerp(a.handle, b.handle, weight));
}

// ---- list ops (optimizer updates)

/** ts[i] += alpha * others[i], for every i, in place. */
export function foreachAdd_(ts: readonly Tensor[], others: readonly Tensor[], alpha = 1): void {
  if (ts.length !== others.length) throw new ArgumentError(`'foreachAdd_' needs lists of equal length, got ${ts.length} and ${others.length}`);
  if (ts.length)
    native().foreachAdd_(
      ts.map((t) => t.handle),
      others.map((t) => t.handle),
      alpha,
    );
}
/** ts[i] *= value, in place. */
export function foreachMul_(ts: readonly Tensor[], value: number): void {
  if (ts.length)
    native().foreachMul_(
      ts.map((t) => t.handle),
      value,
    );
}
/** ts[i] = scale * ts[i] + others[i], in place, in one pass over each tensor (SGD's momentum buffer update). */
export function foreachMulAdd_(ts: readonly Tensor[], scale: number, others: readonly Tensor[]): void {
  if (ts.length !== others.length) throw new ArgumentError(`'foreachMulAdd_' needs lists of equal length, got ${ts.length} and ${others.length}`);
  if (ts.length)
    native().foreachMulAdd_(
      ts.map((t) => t.handle),
      scale,
      others.map((t) => t.handle),
    );
}
export function foreachZero_(ts: readonly Tensor[]): void {
  if (ts.length) native().foreachZero_(ts.map((t) => t.handle));
}
/** Sum of squared L2 norms of a list of tensors (a 0-d tensor). */
export function sumOfSquares(ts: readonly Tensor[]): Tensor {
  if (ts.length === 0) return scalar(0);
  return wrap(native().foreachNormSq(ts.map((t) => t.handle)));
}
