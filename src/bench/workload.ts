// The benchmark's work, timed repetition by repetition: a forward pass with
// no gradients (inference) and the trainer's training step (forward, softmax
// cross-entropy, backward, SGD momentum update, gradients dropped), on one
// fixed batch. The PyTorch peer (bench/bit_pytorch_peer.py, mode `bench`)
// does the same work: same labels, same loss, same optimizer.
import type { ImageClassifier } from '../models/index.js';
import * as T from '../tensor/index.js';
import { TrainStep } from '../train/step.js';

/** forward: inference on the batch; latency: inference on its first image alone (the serving case); train: the training step. */
export type Phase = 'forward' | 'latency' | 'train';
export const PHASES: readonly Phase[] = ['forward', 'latency', 'train'];

/** Images per repetition of a phase: the batch, or one for the batch-1 latency. */
export function phaseBatch(phase: Phase, batch: number): number {
  return phase === 'latency' ? 1 : batch;
}

/** The optimizer of the timed training step (the peer uses the same). */
export const BENCH_SGD = { lr: 0.001, momentum: 0.9, weightDecay: 0 } as const;

export interface Repetitions {
  /** Untimed repetitions first (allocator and oneDNN primitive caches warm up). */
  readonly warmup: number;
  /** Timed repetitions. */
  readonly reps: number;
}

/** The benchmark's labels: arange(batch) % classes, int64 (the peer uses the same). */
export function benchLabels(batch: number, classes: number): T.Tensor {
  return T.tensor(
    Array.from({ length: batch }, (_, i) => i % classes),
    [batch],
    'int64',
  );
}

/** Wall-clock and CPU (user + system, all threads) seconds of each timed repetition. */
export interface Timings {
  readonly seconds: number[];
  readonly cpuSeconds: number[];
}

function timed(r: Repetitions, fn: () => void): Timings {
  for (let i = 0; i < r.warmup; i++) fn();
  const seconds: number[] = [];
  const cpuSeconds: number[] = [];
  for (let i = 0; i < r.reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    fn();
    seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpuSeconds.push((c.user + c.system) / 1e6);
  }
  return { seconds, cpuSeconds };
}

/** Timings of each timed inference pass over `x` (eval mode, no gradients). */
export function timeForward(model: ImageClassifier, x: T.Tensor, r: Repetitions): Timings {
  model.eval();
  return timed(r, () => T.tidy(() => T.noGrad(() => void model.forward(x))));
}

/**
 * The trainer's training step (train/step.ts) with the benchmark's SGD and
 * softmax loss, no MixUp: `microBatches` forward/backward passes over equal
 * slices of the batch, one update, gradients dropped.
 */
export function benchTrainStep(model: ImageClassifier, microBatches = 1): TrainStep {
  return new TrainStep({ model, sgd: { momentum: BENCH_SGD.momentum, weightDecay: BENCH_SGD.weightDecay }, microBatches });
}

/** One benchmark step on the fixed batch. */
export function runBenchStep(step: TrainStep, x: T.Tensor, labels: T.Tensor): void {
  T.tidy(() => void step.run({ images: x, labels, lr: BENCH_SGD.lr }));
}

/** Timings of each timed training step. */
export function timeTrainSteps(model: ImageClassifier, x: T.Tensor, labels: T.Tensor, r: Repetitions, microBatches = 1): Timings {
  const step = benchTrainStep(model, microBatches);
  try {
    return timed(r, () => runBenchStep(step, x, labels));
  } finally {
    step.dispose();
  }
}

/**
 * GFLOP/s of a float32 n x n matrix product through libtorch (its BLAS), the
 * best of `reps`: the reference peak that achieved GFLOP/s are compared to.
 */
export function matmulPeakGflops(n = 1024, reps = 8): number {
  return T.tidy(() => {
    const a = T.randn([n, n]);
    const b = T.randn([n, n]);
    T.tidy(() => void T.matmul(a, b));
    let best = Infinity;
    for (let i = 0; i < reps; i++) {
      const t0 = process.hrtime.bigint();
      T.tidy(() => void T.matmul(a, b));
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return (2 * n ** 3) / best / 1e9;
  });
}

/**
 * GFLOP/s of a large 3x3 convolution (batch 8, 256 -> 256 channels, 32x32,
 * oneDNN's kernels), the best of `reps`: what this machine's cores reach on
 * the model's own kind of work. The BLAS matrix product can be far below it
 * (Debian's OpenBLAS picks its generic Prescott kernels on CPUs it does not
 * recognise).
 */
export function convPeakGflops(reps = 6): number {
  return T.tidy(() => {
    const x = T.rand([8, 256, 32, 32]);
    const w = T.rand([256, 256, 3, 3]);
    T.tidy(() => void T.conv2d(x, w, { padding: 1 }));
    let best = Infinity;
    for (let i = 0; i < reps; i++) {
      const t0 = process.hrtime.bigint();
      T.tidy(() => void T.conv2d(x, w, { padding: 1 }));
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return (2 * 8 * 256 * 256 * 9 * 32 * 32) / best / 1e9;
  });
}

/** FLOPs of one image: 2 per multiply-accumulate forward (and at batch 1); a training step is 3x the forward (forward + two backward products). */
export function flopsPerImage(macs: number, phase: Phase): number {
  return 2 * macs * (phase === 'train' ? 3 : 1);
}
