// Autograd mode, random seeds, threads and build information.
import { availableParallelism } from 'node:os';
import { addonPath, loaderEnvironment, native, type AllocatorStats, type BuildInfo } from '../native/index.js';
import { Tensor, wrap } from './tensor.js';
import type { DType } from '../native/index.js';
import { assertInt } from './validate.js';

/** Runs `fn` with gradient recording off (inference). */
export function noGrad<T>(fn: () => T): T {
  const prev = native().setGradEnabled(false);
  try {
    return fn();
  } finally {
    native().setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return native().isGradEnabled();
}

/** Seeds libtorch's global CPU generator (initialisation, dropout, MixUp draws, noise). */
export function manualSeed(seed: number): void {
  assertInt(seed, 'seed', 'manualSeed', 0);
  native().manualSeed(seed);
}

export function rand(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return wrap(native().rand([...shape], dtype));
}
export function randn(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return wrap(native().randn([...shape], dtype));
}
export function randint(low: number, high: number, shape: readonly number[]): Tensor {
  return wrap(native().randint(low, high, [...shape]));
}
export function randperm(n: number): Tensor {
  return wrap(native().randperm(n));
}
export function bernoulli(p: Tensor): Tensor {
  return wrap(native().bernoulli(p.handle));
}

/** Sets libtorch's intra-op thread count (default: every core). */
export function setNumThreads(n: number): void {
  assertInt(n, 'threads', 'setNumThreads', 1);
  native().setNumThreads(n);
}

export function getNumThreads(): number {
  return native().getNumThreads();
}

let threadsConfigured = false;
/** Applies the default thread count once: $BIT_THREADS, else every core. */
export function configureThreads(n?: number): number {
  const want = n ?? (process.env.BIT_THREADS ? Number(process.env.BIT_THREADS) : availableParallelism());
  if (n !== undefined || !threadsConfigured) setNumThreads(want);
  threadsConfigured = true;
  return getNumThreads();
}

export type { AllocatorStats };

/**
 * The caching CPU allocator's counters. Tensors of 256 KiB and more get
 * mappings of their own that are kept when freed and reused for the next
 * tensor of about the same size: a repeating training step allocates without
 * page faults, and peak RSS stays at the step's peak (glibc's heap let it
 * grow step after step). It is on unless BIT_CACHING_ALLOCATOR=0.
 */
export function allocatorStats(): AllocatorStats {
  return native().allocatorStats();
}

/** Turns the caching of large CPU blocks on or off (kept blocks stay until `emptyCache`). */
export function setCachingAllocator(on: boolean): void {
  native().setCachingAllocator(on);
}

/** Unmaps every block the caching allocator keeps for reuse (RSS drops by `allocatorStats().cachedBytes`). */
export function emptyCache(): void {
  native().emptyCache();
}

/**
 * This process's environment as the user gave it: without the variables the
 * addon loader set for libtorch (OMP_WAIT_POLICY=PASSIVE unless the user
 * chose a policy). For child processes of other software, e.g. PyTorch, so
 * that they run with their own defaults.
 */
export function userEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of loaderEnvironment()) delete env[key];
  return env;
}

/** Where the compiled native addon is expected (bit doctor reports it). */
export { addonPath };

export function buildInfo(): BuildInfo {
  return native().buildInfo();
}

export function cudaAvailable(): boolean {
  return native().cudaAvailable();
}
