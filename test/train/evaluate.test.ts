// The per-batch scoring of evaluation against hand computations: top-1 and
// top-5 hits and the loss, for single-label (softmax) and multi-label
// (sigmoid) data; the multi-label loss is summed over classes like the
// training loss, so the two compare.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import * as T from '../../src/tensor/index.js';
import { averagePrecision, meanAveragePrecision, scoreBatch } from '../../src/train/evaluate.js';

const logits = [
  [2, 1, 0, -1, -2, -3],
  [0, 3, 1, 2, -1, 0.5],
];

test('single-label: top-1 / top-5 hits and the summed cross-entropy', () => {
  // row 0: label 0 is the top prediction; row 1: label 4 (-1) is the 6th of 6, outside the top 5
  const [h1, h5, loss] = T.tidy(() => scoreBatch(T.tensor(logits.flat(), [2, 6]), T.tensor([0, 4], [2], 'int64'), false));
  const ce = (row: number[], y: number) => Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) - row[y];
  assert.deepEqual([h1, h5], [1, 1]);
  assert.ok(Math.abs(loss - (ce(logits[0], 0) + ce(logits[1], 4))) < 1e-5, `loss ${loss}`);
});

test('multi-label: a hit is a top prediction among the labels; the loss sums over images and classes', () => {
  // row 0 labels {1, 2}: top-1 is 0 (miss), 1 is in the top 5 (hit); row 1 labels {1}: top-1 hit
  const labels = [
    [0, 1, 1, 0, 0, 0],
    [0, 1, 0, 0, 0, 0],
  ];
  const [h1, h5, loss] = T.tidy(() => scoreBatch(T.tensor(logits.flat(), [2, 6]), T.tensor(labels.flat(), [2, 6]), true));
  const bce = (z: number, y: number) => Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
  let want = 0;
  for (let i = 0; i < 2; i++) for (let c = 0; c < 6; c++) want += bce(logits[i][c], labels[i][c]);
  assert.deepEqual([h1, h5], [1, 2]);
  assert.ok(Math.abs(loss - want) < 1e-5, `loss ${loss} vs ${want}`);
});

// Mean average precision (multi-label fine-tuning's metric) against scikit-learn's documented
// values of average_precision_score, and against a separate numpy computation of its formula.
test('average precision: the values in scikit-learn documentation (binary and macro over 3 classes, with ties)', () => {
  // sklearn.metrics.average_precision_score docstring: y_true [0, 0, 1, 1], y_scores [0.1, 0.4, 0.35, 0.8] -> 0.83...
  assert.ok(Math.abs(averagePrecision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) - 0.8333333) < 1e-6);
  // the same docstring (scikit-learn >= 1.3): labels 0,0,1,1,2,2 one-vs-rest with these scores -> 0.77... (macro mean)
  const scores = [
    [0.7, 0.2, 0.1],
    [0.4, 0.3, 0.3],
    [0.1, 0.8, 0.1],
    [0.2, 0.3, 0.5],
    [0.4, 0.4, 0.2],
    [0.1, 0.2, 0.7],
  ];
  const oneHot = [0, 0, 1, 1, 2, 2].flatMap((y) => [0, 1, 2].map((c) => (c === y ? 1 : 0)));
  const m = meanAveragePrecision(Float32Array.from(scores.flat()), oneHot, 3);
  assert.ok(m > 0.77 && m < 0.78, `mAP ${m}`);
  // by hand: class 0 ties 0.4 (one positive, one negative) -> 1/2 + 1/2 x 2/3; classes 1 and 2 -> 1/2 + 1/2 x 1/2
  assert.ok(Math.abs(m - (5 / 6 + 0.75 + 0.75) / 3) < 1e-6);
  // a class without a positive image is left out; every class without one gives NaN
  assert.ok(Math.abs(meanAveragePrecision(Float32Array.from([0.9, 0.1, 0.2, 0.3]), [1, 0, 0, 0], 2) - 1) < 1e-12);
  assert.ok(Number.isNaN(averagePrecision([0.5, 0.2], [0, 0])));
});

test('mean average precision equals a numpy computation of the formula on random scores with ties', () => {
  const n = 60;
  const classes = 5;
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  // scores rounded to one decimal, so many ties
  const scores = Float32Array.from({ length: n * classes }, () => Math.round(rand() * 10) / 10);
  const labels = Array.from({ length: n * classes }, () => (rand() < 0.3 ? 1 : 0));
  const py = [
    'import json, sys, numpy as np',
    'd = json.load(sys.stdin); s = np.array(d["s"], dtype=np.float32).reshape(-1, d["c"]); y = np.array(d["y"]).reshape(-1, d["c"])',
    'aps = []',
    'for c in range(d["c"]):',
    '    P = y[:, c].sum()',
    '    if P == 0: continue',
    '    ap, last = 0.0, 0.0',
    '    for t in sorted(set(s[:, c].tolist()), reverse=True):',
    '        sel = s[:, c] >= t; tp = y[sel, c].sum(); r = tp / P',
    '        ap += (r - last) * tp / sel.sum(); last = r',
    '    aps.append(ap)',
    'print(np.mean(aps))',
  ].join('\n');
  const r = spawnSync('python3', ['-c', py], { input: JSON.stringify({ s: Array.from(scores), y: labels, c: classes }), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const want = Number(r.stdout.trim());
  assert.ok(Math.abs(meanAveragePrecision(scores, labels, classes) - want) < 1e-9, `${meanAveragePrecision(scores, labels, classes)} vs numpy ${want}`);
});
