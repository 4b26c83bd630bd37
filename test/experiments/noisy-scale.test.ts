// `bit experiment noisy-scale --quick`: the standard network and BatchNorm at each noise scale.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scaledNoise } from '../../src/experiments/noisy-bn.js';
import { SANTURKAR_NOISE } from '../../src/nn/index.js';
import { arr, num, obj, runQuick } from './quick.js';

test("noisy-scale: scale 0 injects nothing, scale 1 is the paper's noise", () => {
  assert.deepEqual(scaledNoise(0), { nMu: 0, nSigma: 1, rMu: 0, rSigma: 0 });
  assert.deepEqual(scaledNoise(1), SANTURKAR_NOISE);
  assert.deepEqual(scaledNoise(2), { nMu: 1, nSigma: 1.5, rMu: 0.2, rSigma: 0.2 });
});

test('noisy-scale --quick: one run per seed for the standard network and each noise scale, the gain over the standard network per scale', async () => {
  const q = await runQuick('noisy-scale', [/\.scale$/]);
  try {
    const seeds = arr(q.config.seeds, 'config.seeds');
    const scales = arr(q.config.scales, 'config.scales').map((x) => num(x, 'scale', 0));
    const runs = arr(q.results.runs, 'runs', seeds.length * (scales.length + 1)).map((r, i) => obj(r, `runs[${i}]`));
    assert.deepEqual([...new Set(runs.map((r) => r.scale))], [null, ...scales]);
    for (const r of runs) num(r.top1, 'top1', 0, 1);
    const benefit = arr(q.results.benefit, 'benefit', scales.length).map((b) => obj(b, 'benefit'));
    const std = runs.filter((r) => r.scale === null).reduce((a, r) => a + (r.top1 as number), 0) / seeds.length;
    for (const b of benefit) {
      const at = runs.filter((r) => r.scale === b.scale).reduce((a, r) => a + (r.top1 as number), 0) / seeds.length;
      assert.ok(Math.abs(num(b.top1Gain, 'gain') - (at - std)) < 1e-12);
    }
  } finally {
    q.cleanup();
  }
});
