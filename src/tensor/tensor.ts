// The Tensor class and deterministic memory management.
//
// Every Tensor owns one native handle. Intermediates are freed by scopes:
// `tidy(fn)` disposes every tensor created inside `fn` except those it returns
// and those marked with `keep`. Long-lived tensors (parameters, optimizer
// state) are kept and disposed explicitly. Garbage collection is only a leak
// reporter: `memory().leaked` counts tensors the GC had to free.
import { native, OPS, type DType, type Handle, type MemoryFormat, type MethodKind, type MethodOps } from '../native/index.js';

export type { DType, MemoryFormat };

export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array | Uint16Array;

/** What `tidy` may return: tensors, possibly nested in arrays and plain objects. */
export type TensorContainer =
  void | undefined | null | number | string | boolean | Tensor | readonly TensorContainer[] | { readonly [key: string]: TensorContainer };

const scopes: Set<Tensor>[] = [];

/**
 * The Tensor methods that hand their arguments to one native op as they are:
 * one per row of the op table (src/native/binding.ts) that names a method
 * kind, e.g. `t.exp()`, `t.mul(other)`, `t.sum(dims?, keepdim?)`, `t.mul_(other)`.
 */
export type PassThroughMethods = { [K in MethodOps<'unary'>]: () => Tensor } & { [K in MethodOps<'binary'>]: (other: Tensor | number) => Tensor } & {
  [K in MethodOps<'reduction'>]: (dims?: number | number[], keepdim?: boolean) => Tensor;
} & { [K in MethodOps<'binaryInPlace'>]: (other: Tensor | number) => Tensor } & { [K in MethodOps<'unaryInPlace'>]: () => Tensor };

type Call = (...args: unknown[]) => unknown;

/** The method of kind `kind` that calls op `name` (`this` is a Tensor). */
function passThrough(name: string, kind: MethodKind): (this: Tensor, ...args: never[]) => unknown {
  let fn: Call | undefined; // looked up on first use (the addon loads lazily)
  const call = (...args: unknown[]) => (fn ??= (native() as unknown as Record<string, Call>)[name])(...args);
  switch (kind) {
    case 'unary':
      return function (this: Tensor) {
        return wrap(call(this.handle) as Handle);
      };
    case 'binary':
      return function (this: Tensor, other: Tensor | number) {
        return wrap(call(this.handle, operand(other)) as Handle);
      };
    case 'reduction':
      return function (this: Tensor, dims?: number | number[], keepdim = false) {
        return wrap(call(this.handle, dimList(dims), keepdim) as Handle);
      };
    case 'binaryInPlace':
      return function (this: Tensor, other: Tensor | number) {
        call(this.handle, operand(other));
        return this;
      };
    case 'unaryInPlace':
      return function (this: Tensor) {
        call(this.handle);
        return this;
      };
  }
}

/** Tensor's base class: the pass-through methods, installed from the op table. */
const PassThrough = (() => {
  class Base {}
  for (const [name, row] of Object.entries(OPS)) {
    if (row.method !== null) Object.defineProperty(Base.prototype, name, { value: passThrough(name, row.method), writable: true, configurable: true });
  }
  return Base as unknown as new () => PassThroughMethods;
})();

/** A libtorch tensor. Disposed explicitly or by the enclosing `tidy`. */
export class Tensor extends PassThrough {
  #handle: Handle | null;
  #shape: readonly number[] | undefined;
  #dtype: DType | undefined;
  #kept = false;

  /** Wraps a native handle; the new tensor joins the innermost active scope. */
  constructor(handle: Handle) {
    super();
    this.#handle = handle;
    const scope = scopes[scopes.length - 1];
    if (scope) scope.add(this);
  }

