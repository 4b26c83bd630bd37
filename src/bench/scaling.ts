// How our throughput scales: images/s against the batch size and against the
// resolution, and what micro-batching costs (the same effective batch in
// 1, 2, 4... forward/backward passes before one update). Measured in this
// process, ours only.
import { getModel, modelCost } from '../models/index.js';
import * as T from '../tensor/index.js';
import { imagesPerSecond } from './stats.js';
import { benchLabels, flopsPerImage, timeForward, timeTrainSteps } from './workload.js';

export type ScalingAxis = 'batch' | 'resolution' | 'micro-batches';

export interface ScalingRow {
  readonly axis: ScalingAxis;
  readonly batch: number;
  readonly resolution: number;
  readonly microBatches: number;
  /** Null on micro-batching rows (inference does not micro-batch). */
  readonly forwardImagesPerSecond: number | null;
  readonly trainImagesPerSecond: number;
  /** Achieved training GFLOP/s. */
  readonly trainGflops: number;
}

export interface ScalingOptions {
  readonly model: string;
  /** The fixed batch of the resolution and micro-batching rows. */
  readonly batch: number;
  /** The fixed resolution of the batch and micro-batching rows. */
  readonly resolution: number;
  readonly batches: readonly number[];
  readonly resolutions: readonly number[];
  readonly microBatches: readonly number[];
  readonly warmup: number;
  readonly reps: number;
  readonly log: (line: string) => void;
}

export function measureScaling(o: ScalingOptions): ScalingRow[] {
  const entry = getModel(o.model);
  T.manualSeed(0);
  const model = entry.build({ zeroHead: false });
  const macsAt = new Map<number, number>();
  const macs = (res: number): number => {
    if (!macsAt.has(res)) macsAt.set(res, modelCost(entry, res).macs);
    return macsAt.get(res) as number;
  };
  const reps = { warmup: o.warmup, reps: o.reps };
  const rows: ScalingRow[] = [];
  const measure = (axis: ScalingAxis, batch: number, resolution: number, micro: number): void => {
    T.tidy(() => {
      const x = T.rand([batch, 3, resolution, resolution]).mul(2).sub(1);
      const labels = benchLabels(batch, model.headSize);
      const fwd = micro === 1 ? imagesPerSecond(batch, timeForward(model, x, reps).seconds) : null;
      const train = imagesPerSecond(batch, timeTrainSteps(model, x, labels, reps, micro).seconds);
      const row: ScalingRow = {
        axis,
        batch,
        resolution,
        microBatches: micro,
        forwardImagesPerSecond: fwd,
        trainImagesPerSecond: train,
        trainGflops: (flopsPerImage(macs(resolution), 'train') * train) / 1e9,
      };
      rows.push(row);
      o.log(
        `scaling ${axis}: batch ${batch} at ${resolution}px in ${micro} pass${micro === 1 ? '' : 'es'}: forward ${fwd === null ? '-' : fwd.toFixed(2)}, train ${train.toFixed(2)} images/s`,
      );
    });
  };
  try {
    for (const b of o.batches) measure('batch', b, o.resolution, 1);
    for (const r of o.resolutions) measure('resolution', o.batch, r, 1);
    for (const m of o.microBatches) {
      if (o.batch % m !== 0) throw new Error(`--scaling-micro ${m} does not divide the batch ${o.batch}`);
      measure('micro-batches', o.batch, o.resolution, m);
    }
    return rows;
  } finally {
    model.dispose();
  }
}
