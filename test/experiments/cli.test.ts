// `bit experiment` on the command line: usage errors exit 2 and list the
// experiments; a quick run writes its report where --out says.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { cliPath } from '../helpers.js';
import { band, checkOutcomes, type Outcome } from '../../src/experiments/common.js';
import { EXPERIMENT_NAMES } from '../../src/experiments/index.js';

function bit(...args: string[]) {
  return spawnSync(process.execPath, [cliPath(), ...args], { encoding: 'utf8', env: { ...process.env, BIT_THREADS: '1' } });
}

test("the experiments are registered, in the lecture's order (the sweeps beside the study they extend)", () => {
  assert.deepEqual(EXPERIMENT_NAMES, ['batch-size', 'ws-table', 'ws-lr', 'groups', 'noisy-bn', 'noisy-scale', 'landscape', 'mixup', 'scale']);
});

test('an outcome outside its band fails the check; one without a band for the form is not checked', () => {
  const o: Outcome<{ x: number | null }>[] = [
    { name: 'x (points)', measure: (r) => r.x, bands: { full: band(1, 2, '+1.5 here'), quick: band(-1, 1, '0 here') } },
    { name: 'full only', measure: () => 0, bands: { full: band(5, 6, '5.5 here') } },
  ];
  assert.deepEqual(
    checkOutcomes(o, { x: 1.5 }, 'full').map((c) => [c.name, c.inside]),
    [
      ['x (points)', true],
      ['full only', false],
    ],
  );
  assert.deepEqual(
    checkOutcomes(o, { x: 1.5 }, 'quick').map((c) => [c.name, c.value, c.inside]),
    [['x (points)', 1.5, false]],
  );
  // a value that cannot be measured (a diverged run) is outside every band
  assert.equal(checkOutcomes(o, { x: null }, 'quick')[0].inside, false);
  assert.throws(() => band(2, 1, 'x'), /lo must not exceed hi/);
});

test('an unknown experiment exits 2 and names the valid ones', () => {
  const r = bit('experiment', 'no-such-study');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /no-such-study/);
  assert.match(r.stderr, /batch-size/);
});

test('--help lists every experiment with its expected full run time', () => {
  const r = bit('experiment', '--help');
  assert.equal(r.status, 0);
  for (const name of EXPERIMENT_NAMES) assert.match(r.stdout, new RegExp(`^\\s+${name}\\s`, 'm'));
  assert.match(r.stdout, /full form about \d+ min/);
});

test('bit experiment landscape --quick --check --out DIR writes report.md, results.json and the figure, and checks the outcomes', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'bit-exp-cli-'));
  try {
    const r = bit('experiment', 'landscape', '--quick', '--check', '--out', out, '--threads', '1');
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['report.md', 'results.json', 'landscape.png', 'landscape.svg']) assert.ok(existsSync(path.join(out, f)), f);
    assert.match(r.stdout, /wrote .*report\.md/);
    // --check: each outcome with its band, all inside
    assert.match(r.stdout, /outcomes \(quick bands\):\n {2}in band {2}loss range along the gradient/);
    assert.doesNotMatch(r.stdout, /OUTSIDE/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
