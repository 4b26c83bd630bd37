// The per-batch scoring of evaluation against hand computations: top-1 and
// top-5 hits and the loss, for single-label (softmax) and multi-label
// (sigmoid) data; the multi-label loss is summed over classes like the
// training loss, so the two compare.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as T from '../../src/tensor/index.js';
import { scoreBatch } from '../../src/train/evaluate.js';

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
