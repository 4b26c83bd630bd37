// Loads the native libtorch addon and gives it a typed face. Only the tensor
// layer (src/tensor) may import this module: everything above it works with
// `Tensor` objects, never with raw handles.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { packageRoot } from '../util/package-root.js';

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

/** The addon's surface, one line per native op (see native/src/*.cc). */
export interface NativeBinding {
  // lifecycle and queries
  dispose(t: H): void;
  isDisposed(t: H): boolean;
  liveCount(): number;
  leakedCount(): number;
  shape(t: H): number[];
  dtype(t: H): DType;
  device(t: H): string;
  numel(t: H): number;
  isContiguous(t: H): boolean;
  isChannelsLast(t: H): boolean;
  version(t: H): number;
  sameStorage(a: H, b: H): boolean;
  // creation and read-back
  fromBuffer(data: ArrayBufferView, shape: number[], dtype: DType): H;
  toBuffer(t: H): ArrayBuffer;
  item(t: H): number;
  empty(shape: number[], dtype: DType, device?: string | null): H;
  zeros(shape: number[], dtype: DType, device?: string | null): H;
  ones(shape: number[], dtype: DType, device?: string | null): H;
  full(shape: number[], value: number, dtype: DType, device?: string | null): H;
  arange(start: number, end: number, step: number, dtype: DType): H;
  linspace(start: number, end: number, steps: number, dtype: DType): H;
  eye(n: number, dtype: DType): H;
  zerosLike(t: H): H;
  onesLike(t: H): H;
  // random
  manualSeed(seed: number): void;
  rand(shape: number[], dtype: DType, device?: string | null): H;
  randn(shape: number[], dtype: DType, device?: string | null): H;
  randint(low: number, high: number, shape: number[]): H;
  randperm(n: number): H;
  bernoulli(p: H): H;
  uniform_(t: H, low: number, high: number): void;
  normal_(t: H, mean: number, std: number): void;
  // dtype and device
  to(t: H, dtype: DType): H;
  toDevice(t: H, device: string): H;
  cudaAvailable(): boolean;
  // autograd
  setRequiresGrad(t: H, on: boolean): void;
  requiresGrad(t: H): boolean;
  grad(t: H): HN;
  setGrad(t: H, g: HN): void;
  backward(t: H, grad: HN, retainGraph: boolean): void;
  detach(t: H): H;
  setGradEnabled(on: boolean): boolean;
  isGradEnabled(): boolean;
  // threads and build
  setNumThreads(n: number): void;
  getNumThreads(): number;
  /** The caching CPU allocator's counters (native/src/addon.cc). */
  allocatorStats(): AllocatorStats;
  setCachingAllocator(on: boolean): void;
  emptyCache(): void;
  /** Starts recording libtorch's op events (its legacy CPU profiler). */
  profilerStart(): void;
  /** Stops recording: every op call as [name, thread, startUs, endUs, depth]. */
  profilerStop(): [string, number, number, number, number][];
  buildInfo(): BuildInfo;
  // elementwise
  add(a: H, b: S, alpha?: number | null): H;
  sub(a: H, b: S, alpha?: number | null): H;
  mul(a: H, b: S): H;
  div(a: H, b: S): H;
  pow(a: H, b: S): H;
  eq(a: H, b: S): H;
  ne(a: H, b: S): H;
  lt(a: H, b: S): H;
  le(a: H, b: S): H;
  gt(a: H, b: S): H;
  ge(a: H, b: S): H;
  remainder(a: H, b: S): H;
  maximum(a: H, b: S): H;
  minimum(a: H, b: S): H;
  neg(t: H): H;
  exp(t: H): H;
  log(t: H): H;
  log1p(t: H): H;
  sqrt(t: H): H;
  rsqrt(t: H): H;
  abs(t: H): H;
  relu(t: H): H;
  sigmoid(t: H): H;
  tanh(t: H): H;
  sign(t: H): H;
  floor(t: H): H;
  ceil(t: H): H;
  round(t: H): H;
  reciprocal(t: H): H;
  square(t: H): H;
  sin(t: H): H;
  cos(t: H): H;
  isfinite(t: H): H;
  isnan(t: H): H;
  logicalNot(t: H): H;
  clamp(t: H, min: number | null, max: number | null): H;
  where(cond: H, a: S, b: S): H;
  maskedFill(t: H, mask: H, value: number): H;
  lerp(a: H, b: H, weight: number): H;
  // reductions
  sum(t: H, dims: Dims, keepdim: boolean): H;
  mean(t: H, dims: Dims, keepdim: boolean): H;
  var(t: H, dims: Dims, correction: number, keepdim: boolean): H;
  std(t: H, dims: Dims, correction: number, keepdim: boolean): H;
  varMean(t: H, dims: Dims, correction: number, keepdim: boolean): [H, H];
  amax(t: H, dims: Dims, keepdim: boolean): H;
  amin(t: H, dims: Dims, keepdim: boolean): H;
  maxDim(t: H, dim: number, keepdim: boolean): [H, H];
  argmax(t: H, dim: number | null, keepdim: boolean): H;
  argmin(t: H, dim: number | null, keepdim: boolean): H;
  topk(t: H, k: number, dim: number, largest: boolean, sorted: boolean): [H, H];
  sort(t: H, dim: number, descending: boolean): [H, H];
  logsumexp(t: H, dims: number[], keepdim: boolean): H;
  norm(t: H, p: number, dims: Dims, keepdim: boolean): H;
  all(t: H): H;
  any(t: H): H;
  cumsum(t: H, dim: number): H;
  // shape and indexing
  reshape(t: H, shape: number[]): H;
  view(t: H, shape: number[]): H;
  permute(t: H, dims: number[]): H;
  transpose(t: H, a: number, b: number): H;
  contiguous(t: H, format?: MemoryFormat | null): H;
  clone(t: H, format?: MemoryFormat | null): H;
  flatten(t: H, start: number, end: number): H;
  squeeze(t: H, dim: number | null): H;
  unsqueeze(t: H, dim: number): H;
  expand(t: H, shape: number[]): H;
  repeat(t: H, reps: number[]): H;
  flip(t: H, dims: number[]): H;
  cat(ts: H[], dim: number): H;
  stack(ts: H[], dim: number): H;
  split(t: H, size: number, dim: number): H[];
  chunk(t: H, n: number, dim: number): H[];
  narrow(t: H, dim: number, start: number, length: number): H;
  slice(t: H, dim: number, start: number, end: number, step: number): H;
  select(t: H, dim: number, index: number): H;
  indexSelect(t: H, dim: number, index: H): H;
  gather(t: H, dim: number, index: H): H;
  scatter(t: H, dim: number, index: H, src: H): H;
  oneHot(t: H, n: number): H;
  constantPad(t: H, pads: number[], value: number): H;
  tril(t: H, k: number): H;
  triu(t: H, k: number): H;
  diagonal(t: H, offset: number, d1: number, d2: number): H;
  // neural-network ops
  conv2d(x: H, w: H, b: HN, stride: number[], padding: number[], dilation: number[], groups: number): H;
  packConv2dWeight(w: H, stride: number[], padding: number[], dilation: number[], groups: number): H;
  conv2dPacked(x: H, packed: H, b: HN, stride: number[], padding: number[], dilation: number[], groups: number): H;
  maxPool2d(x: H, kernel: number[], stride: number[], padding: number[], dilation: number[], ceil: boolean): H;
  avgPool2d(x: H, kernel: number[], stride: number[], padding: number[], ceil: boolean, countIncludePad: boolean): H;
  adaptiveAvgPool2d(x: H, size: number[]): H;
  groupNorm(x: H, groups: number, w: HN, b: HN, eps: number): H;
  batchNorm(x: H, w: HN, b: HN, runningMean: HN, runningVar: HN, training: boolean, momentum: number, eps: number): H;
  layerNorm(x: H, shape: number[], w: HN, b: HN, eps: number): H;
  linear(x: H, w: H, b: HN): H;
  matmul(a: H, b: H): H;
  softmax(t: H, dim: number): H;
  logSoftmax(t: H, dim: number): H;
  crossEntropy(logits: H, target: H, reduction: Reduction, labelSmoothing: number, weight?: HN): H;
  bceWithLogits(logits: H, target: H, reduction: Reduction, weight?: HN): H;
  mseLoss(a: H, b: H, reduction: Reduction): H;
  dropout(t: H, p: number, train: boolean): H;
  upsampleBilinear(t: H, size: number[], alignCorners: boolean): H;
  // linear algebra
  solve(a: H, b: H): H;
  eigh(a: H, uplo?: 'L' | 'U' | null): [H, H];
  inv(a: H): H;
  cholesky(a: H): H;
  // in place
  add_(t: H, other: S, alpha?: number | null): void;
  mul_(t: H, other: S): void;
  div_(t: H, other: S): void;
  copy_(t: H, src: H): void;
  zero_(t: H): void;
  fill_(t: H, value: number): void;
  clamp_(t: H, min: number | null, max: number | null): void;
  addcmul_(t: H, a: H, b: H, value: number): void;
  addcdiv_(t: H, a: H, b: H, value: number): void;
  relu_(t: H): void;
  foreachAdd_(ts: H[], others: H[], alpha: number): void;
  foreachMul_(ts: H[], value: number): void;
  foreachMulAdd_(ts: H[], scale: number, others: H[]): void;
  foreachZero_(ts: H[]): void;
  foreachNormSq(ts: H[]): H;
  // distributed (c10d + Gloo)
  distInit(host: string, port: number, rank: number, world: number, timeoutMs: number, iface?: string | null): void;
  distStoreConnect(host: string, port: number, isServer: boolean, world: number, timeoutMs: number): void;
  distIsInitialized(): boolean;
  distAllreduce(t: H, op?: 'sum' | 'max' | 'min' | null): void;
  distBroadcast(t: H, root: number): void;
  distBarrier(): void;
  distStoreSet(key: string, value: string): void;
  distStoreGet(key: string, timeoutMs: number): string;
  distStoreCheck(key: string): boolean;
  distStoreAdd(key: string, delta: number): number;
  distStoreSetTimeout(timeoutMs: number): void;
  distHeartbeat(key: string, intervalMs: number): void;
  distDestroy(): void;
}

