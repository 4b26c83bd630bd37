// `bit experiment batch-size --quick`: the shape of its outputs, not their values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arr, num, obj, runQuick } from './quick.js';

test('batch-size --quick: one run per (variant, images per device, seed) and a summary cell per (variant, size)', async () => {
  const q = await runQuick('batch-size');
  try {
    const variants = arr(q.config.variants, 'config.variants');
    const sizes = arr(q.config.perDevice, 'config.perDevice');
    const seeds = arr(q.config.seeds, 'config.seeds');
    assert.ok(variants.length === 3 && sizes.length >= 2);
    const runs = arr(q.results.runs, 'runs', variants.length * sizes.length * seeds.length);
    for (const [i, r] of runs.entries()) {
      const run = obj(r, `runs[${i}]`);
      assert.equal(run.diverged, false);
      num(run.error, `runs[${i}].error`, 0, 1);
      assert.ok(sizes.includes(num(run.perDevice, 'perDevice')));
    }
    const cells = arr(q.results.cells, 'cells', variants.length * sizes.length);
    for (const [i, c] of cells.entries()) {
      const e = obj(obj(c, `cells[${i}]`).error, `cells[${i}].error`);
      for (const k of ['mean', 'std', 'min', 'max']) num(e[k], `cells[${i}].error.${k}`, 0, 1);
    }
  } finally {
    q.cleanup();
  }
});
