// `bit experiment ws-lr --quick`: the four models at each learning rate, the highest stable learning rate of each.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arr, num, obj, runQuick } from './quick.js';

test('ws-lr --quick: BN / GN x plain / WS at each learning rate, and the highest stable learning rate per model', async () => {
  const q = await runQuick('ws-lr', [/\.highestStableLr\[\d+\]\.lr$/, /\.finalLoss$/, /\.top1$/]);
  try {
    const seeds = arr(q.config.seeds, 'config.seeds');
    const lrs = arr(q.config.lrs, 'config.lrs').map((x) => num(x, 'lr', 0));
    const runs = arr(q.results.runs, 'runs', 4 * seeds.length * lrs.length).map((r, i) => obj(r, `runs[${i}]`));
    assert.deepEqual([...new Set(runs.map((r) => Number(r.lr)))].sort(), [...lrs].sort());
    assert.deepEqual([...new Set(runs.map((r) => `${String(r.norm)}/${String(r.ws)}`))].sort(), ['BN/false', 'BN/true', 'GN/false', 'GN/true']);
    const stable = arr(q.results.highestStableLr, 'highestStableLr', 4).map((h) => obj(h, 'entry'));
    assert.deepEqual(
      stable.map((h) => h.model),
      ['BN', 'BN+WS', 'GN', 'GN+WS'],
    );
    // each model's highest stable rate is one of those tried, and every seed of its runs there finished with the threshold
    for (const h of stable) {
      if (h.lr === null) continue;
      assert.ok(lrs.includes(h.lr as number));
      const at = runs.filter((r) => `${String(r.norm)}${r.ws === true ? '+WS' : ''}` === h.model && r.lr === h.lr);
      assert.ok(at.every((r) => r.diverged === false && (r.top1 as number) >= (q.config.stableTop1 as number)));
    }
  } finally {
    q.cleanup();
  }
});
