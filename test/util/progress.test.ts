// RunProgress: which run of how many, and the time left from the runs that did
// work (reused runs cost nothing), on a mocked clock.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { RunProgress } from '../../src/util/progress.js';

test('RunProgress numbers the runs and estimates the time left from the runs that worked', () => {
  mock.timers.enable({ apis: ['Date'], now: 0 });
  try {
    const lines: string[] = [];
    const p = new RunProgress(4, 'fewshot', (l) => lines.push(l));
    p.start('a');
    mock.timers.tick(60_000);
    p.end();
    p.start('b (finished earlier)');
    p.end(true);
    p.start('c');
    mock.timers.tick(120_000);
    p.end();
    p.start('d');
    assert.deepEqual(lines, [
      'fewshot: run 1/4: a',
      // 3 runs left at 60 s each
      'fewshot: run 2/4: b (finished earlier) (about 3 min 0 s left)',
      // the reused run does not count: 2 runs left at 60 s
      'fewshot: run 3/4: c (about 2 min 0 s left)',
      // 1 run left at (60 + 120) / 2 s
      'fewshot: run 4/4: d (about 1 min 30 s left)',
    ]);
    assert.deepEqual([p.started, p.total], [4, 4]);
  } finally {
    mock.timers.reset();
  }
});
