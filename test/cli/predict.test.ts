// `bit predict`: the golden logits through the CLI's .npy path, and top-k labels of image files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

/** BiT-Tiny weights with a 3-class head and class names; `poison` puts a NaN into one head weight. */
async function tinyWeights(file: string, classNames: string[], poison = false): Promise<void> {
  T.manualSeed(5);
  const model = buildModel('BiT-Tiny', { headSize: classNames.length, zeroHead: false });
  if (poison)
    T.noGrad(
      () =>
        void model.store
          .entries()
          .find((e) => e.key === 'resnet/head/conv2d/bias')!
          .tensor.fill_(Number.NaN),
    );
  await saveWeights(model, file, [metaArray({ model: 'BiT-Tiny', headSize: classNames.length, classNames, crop: 32 })]);
  model.dispose();
}

test('bit predict refuses NaN or infinite input and weights, naming the image or the key, instead of printing NaN%', async () => {
  const weights = path.join(dir, 'plain3.npz');
  await tinyWeights(weights, ['a', 'b', 'c']);
  const x = path.join(dir, 'nan-input.npy');
  const data = new Float32Array(3 * 32 * 32 * 3);
  data[2 * 32 * 32 * 3 + 7] = Number.NaN;
  data[2 * 32 * 32 * 3 + 8] = Number.POSITIVE_INFINITY;
  await writeNpy(x, { dtype: 'float32', shape: [3, 32, 32, 3], data });
  const r = run(['predict', '--weights', weights, '--input', x, '--output', path.join(dir, 'nan-out.npy'), '--threads', '1']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`bit: ${x}: image 2 \\(of 3\\) holds 2 NaN or infinite values: expected float32 in \\[-1, 1\\]`));
  const poisoned = path.join(dir, 'poisoned.npz');
  await tinyWeights(poisoned, ['a', 'b', 'c'], true);
  const p = run(['predict', '--weights', poisoned, path.join(dir, 'digit0.png'), '--threads', '1']);
  assert.equal(p.status, 1, p.stdout);
  assert.match(p.stderr, new RegExp(`bit: ${poisoned}: 'resnet/head/conv2d/bias' holds NaN or infinite values`));
  assert.doesNotMatch(p.stdout, /NaN/);
});

test('bit predict names a folder given as an image, and quotes file and class names holding line breaks', async () => {
  const weights = path.join(dir, 'names.npz');
  await tinyWeights(weights, ['plain', 'two\nlines', 'tab\there']);
  const folder = run(['predict', '--weights', weights, dir, '--threads', '1']);
  assert.equal(folder.status, 1);
  assert.match(folder.stderr, new RegExp(`bit: cannot decode image ${dir}: it is a folder, not an image file`));
  const odd = path.join(dir, 'odd\nname.png');
  copyFileSync(path.join(dir, 'digit0.png'), odd);
  const r = run(['predict', '--weights', weights, '--top', '3', odd, '--threads', '1']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 4, 'one line for the file and one per class');
  assert.equal(lines[0], JSON.stringify(odd));
  assert.deepEqual(
    lines
      .slice(1)
      .map((l) => l.replace(/^ +[\d.]+% {2}/, ''))
      .sort(),
    ['"tab\\there"', '"two\\nlines"', 'plain'],
  );
});
