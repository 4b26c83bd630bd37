// The main thread's handle on the inference worker (worker.ts): starts it,
// sends it one batch at a time and gives back its answers. The main thread
// never touches a tensor; it only loads the addon before starting the worker,
// so that libgomp starts with the OpenMP settings the addon loader sets (a
// worker's process.env is a copy that native code does not see).
import { Worker } from 'node:worker_threads';
import type { InferenceOutputs, InferenceResult } from '../eval/inference.js';
import * as T from '../tensor/index.js';
import { UsageError } from '../util/errors.js';
import { siblingWorkerUrl, workerExecArgv } from '../util/worker.js';
import type { FromWorker, ModelInfo, ToWorker, WorkerInit } from './protocol.js';

export interface BatchResult extends InferenceResult {
  readonly seconds: number;
}

interface Pending {
  resolve: (r: BatchResult) => void;
  reject: (err: Error) => void;
}

/** How long close() waits for the worker to free the model and exit before terminating it. */
const CLOSE_GRACE_MS = 5000;

export class InferenceEngine {
  /** Resolves once the model is loaded; rejects (UsageError for bad input) if it cannot be. */
  readonly ready: Promise<ModelInfo>;
  /** Live libtorch tensors after the last batch (the model's parameters and caches). */
  liveTensors = 0;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #closed = false;
  #exited: Promise<void>;
  #onFatal: (err: Error) => void = () => {};
  #rejectReady: (err: Error) => void = () => {};

  constructor(init: WorkerInit) {
    T.memory(); // loads the addon in this thread first (see the header)
    this.#worker = new Worker(siblingWorkerUrl(import.meta.url, 'worker'), { workerData: init, execArgv: workerExecArgv() });
    let readyResolve: (info: ModelInfo) => void = () => {};
    this.ready = new Promise<ModelInfo>((resolve, reject) => {
      readyResolve = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {}); // observed by the caller; not an unhandled rejection meanwhile
    this.#worker.on('message', (m: FromWorker) => {
      if (m.kind === 'ready') {
        this.liveTensors = m.liveTensors;
        readyResolve(m.info);
      } else if (m.kind === 'failed') {
        this.#rejectReady(m.usage ? new UsageError(m.message) : new Error(m.message));
      } else if (m.kind === 'result' || m.kind === 'error') {
        const p = this.#pending.get(m.id);
        if (p === undefined) return;
        this.#pending.delete(m.id);
        if (m.kind === 'error') p.reject(new Error(`inference failed: ${m.message}`));
        else {
          this.liveTensors = m.liveTensors;
          p.resolve({ probabilities: m.probabilities, features: m.features, seconds: m.seconds });
        }
      }
    });
    this.#exited = new Promise<void>((resolve) => {
      this.#worker.on('error', (err: Error) => this.#fail(new Error(`the inference worker failed: ${err.message}`, { cause: err })));
      this.#worker.on('exit', (code) => {
        if (!this.#closed) this.#fail(new Error(`the inference worker exited unexpectedly (exit code ${code})`));
        resolve();
      });
    });
  }

  /** Called once if the worker dies outside close(): the service cannot answer any more. */
  onFatal(fn: (err: Error) => void): void {
    this.#onFatal = fn;
  }

  #fail(err: Error): void {
    this.#rejectReady(err);
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    if (!this.#closed) {
      this.#closed = true;
      this.#onFatal(err);
    }
  }

  /** One forward pass over n images (resolution x resolution x 3 bytes each, back to back; the buffer is transferred). */
  run(pixels: Uint8Array, n: number, resolution: number, want: InferenceOutputs): Promise<BatchResult> {
    if (this.#closed) return Promise.reject(new Error('the inference worker is closed'));
    const id = this.#nextId++;
    const msg: ToWorker = { kind: 'batch', id, pixels, n, resolution, probabilities: want.probabilities, features: want.features };
    return new Promise<BatchResult>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage(msg, [pixels.buffer as ArrayBuffer]);
    });
  }

  /** Frees the model in the worker and waits for it to exit (terminating it after a grace period). */
  async close(): Promise<void> {
    if (this.#closed) return this.#exited;
    this.#closed = true;
    const msg: ToWorker = { kind: 'close' };
    this.#worker.postMessage(msg);
    const timer = setTimeout(() => void this.#worker.terminate(), CLOSE_GRACE_MS);
    try {
      await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
