// `bit predict`: the golden logits through the CLI's .npy path, and top-k labels of image files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { openDataset, parseDataSpec } from '../../src/data/index.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { buildModel, metaArray, saveWeights } from '../../src/models/index.js';
import * as T from '../../src/tensor/index.js';
import { assertClose, cliPath, fixture } from '../helpers.js';
import { formulaInput, writeFormulaWeights } from '../models/golden-formula.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bit-predict-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const run = (args: string[]) => spawnSync(process.execPath, [cliPath(), ...args], { encoding: 'utf8' });

test('bit predict reproduces the golden logits from .npy input (official file without metadata)', async () => {
  const c = (
    JSON.parse(readFileSync(fixture('bit-golden', 'cases.json'), 'utf8')) as {
      blockUnits: number[];
      headSize: number;
      resolution: number;
      batch: number;
      logits: number[][];
    }[]
  )[0];
  const weights = path.join(dir, 'r50.npz');
  await writeFormulaWeights(weights, c.blockUnits, 1, c.headSize);
  const x = path.join(dir, 'x.npy');
  const y = path.join(dir, 'y.npy');
  await writeNpy(x, { dtype: 'float32', shape: [c.batch, c.resolution, c.resolution, 3], data: formulaInput(c.batch, c.resolution) });
  const missing = run(['predict', '--weights', weights, '--input', x, '--output', y]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /does not say which model it holds .*: pass --model NAME/);
  const r = run(['predict', '--model', 'BiT-M-R50x1', '--head-size', String(c.headSize), '--weights', weights, '--input', x, '--output', y]);
  assert.equal(r.status, 0, r.stderr);
  const logits = await readNpy(y);
  assert.deepEqual(logits.shape, [c.batch, c.headSize]);
  assertClose(Array.from(logits.data as Float32Array), c.logits.flat(), 2e-4, 'logits');
});

test('bit predict prints the top-k classes of image files with the names stored in the weights', async () => {
  T.manualSeed(3);
  const model = buildModel('BiT-Tiny', { headSize: 10, zeroHead: false });
  const weights = path.join(dir, 'tiny.npz');
  await saveWeights(model, weights, [
    metaArray({ model: 'BiT-Tiny', headSize: 10, classNames: ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'], crop: 32 }),
  ]);
  model.dispose();
  const digits = await openDataset(parseDataSpec('digits'), 'test');
  const files: string[] = [];
  for (let i = 0; i < 2; i++) {
    const img = await digits.readImage(i);
    const f = path.join(dir, `digit${i}.png`);
    await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } })
      .png()
      .toFile(f);
    files.push(f);
  }
  const r = run(['predict', '--weights', weights, '--top', '3', '--json', ...files]);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { image: string; top: { label: string; index: number; probability: number }[] }[];
  assert.deepEqual(
    out.map((o) => o.image),
    files,
  );
  for (const o of out) {
    assert.equal(o.top.length, 3);
    assert.ok(
      o.top.every(
        (t, j) =>
          t.label === ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'][t.index] &&
          (j === 0 || t.probability <= o.top[j - 1].probability),
      ),
    );
    assert.ok(o.top.reduce((s, t) => s + t.probability, 0) <= 1 + 1e-6);
  }
  const bad = run(['predict', '--weights', weights, path.join(dir, 'missing.png')]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /missing\.png/);
});
