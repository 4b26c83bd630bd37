// `bit experiment groups --quick`: every setting of each row trains a network
// of its own (the quick form's 2 steps leave every error at chance, 90%, but
// the test losses of two settings differ unless the setting never reached
// the network), and each row's error and difference to the best are the
// means of its runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arr, num, obj, runQuick } from './quick.js';

test('groups --quick: each setting trains its own network; rows are the means of their runs', async () => {
  const q = await runQuick('groups');
  try {
    const g = arr(q.config.groups, 'config.groups');
    const c = arr(q.config.channelsPerGroup, 'config.channelsPerGroup');
    const seeds = arr(q.config.seeds, 'config.seeds');
    const runs = arr(q.results.runs, 'runs', (g.length + c.length) * seeds.length).map((r, i) => obj(r, `runs[${i}]`));
    const rows = arr(q.results.rows, 'rows', g.length + c.length).map((r, i) => obj(r, `rows[${i}]`));
    for (const row of ['groups', 'channelsPerGroup']) {
      const settings = row === 'groups' ? g : c;
      const rs = rows.filter((r) => r.row === row);
      assert.deepEqual(
        rs.map((r) => r.setting),
        settings,
      );
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const errors = settings.map((s) => mean(runs.filter((r) => r.row === row && r.setting === s).map((r) => num(r.error, `${row} ${s} error`, 0, 1))));
      const best = Math.min(...errors);
      rs.forEach((r, i) => {
        assert.ok(Math.abs(num(r.error, 'row error') - errors[i]) < 1e-12, `${row} ${settings[i]}: error ${r.error} vs the mean of its runs ${errors[i]}`);
        assert.ok(Math.abs(num(r.deltaToBest, 'deltaToBest') - (errors[i] - best)) < 1e-12, `${row} ${settings[i]}: difference to the best`);
      });
      // per seed, the settings of a row give different networks: their test losses differ
      for (const seed of seeds) {
        const losses = settings.map((s) => num(runs.find((r) => r.row === row && r.setting === s && r.seed === seed)?.testLoss, `${row} ${s} test loss`, 0));
        assert.equal(new Set(losses).size, losses.length, `${row}, seed ${seed}: test losses ${losses.join(', ')} must differ between settings`);
      }
    }
  } finally {
    q.cleanup();
  }
});
