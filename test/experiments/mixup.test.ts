// `bit experiment mixup --quick`: the shape of its outputs, not their values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arr, num, obj, runQuick } from './quick.js';

test('mixup --quick: test error and miss rates per method, and the toy problem grids', async () => {
  const q = await runQuick('mixup');
  try {
    const alphas = arr(q.config.alphas, 'config.alphas');
    const seeds = arr(q.config.seeds, 'config.seeds');
    const lambdas = arr(q.config.missLambdas, 'config.missLambdas');
    const runs = arr(q.results.runs, 'runs', alphas.length * seeds.length).map((r, i) => obj(r, `runs[${i}]`));
    for (const r of runs) {
      num(r.error, 'error', 0, 1);
      arr(r.missRates, 'missRates', lambdas.length).forEach((m) => num(m, 'miss rate', 0, 1));
    }
    const toyCfg = obj(q.config.toy, 'config.toy');
    const n = num(toyCfg.grid, 'grid', 2);
    const toy = obj(q.results.toy, 'toy');
    arr(toy.points, 'points', 2 * num(toyCfg.perClass, 'perClass', 1));
    arr(toy.xs, 'xs', n);
    arr(toy.ys, 'ys', n);
    for (const key of ['erm', 'mixup']) {
      for (const row of arr(toy[key], key, n)) arr(row, `${key} row`, n).forEach((p) => num(p, 'p(y=1|x)', 0, 1));
    }
    num(toy.ermTrainAccuracy, 'ermTrainAccuracy', 0, 1);
    num(toy.mixupTrainAccuracy, 'mixupTrainAccuracy', 0, 1);
    assert.ok(alphas.includes(0), 'ERM is one of the methods');
  } finally {
    q.cleanup();
  }
});
