/**
 * The data loader: batches of preprocessed uint8 images (NHWC, RGB) and their
 * labels, decoded ahead of the consumer by a pool of worker threads.
 *
 * Training (`trainLoader`) is an endless stream of steps. The samples form
 * one long sequence: epoch e is a permutation of the dataset drawn with
 * (seed, e), and epochs follow each other, so every batch is full and every
 * sample is seen once per epoch. Step s holds positions
 * [s * batchSize, (s + 1) * batchSize) of that sequence; with data-parallel
 * training (`worldSize` ranks), rank r takes the r-th of `worldSize` equal
 * slices of each global batch. A sample's crop and flip depend only on
 * (seed, position), so for a given seed the batches are bit-for-bit the same
 * whatever the number of workers or ranks, and `startStep` resumes by
 * computing the batches from step S on, without decoding the skipped ones.
 *
 * Evaluation (`evalLoader`) goes through the dataset once, in order, in
 * batches of `batchSize` (the last one partial; with several ranks, each
 * takes its slice of each global batch, so a rank's last batch can be empty).
 *
 * Workers are started on first use, run ahead by `prefetch` batches, keep the
 * process alive only while they have work, and are stopped by `close()`. An
 * image that fails to decode rejects its batch with an error naming the file.
 * Worker code is found beside this module (worker.js next to loader.js), so
 * any compiled output folder works.
 */
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Dataset } from './dataset.js';
import { DataError, messageOf } from './errors.js';
import { AUGMENT_STRIDE, evalPreprocess, packAugmentation, sampleAugmentation, trainPreprocess, type CropStyle, type PreprocessConfig } from './preprocess.js';
import { checkSeed, permutation, RandomPurpose } from './rng.js';
import type { WorkerInit, WorkerReply, WorkerTask } from './worker-protocol.js';
import { siblingWorkerUrl, workerExecArgv } from '../util/worker.js';

/** One batch for one rank. */
export interface Batch {
  /** n * h * w * 3 bytes, NHWC, RGB. */
  readonly images: Uint8Array;
  /** Single-label: n class indices. Multi-label: n * numClasses bytes of 0/1 (multi-hot). */
  readonly labels: Int32Array | Uint8Array;
  readonly n: number;
  readonly h: number;
  readonly w: number;
  /** Global step (training) or batch number (evaluation). */
  readonly step: number;
  /** Epoch of the batch's first sample (0 for evaluation). */
  readonly epoch: number;
  /** The dataset index of each image. */
  readonly indices: Int32Array;
  /** Training: per image top, left, height, width (of the crop window in the precrop image) and flip (0/1), packed by preprocess.ts packAugmentation; null for evaluation. */
  readonly augment: Int32Array | null;
}

/** Which samples a batch holds and how they are augmented, computed without decoding. */
export interface BatchPlan {
  readonly step: number;
  readonly epoch: number;
  readonly indices: Int32Array;
  readonly augment: Int32Array | null;
}

export interface CommonLoaderOptions {
  /** Batch size summed over all ranks. */
  readonly batchSize: number;
  /** Worker threads; default max(1, os.availableParallelism() - 1). */
  readonly workers?: number;
  /**
   * Batches decoded ahead of the one being consumed; default 2. Each batch is
   * split over all workers, so 2 keeps them busy; more costs memory
   * (a batch of 512 at 480x480 is 354 MB).
   */
  readonly prefetch?: number;
  /** Samples each worker decodes at the same time; default 4. */
  readonly workerConcurrency?: number;
  /** This process's rank for data-parallel training; default 0. */
  readonly rank?: number;
  /** Number of ranks; default 1. batchSize must be a multiple of it. */
  readonly worldSize?: number;
}

export interface TrainLoaderOptions extends CommonLoaderOptions {
  /** Side of the square image before the random crop (BiT-HyperRule: 160 or 512). */
  readonly precrop: number;
  /** Side of the output (BiT-HyperRule: 128 or 480). */
  readonly crop: number;
  /** Random horizontal flips; default: the dataset's defaultFlip. */
  readonly flip?: boolean;
  /** 'resize' (default: a crop x crop window of the precrop image) or 'inception' (upstream pre-training). */
  readonly cropStyle?: CropStyle;
  /** Seed of the epoch permutations and the augmentation; default 0. */
  readonly seed?: number;
  /** First step to produce (to resume a run); default 0. */
  readonly startStep?: number;
}

