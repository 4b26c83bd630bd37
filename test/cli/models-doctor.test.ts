// `bit models` prints the lecture's FLOPs row; `bit doctor` reports the engine; errors exit non-zero.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { cliPath } from '../helpers.js';

const run = (args: string[]) => spawnSync(process.execPath, [cliPath(), ...args], { encoding: 'utf8' });

test('bit models --json lists every model; the classic ResNets match the lecture table at 224', () => {
  const r = run(['models', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as { name: string; params: number; macs: number }[];
  const byName = new Map(rows.map((x) => [x.name, x]));
  for (const name of [
    'BiT-S-R50x1',
    'BiT-S-R50x3',
    'BiT-S-R101x1',
    'BiT-S-R101x3',
    'BiT-S-R152x2',
    'BiT-S-R152x4',
    'BiT-M-R50x1',
    'BiT-M-R152x4',
    'BiT-Tiny',
    'ResNet-18',
  ]) {
    assert.ok(byName.has(name), name);
  }
  const table: [string, number][] = [
    ['ResNet-18', 1.8],
    ['ResNet-34', 3.6],
    ['ResNet-50', 3.8],
    ['ResNet-101', 7.6],
    ['ResNet-152', 11.3],
  ];
  for (const [name, g] of table) assert.ok(Math.abs(byName.get(name)!.macs / (g * 1e9) - 1) < 0.03, `${name}: ${byName.get(name)!.macs}`);
  const text = run(['models', '--resolution', '128']);
  assert.equal(text.status, 0);
  assert.match(text.stdout, /ResNet-50\s+25\.56M\s+1\.26G/);
});

test('bit doctor reports libtorch, BLAS and threads', () => {
  const r = run(['doctor', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout) as {
    addon: { loaded: boolean };
    libtorch: { version: string; library: string; distributed: boolean };
    blas: { library: string; matmulGflops: number };
    threads: { torch: number; cores: number };
  };
  assert.equal(d.addon.loaded, true);
  assert.match(d.libtorch.version, /^\d+\.\d+/);
  assert.match(d.libtorch.library, /libtorch_cpu\.so/);
  assert.match(d.blas.library, /openblas/, 'OpenBLAS, not the reference BLAS, is in use');
  assert.ok(d.blas.matmulGflops > 0);
  assert.equal(d.threads.torch, d.threads.cores);
});

test('bad flags and unknown commands exit non-zero with a message', () => {
  const a = run(['models', '--resolution', 'big']);
  assert.equal(a.status, 2);
  assert.match(a.stderr, /--resolution.*expected an integer/);
  const b = run(['frobnicate']);
  assert.equal(b.status, 2);
  assert.match(b.stderr, /unknown command 'frobnicate'/);
  const c = run(['finetune', '--model', 'BiT-Tiny']);
  assert.equal(c.status, 2);
  assert.match(c.stderr, /required option '--data <spec>' not specified/);
});
