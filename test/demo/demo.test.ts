// `bit demo --quick` end to end on the real data (MNIST upstream, UCI digits
// downstream), as users run it: the table, the verdict line, the files, and a
// rerun that reuses the cached upstream checkpoints. Values are not asserted
// (a tiny model for 30 steps proves nothing about transfer); their shape is.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { cliPath } from '../helpers.js';

const out = mkdtempSync(path.join(tmpdir(), 'bit-demo-'));
after(() => rmSync(out, { recursive: true, force: true }));

function demo() {
  return spawnSync(process.execPath, [cliPath(), 'demo', '--quick', '--out', out, '--workers', '1'], {
    encoding: 'utf8',
    env: { ...process.env, BIT_NO_TTY: '1' },
    timeout: 300_000,
  });
}

interface DemoJson {
  upstream: { label: string; top1: number | null; weights: string }[];
  verdict: string;
  curves: { label: string; method: string; rows: { shots: number; accuracies: number[]; mean: number; std: number }[] }[];
}

test('bit demo --quick: pre-trains twice, transfers with both evaluators, writes the table and figure; a rerun reuses the upstream runs', () => {
  const r = demo();
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['demo.json', 'demo.md', 'demo.svg', 'demo.png']) assert.ok(existsSync(path.join(out, f)), f);
  const j = JSON.parse(readFileSync(path.join(out, 'demo.json'), 'utf8')) as DemoJson;
  assert.deepEqual(
    j.upstream.map((u) => u.label),
    ['mnist 100%', 'mnist 10%'],
  );
  for (const u of j.upstream) {
    assert.ok(existsSync(u.weights), u.weights);
    assert.ok(u.top1 !== null && u.top1 >= 0 && u.top1 <= 1, `${u.label} top-1 ${u.top1}`);
  }
  const sources = ['mnist 100%', 'mnist 10%', 'from scratch'];
  assert.deepEqual(
    j.curves.map((c) => `${c.label}/${c.method}`),
    [...sources.map((s) => `${s}/linear`), ...sources.map((s) => `${s}/finetune`)],
  );
  for (const c of j.curves) {
    assert.deepEqual(
      c.rows.map((row) => row.shots),
      [1, 5],
      c.label,
    );
    for (const row of c.rows) {
      assert.equal(row.accuracies.length, 2, `${c.label} ${row.shots}-shot: one accuracy per seed`);
      assert.ok(
        row.accuracies.every((a) => a >= 0 && a <= 1),
        `${c.label}: ${row.accuracies.join(', ')}`,
      );
      assert.ok(Math.abs(row.mean - (row.accuracies[0] + row.accuracies[1]) / 2) < 1e-12);
    }
  }
  assert.match(
    j.verdict,
    /^linear: transfer (beat scratch at 1-shot by -?\d+\.\d points|did NOT beat scratch at 1-shot \(-?\d+\.\d points\)); 100% vs 10% upstream: [+-]\d+\.\d points at 1-shot, [+-]\d+\.\d at 5-shot \| finetune: /,
  );
  assert.match(r.stdout, /model \/ upstream\s+method\s+1-shot\s+5-shot/);
  assert.ok(r.stdout.includes(j.verdict), 'the verdict line is printed');

  const again = demo();
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /upstream mnist 100%: cached in /);
  assert.match(again.stderr, /upstream mnist 10%: cached in /);
  assert.doesNotMatch(again.stderr, /pre-training BiT-Tiny/);
});
