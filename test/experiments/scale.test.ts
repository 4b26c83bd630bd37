// `bit experiment scale --quick`: the shape of its outputs, not their values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arr, num, obj, runQuick } from './quick.js';

test('scale --quick: few-shot accuracy per (model, upstream fraction), with random-init references', async () => {
  // random-init rows have no upstream accuracy
  const q = await runQuick('scale', [/\.upstreamTop1$/]);
  try {
    const models = arr(q.config.models, 'config.models');
    const fractions = arr(obj(q.config.upstream, 'upstream').fractions, 'fractions');
    const shots = arr(obj(q.config.downstream, 'downstream').shots, 'shots');
    const rows = arr(q.results.rows, 'rows', models.length * (fractions.length + 1)).map((r, i) => obj(r, `rows[${i}]`));
    for (const r of rows) {
      const f = num(r.fraction, 'fraction', 0, 1);
      if (f === 0) assert.equal(r.upstreamTop1, null);
      else num(r.upstreamTop1, 'upstreamTop1', 0, 1);
      const fs = arr(r.fewShot, 'fewShot', shots.length).map((x, i) => obj(x, `fewShot[${i}]`));
      assert.deepEqual(
        fs.map((x) => x.shots),
        shots,
      );
      for (const x of fs) {
        num(x.mean, 'mean', 0, 1);
        num(x.std, 'std', 0, 1);
      }
    }
  } finally {
    q.cleanup();
  }
});
