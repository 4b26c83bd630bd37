// What the training loop needs from data-parallel training. Implemented over
// c10d/Gloo in distributed.ts; a single process uses no collective at all.
import type { Tensor } from '../tensor/index.js';

export interface Collective {
  readonly rank: number;
  readonly world: number;
  /** Sums each parameter's gradient over ranks and divides by the world size (bucketed). */
  averageGradients(params: readonly Tensor[]): void;
  /** Element-wise sum of numbers over ranks. */
  sum(values: readonly number[]): number[];
  /** Overwrites every rank's tensors with rank 0's. */
  broadcast(tensors: readonly Tensor[]): void;
  /**
   * Waits, without a time limit but watching the other ranks' heartbeats, until
   * every rank arrives (rank 0's long work: checkpoint IO). Optional: an
   * in-process collective has nothing to wait for.
   */
  barrier?(label: string): void;
}
