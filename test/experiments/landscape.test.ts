// `bit experiment landscape --quick`: the shape of its outputs, not their values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arr, num, obj, runQuick } from './quick.js';

test('landscape --quick: loss and gradient-change ranges at regular steps for each network', async () => {
  const q = await runQuick('landscape');
  try {
    const variants = arr(q.config.variants, 'config.variants');
    const steps = num(obj(q.config.optim, 'optim').steps, 'steps', 1);
    const every = num(q.config.probeEvery, 'probeEvery', 1);
    const runs = arr(q.results.runs, 'runs', variants.length).map((r, i) => obj(r, `runs[${i}]`));
    for (const r of runs) {
      assert.equal(r.diverged, false);
      num(r.top1, 'top1', 0, 1);
      const probes = arr(r.probes, 'probes', Math.ceil(steps / every)).map((p, i) => obj(p, `probes[${i}]`));
      for (const p of probes) {
        const lo = num(p.lossMin, 'lossMin', 0);
        assert.ok(lo <= num(p.loss, 'loss', 0) && num(p.loss, 'loss') <= num(p.lossMax, 'lossMax', 0), 'lossMin <= loss <= lossMax');
        assert.ok(num(p.gradChangeMin, 'gradChangeMin', 0) <= num(p.gradChangeMax, 'gradChangeMax', 0));
        num(p.gradNorm, 'gradNorm', 0);
        num(p.beta, 'beta', 0);
      }
    }
  } finally {
    q.cleanup();
  }
});
