// The typed binding of the native addon: one table with a row per function
// the addon exports (native/src/addon.cc, ops.cc, dist.cc), from which the
// binding's type, the list of names a test checks against the loaded addon,
// and the Tensor methods that pass their arguments straight through
// (src/tensor/tensor.ts) are all derived.
//
// Adding an op: its C++ entry in native/src/*.cc (see ops.cc's header), and
// one row here: `name: op<(args) => result>()`, or one of the method kinds
// below when `tensor.name(...)` should call it as it is. Nothing else: the
// test in test/native/binding.test.ts fails until the two agree.

/** An opaque reference to a libtorch tensor owned by the addon. */
export type Handle = { readonly __brand: 'TorchHandle' };
export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool' | 'float16' | 'bfloat16';
export type Reduction = 'mean' | 'sum' | 'none';
export type MemoryFormat = 'contiguous' | 'channelsLast' | 'preserve';
type H = Handle;
type HN = Handle | null;
type S = H | number;
type Dims = number[] | null;

export interface BuildInfo {
  torchVersion: string;
  config: string;
  parallelInfo: string;
  cuda: boolean;
  mkldnn: boolean;
  /** Whether the addon calls oneDNN itself (built with its headers): packed convolutions on channels-last tensors. */
  onednn: boolean;
  lapack: boolean;
  distributed: boolean;
}

export interface AllocatorStats {
  /** Whether blocks of 256 KiB and more are being cached (false: libtorch's default allocator serves everything). */
  enabled: boolean;
  /** Bytes of cached-allocator blocks held by tensors now. */
  inUseBytes: number;
  /** Bytes of freed blocks kept for reuse. */
  cachedBytes: number;
  /** The highest inUseBytes so far: kept blocks are unmapped past it (plus a 64 MiB slack). */
  peakInUseBytes: number;
  /** Requests served from kept blocks, and by new mappings. */
  hits: number;
  misses: number;
  /** Kept blocks unmapped. */
  evictions: number;
}

/**
 * How a Tensor method passes its arguments to the op (tensor.ts installs one
 * method per row that has a kind):
 * - unary: `t.name()`
 * - binary: `t.name(other: Tensor | number)`
 * - reduction: `t.name(dims?: number | number[], keepdim = false)` (no dims: all)
 * - binaryInPlace: `t.name(other: Tensor | number)`, in place, returns the tensor
 * - unaryInPlace: `t.name()`, in place, returns the tensor
 */
export type MethodKind = 'unary' | 'binary' | 'reduction' | 'binaryInPlace' | 'unaryInPlace';

/** A row of the table: the native function's signature (a type only) and its Tensor method kind, if any. */
export interface OpRow<F, M extends MethodKind | null> {
  readonly method: M;
  /** Never set: carries the signature's type. */
  readonly signature?: F;
}

/** A row without a Tensor method: its signature only. */
function op<F extends (...args: never[]) => unknown>(): OpRow<F, null> {
  return { method: null };
}

const unary: OpRow<(t: H) => H, 'unary'> = { method: 'unary' };
const binary: OpRow<(a: H, b: S) => H, 'binary'> = { method: 'binary' };
const reduction: OpRow<(t: H, dims: Dims, keepdim: boolean) => H, 'reduction'> = { method: 'reduction' };
const binaryInPlace: OpRow<(t: H, other: S) => void, 'binaryInPlace'> = { method: 'binaryInPlace' };
const unaryInPlace: OpRow<(t: H) => void, 'unaryInPlace'> = { method: 'unaryInPlace' };

