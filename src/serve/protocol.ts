// Messages between `bit serve`'s main thread (engine.ts) and its inference
// worker (worker.ts). Only plain data crosses: pixels go in and typed arrays
// come back, their buffers transferred, never copied; tensors stay in the
// worker that made them.
import type { InferenceOutputs } from '../eval/inference.js';

/** Given to the worker at start: what to load. */
export interface WorkerInit {
  /** The --weights argument, resolved by the same loader as `bit predict --weights`. */
  readonly weights: string;
  /** Model name, for files without metadata (official BiT files). */
  readonly model: string | null;
  readonly headSize: number | null;
  /** libtorch threads. */
  readonly threads: number;
}

/** What the loaded model is, from the weights and their metadata. */
export interface ModelInfo {
  readonly model: string;
  readonly headSize: number;
  readonly featureDim: number;
  readonly classNames: readonly string[] | null;
  /** The resolution the head was trained at (the weights' metadata), if recorded. */
  readonly crop: number | null;
  readonly parameters: number;
}

export interface BatchRequest extends InferenceOutputs {
  readonly kind: 'batch';
  readonly id: number;
  /** n images of resolution x resolution x 3 bytes (transferred). */
  readonly pixels: Uint8Array;
  readonly n: number;
  readonly resolution: number;
}

export type ToWorker = BatchRequest | { readonly kind: 'close' };

export type FromWorker =
  | { readonly kind: 'ready'; readonly info: ModelInfo; readonly liveTensors: number }
  | { readonly kind: 'failed'; readonly message: string; readonly usage: boolean }
  | {
      readonly kind: 'result';
      readonly id: number;
      readonly probabilities: Float32Array | null;
      readonly features: Float32Array | null;
      /** Seconds the forward pass took. */
      readonly seconds: number;
      /** Live libtorch tensors in the process after the pass (the model's parameters and caches, nothing per request). */
      readonly liveTensors: number;
    }
  | { readonly kind: 'error'; readonly id: number; readonly message: string }
  | { readonly kind: 'closed' };
