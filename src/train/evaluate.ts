// Top-1 / top-5 accuracy and loss over a whole split; on multi-label data also
// the mean average precision over classes (the usual multi-label metric).
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
  /** Multi-label data: mean over classes (those with a positive image) of the average precision; absent for single-label data. */
  map?: number;
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

/**
 * Average precision of one class from scores and 0/1 labels, as scikit-learn's
 * average_precision_score: sum over the distinct score thresholds, from the
 * highest, of (recall gained) x (precision at that threshold); tied scores
 * form one threshold. NaN when the class has no positive.
 */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let positives = 0;
  for (let i = 0; i < n; i++) positives += labels[i] > 0 ? 1 : 0;
  if (positives === 0) return NaN;
  let ap = 0;
  let tp = 0;
  let seen = 0;
  let lastRecall = 0;
  for (let i = 0; i < n;) {
    const t = scores[order[i]];
    for (; i < n && scores[order[i]] === t; i++, seen++) tp += labels[order[i]] > 0 ? 1 : 0;
    const recall = tp / positives;
    ap += (recall - lastRecall) * (tp / seen);
    lastRecall = recall;
  }
  return ap;
}

/** Mean over classes of the average precision; `scores` and `labels` are n x classes, row-major. Classes without a positive image are left out (NaN when none has one). */
export function meanAveragePrecision(scores: Float32Array, labels: ArrayLike<number>, classes: number): number {
  const n = scores.length / classes;
  const col = new Float32Array(n);
  const lab = new Uint8Array(n);
  let sum = 0;
  let counted = 0;
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < n; i++) {
      col[i] = scores[i * classes + c];
      lab[i] = labels[i * classes + c] > 0 ? 1 : 0;
    }
    const ap = averagePrecision(col, lab);
    if (!Number.isNaN(ap)) {
      sum += ap;
      counted++;
    }
  }
  return counted > 0 ? sum / counted : NaN;
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
  // multi-label: every logit and label row, for the mean average precision
  const scoreRows: Float32Array[] = [];
  const labelRows: Uint8Array[] = [];
  try {
    for await (const b of loader) {
      if (b.n === 0) continue;
      const [h1, h5, l] = T.tidy(() =>
        T.noGrad(() => {
          const logits = model.forward(toModelInput(rawImages(b)));
          if (ds.multiLabel) {
            scoreRows.push(Float32Array.from(logits.float().toArray()));
            labelRows.push(Uint8Array.from(b.labels));
          }
          return scoreBatch(logits, labelTensor(b, ds.multiLabel, ds.numClasses), ds.multiLabel);
        }),
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
  const localN = n;
  if (col) [hit1, hit5, lossSum, n] = col.sum([hit1, hit5, lossSum, n]);
  const result: EvalResult = { top1: hit1 / n, top5: hit5 / n, loss: lossSum / n, n };
  if (!ds.multiLabel) return result;
  let scores = concat(scoreRows, Float32Array);
  let labels: ArrayLike<number> = concat(labelRows, Uint8Array);
  if (col) [scores, labels] = gatherRows(col, localN, n, ds.numClasses, scores, labels);
  return { ...result, map: meanAveragePrecision(scores, labels, ds.numClasses) };
}

function concat<A extends Float32Array | Uint8Array>(parts: readonly A[], Ctor: { new (n: number): A }): A {
  const out = new Ctor(parts.reduce((k, p) => k + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Every rank's rows of scores and labels, in rank order (an all-gather through sums: each rank fills its own rows of zeros). */
function gatherRows(
  col: Collective,
  localN: number,
  total: number,
  classes: number,
  scores: Float32Array,
  labels: ArrayLike<number>,
): [Float32Array, number[]] {
  const counts = col.sum(Array.from({ length: col.world }, (_, r) => (r === col.rank ? localN : 0)));
  const offset = counts.slice(0, col.rank).reduce((a, b) => a + b, 0) * classes;
  const own = (src: ArrayLike<number>) => {
    const row = new Array<number>(total * classes).fill(0);
    for (let i = 0; i < src.length; i++) row[offset + i] = src[i];
    return col.sum(row);
  };
  return [Float32Array.from(own(scores)), own(labels)];
}