export interface EvalLoaderOptions extends CommonLoaderOptions {
  /** Side of the output (images are resized to crop x crop). */
  readonly crop: number;
}

/** The default number of workers: one less than the cores available, at least 1. */
export function defaultWorkers(): number {
  return Math.max(1, os.availableParallelism() - 1);
}

interface Pending {
  resolve: (images: Uint8Array) => void;
  reject: (err: Error) => void;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/** A fixed set of worker threads that run preprocessing tasks. */
class WorkerPool {
  private workers: PoolWorker[] = [];
  private nextId = 0;
  private failure: Error | null = null;
  private closed = false;

  constructor(
    private readonly size: number,
    private readonly init: WorkerInit,
  ) {}

  get live(): number {
    return this.workers.length;
  }

  private start(): void {
    for (let k = 0; k < this.size; k++) {
      const worker = new Worker(siblingWorkerUrl(import.meta.url, 'worker'), { workerData: this.init, execArgv: workerExecArgv() });
      const entry: PoolWorker = { worker, pending: new Map() };
      worker.unref();
      worker.on('message', (reply: WorkerReply) => {
        const p = entry.pending.get(reply.id);
        if (p === undefined) return;
        entry.pending.delete(reply.id);
        if (entry.pending.size === 0) worker.unref();
        if (reply.ok) p.resolve(reply.images);
        else p.reject(new DataError(reply.message, reply.path === null ? {} : { path: reply.path }));
      });
      worker.on('error', (err: Error) => this.fail(entry, new DataError(`data loader worker failed: ${messageOf(err)}`, { cause: err })));
      worker.on('exit', (code) => {
        this.workers = this.workers.filter((w) => w !== entry);
        if (!this.closed) this.fail(entry, new DataError(`data loader worker exited unexpectedly (exit code ${code})`));
      });
      this.workers.push(entry);
    }
  }

  private fail(entry: PoolWorker, err: Error): void {
    this.failure ??= err;
    for (const p of entry.pending.values()) p.reject(err);
    entry.pending.clear();
  }

  run(task: Omit<WorkerTask, 'id'>): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new DataError('the data loader is closed'));
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.workers.length === 0) this.start();
    let best = this.workers[0];
    for (const w of this.workers) if (w.pending.size < best.pending.size) best = w;
    const id = this.nextId++;
    const full: WorkerTask = { ...task, id };
    return new Promise<Uint8Array>((resolve, reject) => {
      if (best.pending.size === 0) best.worker.ref();
      best.pending.set(id, { resolve, reject });
      best.worker.postMessage(full);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = this.workers;
    const err = new DataError('the data loader was closed while a batch was being prepared');
    for (const w of all) {
      for (const p of w.pending.values()) p.reject(err);
      w.pending.clear();
    }
    await Promise.all(all.map((w) => w.worker.terminate()));
    this.workers = [];
  }
}

function checkCount(v: number, what: string, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new DataError(`${what} must be an integer >= ${min}, but got ${v}`);
}

type Mode = { readonly kind: 'train'; readonly seed: number; readonly startStep: number } | { readonly kind: 'eval' };

/** A loader over one dataset; make one with trainLoader or evalLoader. */
export class DataLoader implements AsyncIterable<Batch> {
  readonly dataset: Dataset;
  readonly config: PreprocessConfig;
  /** Batch size over all ranks. */
  readonly batchSize: number;
  /** Batch size of this rank (batchSize / worldSize). */
  readonly localBatchSize: number;
  readonly rank: number;
  readonly worldSize: number;
  readonly workers: number;
  readonly prefetch: number;
  private readonly mode: Mode;
  private readonly pool: WorkerPool;
  private readonly permutations = new Map<number, Int32Array>();
  private iterating = false;
  private closed = false;