  /** The native handle (tensor layer only). Throws if the tensor was disposed. */
  get handle(): Handle {
    if (this.#handle === null) throw new Error('Tensor is disposed: it was freed by dispose() or by the tidy() that created it (keep() it to use it later)');
    return this.#handle;
  }

  get isDisposed(): boolean {
    return this.#handle === null;
  }

  get isKept(): boolean {
    return this.#kept;
  }

  /** Marks the tensor so that no enclosing tidy() disposes it. Returns it. */
  keep(): this {
    this.#kept = true;
    return this;
  }

  dispose(): void {
    if (this.#handle === null) return;
    native().dispose(this.#handle);
    this.#handle = null;
  }

  get shape(): readonly number[] {
    if (this.#shape === undefined) this.#shape = Object.freeze(native().shape(this.handle));
    return this.#shape;
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    let n = 1;
    for (const d of this.shape) n *= d;
    return n;
  }

  get dtype(): DType {
    if (this.#dtype === undefined) this.#dtype = native().dtype(this.handle);
    return this.#dtype;
  }

  get device(): string {
    return native().device(this.handle);
  }

  /** In-place modification counter (bumped by every in-place op). */
  get version(): number {
    return native().version(this.handle);
  }

  /** Whether a 4-D tensor is laid out channels-last (NHWC in memory; the shape stays NCHW). */
  get isChannelsLast(): boolean {
    return native().isChannelsLast(this.handle);
  }

  override toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(${this.dtype}, [${this.shape.join(', ')}], ${this.device})`;
  }

  // ---- read-back

  /** A copy of the data as a typed array of the tensor's dtype (C order). */
  data(): AnyTypedArray {
    const buf = native().toBuffer(this.handle);
    return typedArrayOf(this.dtype, buf);
  }

  /** The data as plain numbers (int64 converted). */
  toArray(): number[] {
    const d = this.data();
    return d instanceof BigInt64Array ? Array.from(d, (v) => Number(v)) : Array.from(d as ArrayLike<number>);
  }

  /** The value of a one-element tensor. */
  item(): number {
    return native().item(this.handle);
  }

  // ---- elementwise

  add(other: Tensor | number, alpha?: number): Tensor {
    return wrap(native().add(this.handle, operand(other), alpha ?? null));
  }
  sub(other: Tensor | number, alpha?: number): Tensor {
    return wrap(native().sub(this.handle, operand(other), alpha ?? null));
  }
  clamp(min: number | null, max: number | null = null): Tensor {
    return wrap(native().clamp(this.handle, min, max));
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return wrap(native().maskedFill(this.handle, mask.handle, value));
  }

  // ---- reductions (dims omitted = all)

  /** Variance; `correction` 0 = biased (population), 1 = unbiased. */
  var(dims?: number | number[], options: { correction?: number; keepdim?: boolean } = {}): Tensor {
    return wrap(native().var(this.handle, dimList(dims), options.correction ?? 1, options.keepdim ?? false));
  }
  std(dims?: number | number[], options: { correction?: number; keepdim?: boolean } = {}): Tensor {
    return wrap(native().std(this.handle, dimList(dims), options.correction ?? 1, options.keepdim ?? false));
  }
  /** [variance, mean] in one pass. */
  varMean(dims?: number | number[], options: { correction?: number; keepdim?: boolean } = {}): [Tensor, Tensor] {
    const [v, m] = native().varMean(this.handle, dimList(dims), options.correction ?? 1, options.keepdim ?? false);
    return [wrap(v), wrap(m)];
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return wrap(native().argmax(this.handle, dim ?? null, keepdim));
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return wrap(native().argmin(this.handle, dim ?? null, keepdim));
  }
  /** The k largest (or smallest) values along `dim` and their indices. */
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
    const [v, i] = native().topk(this.handle, k, dim, largest, true);
    return { values: wrap(v), indices: wrap(i) };
  }
  logsumexp(dims: number | number[], keepdim = false): Tensor {
    return wrap(native().logsumexp(this.handle, dimList(dims) ?? [], keepdim));
  }
  norm(p = 2, dims?: number | number[], keepdim = false): Tensor {
    return wrap(native().norm(this.handle, p, dimList(dims), keepdim));
  }
  cumsum(dim: number): Tensor {
    return wrap(native().cumsum(this.handle, dim));
  }

  // ---- shape and indexing

  reshape(shape: readonly number[]): Tensor {
    return wrap(native().reshape(this.handle, [...shape]));
  }
  view(shape: readonly number[]): Tensor {
    return wrap(native().view(this.handle, [...shape]));
  }
  permute(dims: readonly number[]): Tensor {
    return wrap(native().permute(this.handle, [...dims]));
  }
  transpose(a: number, b: number): Tensor {
    return wrap(native().transpose(this.handle, a, b));
  }
  /** Matrix transpose of a rank-2 tensor. */
  get T(): Tensor {
    return this.transpose(0, 1);
  }
  contiguous(format: MemoryFormat = 'contiguous'): Tensor {
    return wrap(native().contiguous(this.handle, format));
  }
  clone(format: MemoryFormat = 'preserve'): Tensor {
    return wrap(native().clone(this.handle, format));
  }
  flatten(start = 0, end = -1): Tensor {
    return wrap(native().flatten(this.handle, start, end));
  }
  squeeze(dim?: number): Tensor {
    return wrap(native().squeeze(this.handle, dim ?? null));
  }
  unsqueeze(dim: number): Tensor {
    return wrap(native().unsqueeze(this.handle, dim));
  }
  expand(shape: readonly number[]): Tensor {
    return wrap(native().expand(this.handle, [...shape]));
  }
  repeat(reps: readonly number[]): Tensor {
    return wrap(native().repeat(this.handle, [...reps]));
  }
  flip(dims: readonly number[]): Tensor {
    return wrap(native().flip(this.handle, [...dims]));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return wrap(native().narrow(this.handle, dim, start, length));
  }
  slice(dim: number, start: number, end: number, step = 1): Tensor {
    return wrap(native().slice(this.handle, dim, start, end, step));
  }
  select(dim: number, index: number): Tensor {
    return wrap(native().select(this.handle, dim, index));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return wrap(native().indexSelect(this.handle, dim, index.handle));
  }
  gather(dim: number, index: Tensor): Tensor {
    return wrap(native().gather(this.handle, dim, index.handle));
  }
  split(size: number, dim = 0): Tensor[] {
    return native().split(this.handle, size, dim).map(wrap);
  }
  chunk(n: number, dim = 0): Tensor[] {
    return native().chunk(this.handle, n, dim).map(wrap);
  }

  // ---- dtype, device, autograd

  to(dtype: DType): Tensor {
    return wrap(native().to(this.handle, dtype));
  }
  float(): Tensor {
    return this.to('float32');
  }
  toDevice(device: string): Tensor {
    return wrap(native().toDevice(this.handle, device));
  }
  get requiresGrad(): boolean {
    return native().requiresGrad(this.handle);
  }
  setRequiresGrad(on = true): this {
    native().setRequiresGrad(this.handle, on);
    return this;
  }
  /** The accumulated gradient, a new handle on the same storage, or null. */
  get grad(): Tensor | null {
    const g = native().grad(this.handle);
    return g === null ? null : wrap(g);
  }
  /** Replaces (or with null, drops) the accumulated gradient. */
  setGrad(g: Tensor | null): void {
    native().setGrad(this.handle, g === null ? null : g.handle);
  }
  /** Back-propagates from this tensor (a scalar unless `grad` is given). */
  backward(grad?: Tensor, retainGraph = false): void {
    native().backward(this.handle, grad ? grad.handle : null, retainGraph);
  }

  // ---- in place (return this)

  add_(other: Tensor | number, alpha?: number): this {
    native().add_(this.handle, operand(other), alpha ?? null);
    return this;
  }
  copy_(src: Tensor): this {
    native().copy_(this.handle, src.handle);
    return this;
  }
  fill_(value: number): this {
    native().fill_(this.handle, value);
    return this;
  }
  clamp_(min: number | null, max: number | null = null): this {
    native().clamp_(this.handle, min, max);
    return this;
  }
  addcmul_(a: Tensor, b: Tensor, value = 1): this {
    native().addcmul_(this.handle, a.handle, b.handle, value);
    return this;
  }
  uniform_(low = 0, high = 1): this {
    native().uniform_(this.handle, low, high);
    return this;
  }
  normal_(mean = 0, std = 1): this {
    native().normal_(this.handle, mean, std);
    return this;
  }
}

/** Wraps a native handle into a scoped Tensor (tensor layer only). */
export function wrap(h: Handle): Tensor {
  return new Tensor(h);
}

/** A tensor's handle, or the number itself (native ops take both). */
export function operand(x: Tensor | number): Handle | number {
  return typeof x === 'number' ? x : x.handle;
}

function dimList(d: number | number[] | undefined): number[] | null {
  if (d === undefined) return null;
  return typeof d === 'number' ? [d] : d;
}

export function typedArrayOf(dtype: DType, buf: ArrayBuffer): AnyTypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buf);
    case 'float64':
      return new Float64Array(buf);
    case 'int64':
      return new BigInt64Array(buf);
    case 'int32':
      return new Int32Array(buf);
    case 'int8':
      return new Int8Array(buf);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buf);
    default:
      return new Uint8Array(buf);
  }
}

// ---- scopes

function collect(x: unknown, out: Set<Tensor>): void {
  if (x instanceof Tensor) out.add(x);
  else if (Array.isArray(x)) for (const e of x) collect(e, out);
  else if (x !== null && typeof x === 'object' && !ArrayBuffer.isView(x) && Object.getPrototypeOf(x) === Object.prototype) {
    for (const v of Object.values(x)) collect(v, out);
  }
}

/** What `tidy` may not return: a Promise (its scope would end before the work does). */
export type NotAPromise<T> = T extends PromiseLike<unknown> ? never : T;

/**
 * Runs `fn` in a new scope and disposes every tensor created in it, except
 * the tensors in its result (found in arrays and plain objects; they move to
 * the enclosing scope) and kept ones. If `fn` throws, every tensor created in
 * it is disposed.
 */
export function tidy<T>(fn: () => NotAPromise<T>): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn() as T;
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      throw new Error(
        'tidy(fn): fn returned a Promise; a scope cannot wait for asynchronous work (it would free tensors still in use): tidy the synchronous parts',
      );
    }
  } catch (err) {
    scopes.pop();
    for (const t of scope) if (!t.isKept) t.dispose();
    throw err;
  }
  scopes.pop();
  const out = new Set<Tensor>();
  collect(result, out);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (out.has(t)) {
      if (parent && !t.isKept) parent.add(t);
    } else if (!t.isKept) {
      t.dispose();
    }
  }
  return result;
}

/** Marks `t` so no tidy() disposes it; it must then be disposed explicitly. */
export function keep<T extends Tensor>(t: T): T {
  return t.keep();
}

/** Disposes every tensor found in `x` (arrays and objects are walked). */
export function dispose(x: TensorContainer): void {
  const all = new Set<Tensor>();
  collect(x, all);
  for (const t of all) t.dispose();
}

/** Native tensor counts: live handles, and handles the GC freed (leaks). */
export function memory(): { numTensors: number; leaked: number } {
  return { numTensors: native().liveCount(), leaked: native().leakedCount() };
}
