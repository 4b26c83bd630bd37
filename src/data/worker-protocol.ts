// Messages between the loader (loader.ts) and its worker threads (worker.ts).
import type { MemoryPixels } from './decode.js';
import type { PreprocessConfig } from './preprocess.js';

/** Given to every worker at start. */
export interface WorkerInit {
  /** In-memory pixels (in a SharedArrayBuffer), or null for file datasets. */
  readonly memory: MemoryPixels | null;
  /** Samples a worker decodes at the same time. */
  readonly concurrency: number;
}

/** One piece of a batch to decode and preprocess. */
export interface WorkerTask {
  readonly id: number;
  readonly config: PreprocessConfig;
  /** Memory datasets: the item of each sample in the pixel source. */
  readonly items: Int32Array | null;
  /** File datasets: the file of each sample. */
  readonly files: readonly string[] | null;
  /** Per sample: top, left, height, width, flip (0/1) (preprocess.ts packAugmentation). */
  readonly augment: Int32Array;
}

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly images: Uint8Array }
  | { readonly id: number; readonly ok: false; readonly message: string; readonly path: string | null };
