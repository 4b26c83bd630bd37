// `bit experiment` on the command line: usage errors exit 2 and list the
// experiments; a quick run writes its report where --out says.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { cliPath } from '../helpers.js';
import { EXPERIMENT_NAMES } from '../../src/experiments/index.js';

function bit(...args: string[]) {
  return spawnSync(process.execPath, [cliPath(), ...args], { encoding: 'utf8', env: { ...process.env, BIT_THREADS: '1' } });
}

test("the seven experiments of the issue are registered, in the lecture's order", () => {
  assert.deepEqual(EXPERIMENT_NAMES, ['batch-size', 'ws-table', 'groups', 'noisy-bn', 'landscape', 'mixup', 'scale']);
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

test('bit experiment landscape --quick --out DIR writes report.md, results.json and the figure', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'bit-exp-cli-'));
  try {
    const r = bit('experiment', 'landscape', '--quick', '--out', out, '--threads', '1');
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['report.md', 'results.json', 'landscape.png', 'landscape.svg']) assert.ok(existsSync(path.join(out, f)), f);
    assert.match(r.stdout, /wrote .*report\.md/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