/** Where the compiled addon is expected. */
export function addonPath(): string {
  return path.join(packageRoot(), 'build', 'Release', 'bit_native.node');
}

function loadError(file: string, cause: unknown): Error {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const lines = [
    `bit: the native libtorch addon could not be loaded from ${file}`,
    `  reason: ${reason.split('\n')[0]}`,
    'Remedies, any one of:',
    '  1. Build it: `npm rebuild` in the package folder (or `sh scripts/setup.sh`, which also installs what is missing).',
    '  2. Install libtorch and its BLAS: `sudo apt-get install -y libtorch-dev libopenblas0-pthread libgloo-dev`, then `npm rebuild`.',
    '  3. If you built against a libtorch elsewhere (LIBTORCH=...), make its lib/ folder findable (the build sets an rpath; a moved libtorch needs `npm rebuild`).',
    '  4. If Node.js was upgraded since the build, rebuild: `npm rebuild`.',
  ];
  return new Error(lines.join('\n'), { cause });
}

let binding: NativeBinding | undefined;
const loaderSet = new Set<string>();

/**
 * The environment variables that loading the addon set for libtorch (the
 * user had not set them), which child processes running other software (the
 * PyTorch peer of `bit bench`) should not inherit.
 */
export function loaderEnvironment(): ReadonlySet<string> {
  return loaderSet;
}

/** The loaded addon (loaded once, on first use). Throws one error listing every remedy. */
export function native(): NativeBinding {
  if (binding) return binding;
  const file = addonPath();
  if (!existsSync(file)) throw loadError(file, new Error('the file does not exist (the addon was never built)'));
  // libgomp reads this once, when libtorch loads. Its default busy-waiting
  // collapses throughput (measured 8x slower) as soon as another thread wants
  // a core: our own data-loader threads, or any other process.
  if (process.env.OMP_WAIT_POLICY === undefined) {
    process.env.OMP_WAIT_POLICY = 'PASSIVE';
    loaderSet.add('OMP_WAIT_POLICY');
  }
  try {
    const req = createRequire(import.meta.url);
    binding = req(file) as NativeBinding;
  } catch (err) {
    throw loadError(file, err);
  }
  return binding;
}