  constructor(dataset: Dataset, config: PreprocessConfig, mode: Mode, options: CommonLoaderOptions) {
    if (dataset.length === 0) throw new DataError(`${dataset.name} is empty: nothing to load`);
    this.dataset = dataset;
    this.config = config;
    this.mode = mode;
    checkCount(options.batchSize, 'batchSize', 1);
    this.batchSize = options.batchSize;
    this.worldSize = options.worldSize ?? 1;
    this.rank = options.rank ?? 0;
    checkCount(this.worldSize, 'worldSize', 1);
    checkCount(this.rank, 'rank', 0);
    if (this.rank >= this.worldSize) throw new DataError(`rank ${this.rank} is out of range for worldSize ${this.worldSize}`);
    if (this.batchSize % this.worldSize !== 0) {
      throw new DataError(`batchSize ${this.batchSize} must be a multiple of worldSize ${this.worldSize} (each rank takes batchSize / worldSize samples)`);
    }
    this.localBatchSize = this.batchSize / this.worldSize;
    this.workers = options.workers ?? defaultWorkers();
    checkCount(this.workers, 'workers', 1);
    this.prefetch = options.prefetch ?? 2;
    checkCount(this.prefetch, 'prefetch', 0);
    const concurrency = options.workerConcurrency ?? 4;
    checkCount(concurrency, 'workerConcurrency', 1);
    const memory = dataset.source.kind === 'memory' ? dataset.source.memory : null;
    this.pool = new WorkerPool(this.workers, { memory, concurrency });
  }

  /** Training: dataset length / batchSize (steps are not aligned to epochs). Evaluation: number of batches. */
  get stepsPerEpoch(): number {
    return this.mode.kind === 'train' ? this.dataset.length / this.batchSize : Math.ceil(this.dataset.length / this.batchSize);
  }

  /** Worker threads currently running (0 before the first batch and after close()). */
  get liveWorkers(): number {
    return this.pool.live;
  }

  /** The permutation of epoch e (training). */
  epochPermutation(epoch: number): Int32Array {
    if (this.mode.kind !== 'train') throw new DataError('evaluation loaders do not shuffle');
    let p = this.permutations.get(epoch);
    if (p === undefined) {
      p = permutation(this.dataset.length, this.mode.seed, RandomPurpose.epochPermutation, epoch);
      if (this.permutations.size >= 3) this.permutations.delete(this.permutations.keys().next().value as number);
      this.permutations.set(epoch, p);
    }
    return p;
  }

  /** The samples and augmentation of this rank's batch at `step`, without decoding anything. */
  plan(step: number): BatchPlan {
    checkCount(step, 'step', 0);
    const n = this.dataset.length;
    const first = step * this.batchSize + this.rank * this.localBatchSize;
    if (this.mode.kind === 'eval') {
      const count = Math.max(0, Math.min(this.localBatchSize, n - first));
      const indices = new Int32Array(count);
      for (let k = 0; k < count; k++) indices[k] = first + k;
      return { step, epoch: 0, indices, augment: null };
    }
    const indices = new Int32Array(this.localBatchSize);
    const augment = new Int32Array(this.localBatchSize * AUGMENT_STRIDE);
    const words = new Uint32Array(4);
    for (let k = 0; k < this.localBatchSize; k++) {
      const pos = first + k;
      const epoch = Math.floor(pos / n);
      indices[k] = this.epochPermutation(epoch)[pos - epoch * n];
      packAugmentation(sampleAugmentation(this.config, this.mode.seed, pos, words), augment, k);
    }
    return { step, epoch: Math.floor(first / n), indices, augment };
  }

