// `bit experiment ws-table --quick`: the shape of its outputs, not their values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arr, num, obj, runQuick } from './quick.js';

test('ws-table --quick: the 2x2 table {BN, GN} x {plain, WS} and a loss curve per cell', async () => {
  const q = await runQuick('ws-table');
  try {
    const seeds = arr(q.config.seeds, 'config.seeds');
    const runs = arr(q.results.runs, 'runs', 4 * seeds.length);
    const cells = runs.map((r, i) => {
      const run = obj(r, `runs[${i}]`);
      num(run.top1, `runs[${i}].top1`, 0, 1);
      const curve = arr(run.lossCurve, `runs[${i}].lossCurve`);
      assert.ok(curve.length > 0);
      for (const p of curve) arr(p, 'curve point', 2).forEach((v) => num(v, 'curve value', 0));
      return `${String(run.norm)}/${String(run.ws)}`;
    });
    assert.deepEqual([...new Set(cells)].sort(), ['BN/false', 'BN/true', 'GN/false', 'GN/true']);
    const table = arr(q.results.table, 'table', 2);
    assert.deepEqual(
      table.map((r) => obj(r, 'row').norm),
      ['BN', 'GN'],
    );
    for (const r of table) {
      num(obj(r, 'row').plain, 'plain', 0, 1);
      num(obj(r, 'row').ws, 'ws', 0, 1);
    }
  } finally {
    q.cleanup();
  }
});
