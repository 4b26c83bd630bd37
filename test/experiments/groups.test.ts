// `bit experiment groups --quick`: the shape of its outputs, not their values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arr, num, obj, runQuick } from './quick.js';

test('groups --quick: an error and a difference to the best for every group count and every channels-per-group setting', async () => {
  const q = await runQuick('groups');
  try {
    const g = arr(q.config.groups, 'config.groups');
    const c = arr(q.config.channelsPerGroup, 'config.channelsPerGroup');
    const seeds = arr(q.config.seeds, 'config.seeds');
    arr(q.results.runs, 'runs', (g.length + c.length) * seeds.length);
    const rows = arr(q.results.rows, 'rows', g.length + c.length);
    for (const row of ['groups', 'channelsPerGroup']) {
      const rs = rows.map((r, i) => obj(r, `rows[${i}]`)).filter((r) => r.row === row);
      assert.deepEqual(
        rs.map((r) => r.setting),
        row === 'groups' ? g : c,
      );
      const deltas = rs.map((r) => {
        num(r.error, `${row} error`, 0, 1);
        return num(r.deltaToBest, `${row} deltaToBest`, 0, 1);
      });
      assert.equal(Math.min(...deltas), 0, 'the best setting has difference 0');
    }
  } finally {
    q.cleanup();
  }
});