  /** Decodes and preprocesses this rank's batch at `step`. */
  async load(step: number): Promise<Batch> {
    if (this.closed) throw new DataError('the data loader is closed');
    const plan = this.plan(step);
    const n = plan.indices.length;
    const crop = this.config.crop;
    const sampleBytes = crop * crop * 3;
    const augment = plan.augment ?? new Int32Array(n * AUGMENT_STRIDE);
    if (plan.augment === null) for (let k = 0; k < n; k++) packAugmentation({ top: 0, left: 0, height: crop, width: crop, flip: false }, augment, k);
    const chunks = Math.min(this.workers, Math.max(1, Math.ceil(n / 8)));
    const per = Math.ceil(n / chunks);
    const source = this.dataset.source;
    const parts: Promise<Uint8Array>[] = [];
    for (let start = 0; start < n; start += per) {
      const end = Math.min(n, start + per);
      const refs = new Int32Array(end - start);
      for (let k = start; k < end; k++) refs[k - start] = this.dataset.sourceIndex[plan.indices[k]];
      parts.push(
        this.pool.run({
          config: this.config,
          items: source.kind === 'memory' ? refs : null,
          files: source.kind === 'files' ? Array.from(refs, (r) => source.paths[r]) : null,
          augment: augment.slice(AUGMENT_STRIDE * start, AUGMENT_STRIDE * end),
        }),
      );
    }
    const done = await Promise.all(parts);
    let images: Uint8Array;
    if (done.length === 1) images = done[0];
    else {
      images = new Uint8Array(n * sampleBytes);
      let off = 0;
      for (const d of done) {
        images.set(d, off);
        off += d.length;
      }
    }
    return {
      images,
      labels: this.dataset.batchLabels(plan.indices),
      n,
      h: crop,
      w: crop,
      step,
      epoch: plan.epoch,
      indices: plan.indices,
      augment: plan.augment,
    };
  }

  /**
   * Training: batches from startStep on, forever. Evaluation: every batch
   * once. One loop at a time; breaking out leaves the loader usable.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Batch, void, undefined> {
    if (this.closed) throw new DataError('the data loader is closed');
    if (this.iterating) throw new DataError('this data loader is already being iterated: use one loop at a time');
    this.iterating = true;
    const window: Promise<Batch>[] = [];
    let next = this.mode.kind === 'train' ? this.mode.startStep : 0;
    const end = this.mode.kind === 'train' ? Number.POSITIVE_INFINITY : this.stepsPerEpoch;
    const fill = (): void => {
      while (window.length <= this.prefetch && next < end) {
        const p = this.load(next++);
        p.catch(() => undefined);
        window.push(p);
      }
    };
    try {
      fill();
      while (window.length > 0) {
        const p = window.shift() as Promise<Batch>;
        fill();
        yield await p;
      }
    } finally {
      this.iterating = false;
    }
  }

  /** Stops the workers; batches in preparation are rejected. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pool.close();
  }
}

/** A training loader: endless shuffled steps with BiT's random crop and flip (see the top of this file). */
export function trainLoader(dataset: Dataset, options: TrainLoaderOptions): DataLoader {
  const seed = options.seed ?? 0;
  checkSeed(seed);
  const startStep = options.startStep ?? 0;
  checkCount(startStep, 'startStep', 0);
  const config = trainPreprocess(options.precrop, options.crop, options.flip ?? dataset.defaultFlip, options.cropStyle);
  return new DataLoader(dataset, config, { kind: 'train', seed, startStep }, options);
}

/** An evaluation loader: the dataset once, in order, resized to crop x crop. */
export function evalLoader(dataset: Dataset, options: EvalLoaderOptions): DataLoader {
  return new DataLoader(dataset, evalPreprocess(options.crop), { kind: 'eval' }, options);
}

export interface LoaderThroughput {
  readonly imagesPerSecond: number;
  readonly images: number;
  readonly seconds: number;
  readonly workers: number;
}

/**
 * Measures a training loader's throughput: `warmupBatches` (default 2,
 * excluded: worker start-up) then `batches` (default 20) timed batches.
 */
export async function measureLoader(
  dataset: Dataset,
  options: TrainLoaderOptions & { readonly batches?: number; readonly warmupBatches?: number },
): Promise<LoaderThroughput> {
  const batches = options.batches ?? 20;
  const warmup = options.warmupBatches ?? 2;
  checkCount(batches, 'batches', 1);
  checkCount(warmup, 'warmupBatches', 0);
  const loader = trainLoader(dataset, options);
  try {
    let seen = 0;
    let images = 0;
    let t0 = performance.now();
    for await (const b of loader) {
      seen++;
      if (seen === warmup) t0 = performance.now();
      else if (seen > warmup) images += b.n;
      if (seen >= warmup + batches) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    return { imagesPerSecond: images / seconds, images, seconds, workers: loader.workers };
  } finally {
    await loader.close();
  }
}