/** The addon's functions, one row each, grouped as in native/src/*.cc. */
export const OPS = {
  // lifecycle and queries
  dispose: op<(t: H) => void>(),
  isDisposed: op<(t: H) => boolean>(),
  liveCount: op<() => number>(),
  leakedCount: op<() => number>(),
  shape: op<(t: H) => number[]>(),
  dtype: op<(t: H) => DType>(),
  device: op<(t: H) => string>(),
  numel: op<(t: H) => number>(),
  isContiguous: op<(t: H) => boolean>(),
  isChannelsLast: op<(t: H) => boolean>(),
  version: op<(t: H) => number>(),
  sameStorage: op<(a: H, b: H) => boolean>(),
  // creation and read-back
  fromBuffer: op<(data: ArrayBufferView, shape: number[], dtype: DType) => H>(),
  toBuffer: op<(t: H) => ArrayBuffer>(),
  item: op<(t: H) => number>(),
  empty: op<(shape: number[], dtype: DType, device?: string | null) => H>(),
  zeros: op<(shape: number[], dtype: DType, device?: string | null) => H>(),
  ones: op<(shape: number[], dtype: DType, device?: string | null) => H>(),
  full: op<(shape: number[], value: number, dtype: DType, device?: string | null) => H>(),
  arange: op<(start: number, end: number, step: number, dtype: DType) => H>(),
  linspace: op<(start: number, end: number, steps: number, dtype: DType) => H>(),
  eye: op<(n: number, dtype: DType) => H>(),
  zerosLike: op<(t: H) => H>(),
  onesLike: op<(t: H) => H>(),
  // random
  manualSeed: op<(seed: number) => void>(),
  rand: op<(shape: number[], dtype: DType, device?: string | null) => H>(),
  randn: op<(shape: number[], dtype: DType, device?: string | null) => H>(),
  randint: op<(low: number, high: number, shape: number[]) => H>(),
  randperm: op<(n: number) => H>(),
  bernoulli: op<(p: H) => H>(),
  uniform_: op<(t: H, low: number, high: number) => void>(),
  normal_: op<(t: H, mean: number, std: number) => void>(),
  // dtype and device
  to: op<(t: H, dtype: DType) => H>(),
  toDevice: op<(t: H, device: string) => H>(),
  cudaAvailable: op<() => boolean>(),
  // autograd
  setRequiresGrad: op<(t: H, on: boolean) => void>(),
  requiresGrad: op<(t: H) => boolean>(),
  grad: op<(t: H) => HN>(),
  setGrad: op<(t: H, g: HN) => void>(),
  backward: op<(t: H, grad: HN, retainGraph: boolean) => void>(),
  detach: unary,
  setGradEnabled: op<(on: boolean) => boolean>(),
  isGradEnabled: op<() => boolean>(),
  // threads and build
  setNumThreads: op<(n: number) => void>(),
  getNumThreads: op<() => number>(),
  /** The caching CPU allocator's counters (native/src/addon.cc). */
  allocatorStats: op<() => AllocatorStats>(),
  setCachingAllocator: op<(on: boolean) => void>(),
  emptyCache: op<() => void>(),
  /** Starts recording libtorch's op events (its legacy CPU profiler). */
  profilerStart: op<() => void>(),
  /** Stops recording: every op call as [name, thread, startUs, endUs, depth]. */
  profilerStop: op<() => [string, number, number, number, number][]>(),
  buildInfo: op<() => BuildInfo>(),
  // elementwise
  add: op<(a: H, b: S, alpha?: number | null) => H>(),
  sub: op<(a: H, b: S, alpha?: number | null) => H>(),
  mul: binary,
  div: binary,
  pow: binary,
  eq: binary,
  ne: binary,
  lt: binary,
  le: binary,
  gt: binary,
  ge: binary,
  remainder: binary,
  maximum: binary,
  minimum: binary,
  neg: unary,
  exp: unary,
  log: unary,
  log1p: unary,
  sqrt: unary,
  rsqrt: unary,
  abs: unary,
  relu: unary,
  sigmoid: unary,
  tanh: unary,
  sign: unary,
  floor: unary,
  ceil: unary,
  round: unary,
  reciprocal: unary,
  square: unary,
  sin: unary,
  cos: unary,
  isfinite: unary,
  isnan: unary,
  logicalNot: unary,
  clamp: op<(t: H, min: number | null, max: number | null) => H>(),
  where: op<(cond: H, a: S, b: S) => H>(),
  maskedFill: op<(t: H, mask: H, value: number) => H>(),
  lerp: op<(a: H, b: H, weight: number) => H>(),
  // reductions
  sum: reduction,
  mean: reduction,
  var: op<(t: H, dims: Dims, correction: number, keepdim: boolean) => H>(),
  std: op<(t: H, dims: Dims, correction: number, keepdim: boolean) => H>(),
  varMean: op<(t: H, dims: Dims, correction: number, keepdim: boolean) => [H, H]>(),
  amax: reduction,
  amin: reduction,
  maxDim: op<(t: H, dim: number, keepdim: boolean) => [H, H]>(),
  argmax: op<(t: H, dim: number | null, keepdim: boolean) => H>(),
  argmin: op<(t: H, dim: number | null, keepdim: boolean) => H>(),
  topk: op<(t: H, k: number, dim: number, largest: boolean, sorted: boolean) => [H, H]>(),
  sort: op<(t: H, dim: number, descending: boolean) => [H, H]>(),
  logsumexp: op<(t: H, dims: number[], keepdim: boolean) => H>(),
  norm: op<(t: H, p: number, dims: Dims, keepdim: boolean) => H>(),
  all: unary,
  any: unary,
  cumsum: op<(t: H, dim: number) => H>(),
  // shape and indexing
  reshape: op<(t: H, shape: number[]) => H>(),
  view: op<(t: H, shape: number[]) => H>(),
  permute: op<(t: H, dims: number[]) => H>(),
  transpose: op<(t: H, a: number, b: number) => H>(),
  contiguous: op<(t: H, format?: MemoryFormat | null) => H>(),
  clone: op<(t: H, format?: MemoryFormat | null) => H>(),
  flatten: op<(t: H, start: number, end: number) => H>(),
  squeeze: op<(t: H, dim: number | null) => H>(),
  unsqueeze: op<(t: H, dim: number) => H>(),
  expand: op<(t: H, shape: number[]) => H>(),
  repeat: op<(t: H, reps: number[]) => H>(),
  flip: op<(t: H, dims: number[]) => H>(),
  cat: op<(ts: H[], dim: number) => H>(),
  stack: op<(ts: H[], dim: number) => H>(),
  split: op<(t: H, size: number, dim: number) => H[]>(),
  chunk: op<(t: H, n: number, dim: number) => H[]>(),
  narrow: op<(t: H, dim: number, start: number, length: number) => H>(),
  slice: op<(t: H, dim: number, start: number, end: number, step: number) => H>(),
  select: op<(t: H, dim: number, index: number) => H>(),
  indexSelect: op<(t: H, dim: number, index: H) => H>(),
  gather: op<(t: H, dim: number, index: H) => H>(),
  scatter: op<(t: H, dim: number, index: H, src: H) => H>(),
  oneHot: op<(t: H, n: number) => H>(),
  constantPad: op<(t: H, pads: number[], value: number) => H>(),
  tril: op<(t: H, k: number) => H>(),
  triu: op<(t: H, k: number) => H>(),
  diagonal: op<(t: H, offset: number, d1: number, d2: number) => H>(),
  // neural-network ops
  conv2d: op<(x: H, w: H, b: HN, stride: number[], padding: number[], dilation: number[], groups: number) => H>(),
  maxPool2d: op<(x: H, kernel: number[], stride: number[], padding: number[], dilation: number[], ceil: boolean) => H>(),
  avgPool2d: op<(x: H, kernel: number[], stride: number[], padding: number[], ceil: boolean, countIncludePad: boolean) => H>(),
  adaptiveAvgPool2d: op<(x: H, size: number[]) => H>(),
  groupNorm: op<(x: H, groups: number, w: HN, b: HN, eps: number) => H>(),
  batchNorm: op<(x: H, w: HN, b: HN, runningMean: HN, runningVar: HN, training: boolean, momentum: number, eps: number) => H>(),
  layerNorm: op<(x: H, shape: number[], w: HN, b: HN, eps: number) => H>(),
  linear: op<(x: H, w: H, b: HN) => H>(),
  matmul: op<(a: H, b: H) => H>(),
  softmax: op<(t: H, dim: number) => H>(),
  logSoftmax: op<(t: H, dim: number) => H>(),
  crossEntropy: op<(logits: H, target: H, reduction: Reduction, labelSmoothing: number, weight?: HN) => H>(),
  bceWithLogits: op<(logits: H, target: H, reduction: Reduction, weight?: HN) => H>(),
  mseLoss: op<(a: H, b: H, reduction: Reduction) => H>(),
  dropout: op<(t: H, p: number, train: boolean) => H>(),
  upsampleBilinear: op<(t: H, size: number[], alignCorners: boolean) => H>(),
  // inference kernels (native/src/inference.cc): not differentiable
  groupNormRelu: op<(x: H, groups: number, w: HN, b: HN, eps: number, relu: boolean) => H>(),
  packConv2dWeight: op<(w: H, stride: number[], padding: number[], dilation: number[], groups: number, inputShape?: number[] | null) => H>(),
  conv2dPacked: op<(x: H, packed: H, b: HN, stride: number[], padding: number[], dilation: number[], groups: number, accumulate?: HN) => H>(),
  // linear algebra
  solve: op<(a: H, b: H) => H>(),
  eigh: op<(a: H, uplo?: 'L' | 'U' | null) => [H, H]>(),
  inv: op<(a: H) => H>(),
  cholesky: op<(a: H) => H>(),
  // in place
  add_: op<(t: H, other: S, alpha?: number | null) => void>(),
  mul_: binaryInPlace,
  div_: binaryInPlace,
  copy_: op<(t: H, src: H) => void>(),
  zero_: unaryInPlace,
  fill_: op<(t: H, value: number) => void>(),
  clamp_: op<(t: H, min: number | null, max: number | null) => void>(),
  addcmul_: op<(t: H, a: H, b: H, value: number) => void>(),
  addcdiv_: op<(t: H, a: H, b: H, value: number) => void>(),
  relu_: unaryInPlace,
  foreachAdd_: op<(ts: H[], others: H[], alpha: number) => void>(),
  foreachMul_: op<(ts: H[], value: number) => void>(),
  foreachMulAdd_: op<(ts: H[], scale: number, others: H[]) => void>(),
  foreachZero_: op<(ts: H[]) => void>(),
  foreachNormSq: op<(ts: H[]) => H>(),
  // distributed (c10d + Gloo)
  distInit: op<(host: string, port: number, rank: number, world: number, timeoutMs: number, iface?: string | null) => void>(),
  distStoreConnect: op<(host: string, port: number, isServer: boolean, world: number, timeoutMs: number) => void>(),
  distIsInitialized: op<() => boolean>(),
  distAllreduce: op<(t: H, op?: 'sum' | 'max' | 'min' | null) => void>(),
  distBroadcast: op<(t: H, root: number) => void>(),
  distBarrier: op<() => void>(),
  distStoreSet: op<(key: string, value: string) => void>(),
  distStoreGet: op<(key: string, timeoutMs: number) => string>(),
  distStoreCheck: op<(key: string) => boolean>(),
  distStoreAdd: op<(key: string, delta: number) => number>(),
  distStoreSetTimeout: op<(timeoutMs: number) => void>(),
  distHeartbeat: op<(key: string, intervalMs: number) => void>(),
  distDestroy: op<() => void>(),
} satisfies Record<string, OpRow<(...args: never[]) => unknown, MethodKind | null>>;

type Ops = typeof OPS;
type SignatureOf<R> = R extends OpRow<infer F, MethodKind | null> ? F : never;

/** The names of the addon's functions. */
export type OpName = keyof Ops;

/** The addon's surface, derived from the table. */
export type NativeBinding = { readonly [K in OpName]: SignatureOf<Ops[K]> };

/** The ops whose Tensor method is of kind `M`. */
export type MethodOps<M extends MethodKind> = { [K in OpName]: Ops[K] extends OpRow<unknown, M> ? K : never }[OpName];

/** Every name the addon must export: the table's rows. */
export const OP_NAMES: readonly OpName[] = Object.keys(OPS) as OpName[];
