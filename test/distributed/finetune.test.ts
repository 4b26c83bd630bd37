// The data-parallel flags on `bit finetune`: two workers train the weights of
// one (GN+WS, no MixUp below 20k examples) and the sharded evaluation counts
// every test image once.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { maxWeightDiff, runBit } from './run-bit.js';
import { removeDir, tempDir } from '../helpers.js';

const dir = tempDir('finetune');
after(() => removeDir(dir));

interface Metrics {
  steps: number;
  top1: number;
  eval_images: number;
  world_size: number;
}

test('bit finetune --nproc-per-node 2 trains the weights of one process and evaluates every test image once', async () => {
  const args = (out: string) => [
    'finetune',
    '--model',
    'BiT-Tiny',
    '--data',
    'digits',
    '--out',
    out,
    '--steps',
    '4',
    '--batch',
    '16',
    '--lr',
    '0.01',
    '--resolution',
    '32',
    '--precrop',
    '36',
  ];
  const one = path.join(dir, 'one');
  const two = path.join(dir, 'two');
  const r1 = await runBit([...args(one), '--threads', '1', '--workers', '1']);
  assert.equal(r1.code, 0, r1.output);
  const r2 = await runBit([...args(two), '--nproc-per-node', '2', '--master-port', '0']);
  assert.equal(r2.code, 0, r2.output);
  const m1 = JSON.parse(readFileSync(path.join(one, 'metrics.json'), 'utf8')) as Metrics;
  const m2 = JSON.parse(readFileSync(path.join(two, 'metrics.json'), 'utf8')) as Metrics;
  assert.deepEqual([m1.world_size, m2.world_size], [1, 2]);
  assert.deepEqual([m1.eval_images, m2.eval_images], [500, 500]);
  assert.equal(m2.top1, m1.top1, 'the same weights score the same on the same test images');
  const { diff, key } = await maxWeightDiff(path.join(one, 'model.npz'), path.join(two, 'model.npz'));
  assert.ok(diff <= 1e-5, `max |diff| ${diff} at ${key}`);
});
