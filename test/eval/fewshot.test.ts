// The linear few-shot evaluator against an independent computation: numpy
// solving the ridge normal equations directly (no eigen-decomposition).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitLinearFewShot, linearFewShotAccuracy, predictLinearFewShot, summarizeSeeds } from '../../src/eval/fewshot.js';
import * as T from '../../src/tensor/index.js';
import { assertClose } from '../helpers.js';
import { pythonJson, requirePython } from '../python.js';

const NUMPY_RIDGE = `
import json, sys, numpy as np
p = json.load(sys.stdin)
x = np.array(p['x'], dtype=np.float64).reshape(p['n'], p['d'])
t = np.array(p['t'], dtype=np.float64).reshape(p['m'], p['d'])
y = np.array(p['y'])
mean = x.mean(0, keepdims=True)
std = x.std(0, keepdims=True) + 1e-5
def design(f):
    z = (f - mean) / std
    return np.concatenate([z, np.full((z.shape[0], 1), 100.0)], 1)
a = design(x)
targets = 2.0 * np.eye(p['c'])[y] - 1.0
w = np.linalg.solve(a.T @ a + p['l2'] * np.eye(a.shape[1]), a.T @ targets)
pred = np.argmax(design(t) @ w, 1)
print(json.dumps({'w': w.ravel().tolist(), 'pred': pred.tolist()}))
`;

function numpyRidge(x: number[], n: number, t: number[], m: number, d: number, y: number[], c: number, l2: number): { w: number[]; pred: number[] } {
  requirePython(['numpy'], 'python3-numpy');
  return pythonJson(NUMPY_RIDGE, [], JSON.stringify({ x, n, t, m, d, y, c, l2 })) as { w: number[]; pred: number[] };
}

for (const [n, d, label] of [
  [40, 6, 'more points than features (eigh of a^T a)'],
  [9, 30, 'more features than points (eigh of a a^T)'],
] as const) {
  test(`ridge weights and predictions match numpy's direct solve: ${label}`, () => {
    T.manualSeed(n * 100 + d);
    const c = 3;
    const m = 25;
    const x = T.randn([n, d]).mul(3).add(1);
    const t = T.randn([m, d]).mul(3).add(1);
    const y = Int32Array.from({ length: n }, (_, i) => i % c);
    for (const l2 of [1024, 1]) {
      const ref = numpyRidge(x.toArray(), n, t.toArray(), m, d, Array.from(y), c, l2);
      const fit = fitLinearFewShot(x, y, c, l2);
      assertClose(fit.w.toArray(), ref.w, 1e-8 * Math.max(1, ...ref.w.map(Math.abs)), `weights (l2 ${l2})`);
      assert.deepEqual(Array.from(predictLinearFewShot(fit, t)), ref.pred);
      T.dispose([fit.mean, fit.std, fit.w]);
    }
    T.dispose([x, t]);
  });
}

test('a separable problem is solved; accuracy counts hits', () =>
  T.tidy(() => {
    // class = which of 4 coordinates is large
    const rows: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 20; i++) {
      const cls = i % 4;
      for (let j = 0; j < 4; j++) rows.push(j === cls ? 5 + (i % 3) : ((i * 7 + j) % 3) / 10);
      y.push(cls);
    }
    const x = T.tensor(rows, [20, 4]);
    assert.equal(linearFewShotAccuracy(x, Int32Array.from(y), x, Int32Array.from(y), 4), 1);
  }));

test('seed summaries: mean and sample standard deviation', () => {
  const r = summarizeSeeds(5, [0.5, 0.7, 0.6]);
  assertClose([r.mean, r.std], [0.6, 0.1], 1e-12);
  assert.equal(summarizeSeeds(1, [0.3]).std, 0);
});
