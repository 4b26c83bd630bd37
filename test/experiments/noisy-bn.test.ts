// `bit experiment noisy-bn --quick`: the shape of its outputs, not their values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arr, num, obj, runQuick } from './quick.js';

test('noisy-bn --quick: training-loss and test-accuracy curves for the standard network, BatchNorm and noisy BatchNorm', async () => {
  const q = await runQuick('noisy-bn', [/\.stepsToTarget$/]);
  try {
    const seeds = arr(q.config.seeds, 'config.seeds');
    const steps = num(obj(q.config.optim, 'optim').steps, 'steps', 1);
    const every = num(q.config.evalEvery, 'evalEvery', 1);
    const runs = arr(q.results.runs, 'runs', 3 * seeds.length).map((r, i) => obj(r, `runs[${i}]`));
    assert.deepEqual([...new Set(runs.map((r) => r.variant))], ['Standard', 'Standard + BatchNorm', 'Standard + "Noisy" BatchNorm']);
    for (const r of runs) {
      assert.equal(r.diverged, false);
      num(r.top1, 'top1', 0, 1);
      assert.ok(arr(r.lossCurve, 'lossCurve').length > 0);
      const tc = arr(r.testCurve, 'testCurve', Math.ceil(steps / every));
      tc.forEach((p) => num(arr(p, 'point', 2)[1], 'test top-1', 0, 1));
    }
  } finally {
    q.cleanup();
  }
});
