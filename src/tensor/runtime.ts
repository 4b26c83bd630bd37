// Autograd mode, random seeds, threads and build information.
import { availableParallelism } from 'node:os';
import { native, type BuildInfo } from '../native/index.js';
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

export function buildInfo(): BuildInfo {
  return native().buildInfo();
}

export function cudaAvailable(): boolean {
  return native().cudaAvailable();
}
