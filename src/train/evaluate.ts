// Top-1 / top-5 accuracy and loss over a whole split.
import { evalLoader, type Dataset } from '../data/index.js';
import type { ImageClassifier } from '../models/index.js';
import * as T from '../tensor/index.js';
import { labelTensor, rawImages, toModelInput } from './batch.js';
import type { Collective } from './collective.js';

export interface EvalResult {
  /** Fraction of images whose top prediction is (one of) their label(s). */
  top1: number;
  /** Fraction whose label is among the 5 top predictions (single-label data). */
  top5: number;
  loss: number;
  n: number;
}

export interface EvalOptions {
  crop: number;
  batchSize?: number;
  workers?: number;
  collective?: Collective | null;
}

/** Counts [top-1 hits, top-5 hits, loss sum] of one batch. */
export function scoreBatch(logits: T.Tensor, labels: T.Tensor, multiLabel: boolean): [number, number, number] {
  return T.tidy(() => {
    const n = logits.shape[0];
    const k = Math.min(5, logits.shape[1]);
    const top = logits.topk(k, 1).indices;
    if (multiLabel) {
      const hit1 = labels
        .gather(1, top.narrow(1, 0, 1))
        .sum()
        .item();
      const hit5 = labels.gather(1, top).amax(1).sum().item();
      // summed over classes, as the training loss (trainer's lossOf), so the two compare
      return [hit1, hit5, T.bceWithLogits(logits, labels, 'sum').item()];
    }
    // top-k indices are distinct, so each row matches its label at most once
    const eq = top.eq(labels.reshape([n, 1]));
    return [eq.narrow(1, 0, 1).sum().item(), eq.sum().item(), T.crossEntropy(logits, labels, { reduction: 'sum' }).item()];
  });
}

/** Evaluates `model` on every image of `ds` (sharded over ranks when a collective is given). */
export async function evaluate(model: ImageClassifier, ds: Dataset, opts: EvalOptions): Promise<EvalResult> {
  const col = opts.collective ?? null;
  const loader = evalLoader(ds, {
    batchSize: (opts.batchSize ?? 64) * (col?.world ?? 1),
    crop: opts.crop,
    workers: opts.workers,
    rank: col?.rank ?? 0,
    worldSize: col?.world ?? 1,
  });
  const wasTraining = model.training;
  model.eval();
  let [hit1, hit5, lossSum, n] = [0, 0, 0, 0];
  try {
    for await (const b of loader) {
      if (b.n === 0) continue;
      const [h1, h5, l] = T.tidy(() =>
        T.noGrad(() => scoreBatch(model.forward(toModelInput(rawImages(b))), labelTensor(b, ds.multiLabel, ds.numClasses), ds.multiLabel)),
      );
      hit1 += h1;
      hit5 += h5;
      lossSum += l;
      n += b.n;
    }
  } finally {
    await loader.close();
    model.train(wasTraining);
  }
  if (col) [hit1, hit5, lossSum, n] = col.sum([hit1, hit5, lossSum, n]);
  return { top1: hit1 / n, top5: hit5 / n, loss: lossSum / n, n };
}
