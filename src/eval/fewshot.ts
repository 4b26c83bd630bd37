// Few-shot evaluation with the closed-form linear evaluator of BiT's
// successors (big_vision, evaluators/fewshot_lsr.py): frozen pre-logit
// features, standardized with the training features' mean and std, a constant
// bias column, one-hot targets mapped to {-1, +1}, ridge regression with
// l2 = 2^10 solved in closed form through an eigen-decomposition, argmax.
import { kShotIndices, type Dataset } from '../data/index.js';
import type { ImageClassifier } from '../models/index.js';
import * as T from '../tensor/index.js';
import { summarize } from '../report/index.js';
import { embedDataset } from './embed.js';

/** big_vision's default ridge strength. */
export const FEWSHOT_L2 = 2 ** 10;
/** The bias column: large, so the bias is almost unregularized (big_vision BIAS_CONSTANT). */
export const FEWSHOT_BIAS = 100;
/** Added to the features' std (big_vision). */
export const FEWSHOT_STD_EPS = 1e-5;
export const DEFAULT_SHOTS: readonly number[] = [1, 5, 10, 25];
export const DEFAULT_SEEDS = 3;

export interface Features {
  /** [N, D] float32, kept: dispose when done. */
  x: T.Tensor;
  labels: Int32Array;
}

/** Pre-logit features of every image of `ds` (eval preprocessing: resize to crop x crop), with their labels: `bit embed`'s embeddings. */
export async function extractFeatures(model: ImageClassifier, ds: Dataset, opts: { crop: number; batchSize?: number; workers?: number }): Promise<Features> {
  const labels = ds.requireLabels('feature extraction');
  return { x: await embedDataset(model, ds, opts), labels };
}

/** A fitted linear few-shot classifier: scores = [standardize(x), BIAS] @ w. */
export interface LinearFewShotModel {
  mean: T.Tensor;
  std: T.Tensor;
  /** [D + 1, classes], float64. */
  w: T.Tensor;
}

/** Standardized features with the constant bias column, float64. */
function design(f: T.Tensor, mean: T.Tensor, std: T.Tensor): T.Tensor {
  const z = f.to('float64').sub(mean).div(std);
  return T.cat([z, T.full([z.shape[0], 1], FEWSHOT_BIAS, { dtype: 'float64' })], 1);
}

/**
 * Fits the ridge regression exactly as big_vision does (in float64):
 * (A) n >= d: w = (a^T a + l2 I)^-1 a^T y; (B) d > n: w = a^T (a a^T + l2 I)^-1 y,
 * both as lhs diag(1 / (eig + l2)) rhs from one eigen-decomposition. x: [n, D].
 */
export function fitLinearFewShot(x: T.Tensor, y: Int32Array, numClasses: number, l2 = FEWSHOT_L2): LinearFewShotModel {
  return T.tidy(() => {
    const x64 = x.to('float64');
    const mean = x64.mean(0, true);
    const std = x64.std(0, { correction: 0, keepdim: true }).add(FEWSHOT_STD_EPS);
    const a = design(x64, mean, std);
    const targets = T.oneHot(T.tensor(y, [y.length]).to('int64'), numClasses)
      .to('float64')
      .mul(2)
      .sub(1);
    const [n, d] = a.shape;
    let lhs: T.Tensor;
    let rhs: T.Tensor;
    let eigs: T.Tensor;
    if (n >= d) {
      const { values, vectors } = T.eigh(T.matmul(a.T, a));
      eigs = values;
      rhs = T.matmul(vectors.T, T.matmul(a.T, targets));
      lhs = vectors;
    } else {
      const { values, vectors } = T.eigh(T.matmul(a, a.T));
      eigs = values;
      rhs = T.matmul(vectors.T, targets);
      lhs = T.matmul(a.T, vectors);
    }
    const w = T.matmul(lhs.mul(eigs.add(l2).reciprocal().reshape([1, -1])), rhs);
    return { mean, std, w };
  });
}

/** Predicted classes of `x` [m, D]. */
export function predictLinearFewShot(m: LinearFewShotModel, x: T.Tensor): Int32Array {
  return Int32Array.from(
    T.tidy(() =>
      T.matmul(design(x, m.mean, m.std), m.w)
        .argmax(1)
        .toArray(),
    ),
  );
}

/** Accuracy on (testX, testY) of the classifier fit on (x, y). */
export function linearFewShotAccuracy(x: T.Tensor, y: Int32Array, testX: T.Tensor, testY: Int32Array, numClasses: number, l2 = FEWSHOT_L2): number {
  const m = fitLinearFewShot(x, y, numClasses, l2);
  try {
    const pred = predictLinearFewShot(m, testX);
    let hits = 0;
    for (let i = 0; i < pred.length; i++) if (pred[i] === testY[i]) hits++;
    return hits / pred.length;
  } finally {
    T.dispose([m.mean, m.std, m.w]);
  }
}

export interface FewShotRow {
  shots: number;
  /** Accuracy of each seed. */
  accuracies: number[];
  mean: number;
  /** Sample standard deviation over seeds (0 for one seed). */
  std: number;
}

export function summarizeSeeds(shots: number, accuracies: number[]): FewShotRow {
  const s = summarize(accuracies, `${shots}-shot accuracies`);
  return { shots, accuracies, mean: s.mean, std: s.std };
}

/**
 * The linear few-shot evaluator over shots and seeds: every (shots, seed)
 * subset is drawn first, features are computed once for the training images
 * those subsets use (not the whole split) and once for the test split, then
 * each subset is solved in closed form. For one seed, the draws are nested
 * (5-shot inside 10-shot), as in big_vision.
 */
export async function linearFewShot(
  model: ImageClassifier,
  train: Dataset,
  test: Dataset,
  opts: { crop: number; shots?: readonly number[]; seeds?: number; l2?: number; workers?: number },
): Promise<FewShotRow[]> {
  const shots = opts.shots ?? DEFAULT_SHOTS;
  const seeds = opts.seeds ?? DEFAULT_SEEDS;
  const draws = shots.map((k) => Array.from({ length: seeds }, (_, s) => kShotIndices(train, k, s)));
  const used = Int32Array.from(new Set(draws.flat().flatMap((d) => Array.from(d)))).sort();
  const row = new Map(Array.from(used, (i, r) => [i, r]));
  const tr = await extractFeatures(model, train.subset(used, train.name), opts);
  const te = await extractFeatures(model, test, opts);
  try {
    return shots.map((k, ki) => {
      const acc = draws[ki].map((idx) =>
        T.tidy(() => {
          const rows = Int32Array.from(idx, (i) => row.get(i)!);
          const x = tr.x.indexSelect(0, T.tensor(rows, [rows.length]).to('int64'));
          return linearFewShotAccuracy(
            x,
            Int32Array.from(rows, (r) => tr.labels[r]),
            te.x,
            te.labels,
            train.numClasses,
            opts.l2,
          );
        }),
      );
      return summarizeSeeds(k, acc);
    });
  } finally {
    tr.x.dispose();
    te.x.dispose();
  }
}
