import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { openDigits } from '../../src/data/builtin.js';
import { openImageFolder } from '../../src/data/folder.js';
import { evalLoader, trainLoader, type Batch } from '../../src/data/loader.js';
import { evalPreprocess, PIXEL_OFFSET, PIXEL_SCALE, preprocessSample, sampleAugmentation, trainPreprocess } from '../../src/data/preprocess.js';
import { makeDigitFolder, mnistPixels, mnistTestSet, type DigitFolder } from './fixtures.js';
import { removeDir, tempDir } from '../helpers.js';

const tmp = tempDir('preprocess');
let digits: DigitFolder;
before(async () => {
  digits = await makeDigitFolder(path.join(tmp, 'digits'), 4, 1);
});
after(() => removeDir(tmp));

/** Independent reference: sharp resize, then sharp extract at the offset, then sharp flop. */
async function reference(
  input: sharp.Sharp,
  precrop: number,
  crop: number,
  top: number,
  left: number,
  flip: boolean,
): Promise<{ data: Buffer; channels: number }> {
  const resized = await input.resize(precrop, precrop, { fit: 'fill', kernel: 'linear' }).raw().toBuffer({ resolveWithObject: true });
  const raw = { width: precrop, height: precrop, channels: resized.info.channels };
  const cropped = await sharp(resized.data, { raw }).extract({ left, top, width: crop, height: crop }).raw().toBuffer();
  const out = flip
    ? await sharp(cropped, { raw: { width: crop, height: crop, channels: raw.channels } })
        .flop()
        .raw()
        .toBuffer()
    : cropped;
  return { data: out, channels: raw.channels };
}

function assertMatches(got: Uint8Array, want: { data: Buffer; channels: number }, what: string): void {
  const n = got.length / 3;
  assert.equal(want.data.length, n * want.channels, what);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) {
      const w = want.data[p * want.channels + (want.channels === 1 ? 0 : c)];
      if (got[p * 3 + c] !== w) assert.fail(`${what}: pixel ${p} channel ${c} is ${got[p * 3 + c]}, expected ${w}`);
    }
  }
}

test('train preprocessing on MNIST: the 128 crop of the 160 resize at the reported offset, flipped when reported', async () => {
  const ds = await mnistTestSet();
  const loader = trainLoader(ds, { batchSize: 12, precrop: 160, crop: 128, flip: true, seed: 11, workers: 1 });
  let batch: Batch | null = null;
  try {
    for await (const b of loader) {
      batch = b;
      break;
    }
  } finally {
    await loader.close();
  }
  assert.ok(batch !== null && batch.augment !== null);
  assert.equal(batch.h, 128);
  assert.equal(batch.images.length, 12 * 128 * 128 * 3);
  let flips = 0;
  for (let k = 0; k < batch.n; k++) {
    const [top, left, flip] = batch.augment.subarray(3 * k, 3 * k + 3);
    assert.ok(top >= 0 && top <= 32 && left >= 0 && left <= 32, `crop offset (${top}, ${left}) outside the 160x160 image`);
    flips += flip;
    const grey = Buffer.from(await mnistPixels(batch.indices[k]));
    const want = await reference(sharp(grey, { raw: { width: 28, height: 28, channels: 1 } }), 160, 128, top, left, flip === 1);
    assertMatches(batch.images.subarray(k * 128 * 128 * 3, (k + 1) * 128 * 128 * 3), want, `MNIST test ${batch.indices[k]}`);
  }
  assert.ok(flips > 0 && flips < 12, `${flips} of 12 flipped`);
});

test('train preprocessing on image files (RGB, RGBA, grey, JPEG, WebP) matches sharp extract and flop', async () => {
  const ds = await openImageFolder(digits.root, 'train');
  const config = trainPreprocess(40, 32, true);
  for (let i = 0; i < ds.length; i++) {
    const aug = { top: (i * 3) % 9, left: (i * 5) % 9, flip: i % 2 === 1 };
    const got = await preprocessSample(ds, i, config, aug);
    assert.equal(got.channels, 3);
    const file = ds.filePath(i) as string;
    const meta = await sharp(file).metadata();
    // Alpha dropped before resizing, as the loader documents.
    const input =
      meta.hasAlpha === true
        ? sharp(await sharp(file).removeAlpha().raw().toBuffer(), { raw: { width: 28, height: 28, channels: 3 } })
        : sharp(file).toColourspace('srgb');
    assertMatches(got.data, await reference(input, 40, 32, aug.top, aug.left, aug.flip), file);
  }
  await assert.rejects(preprocessSample(ds, ds.length, config), /sample index 12 out of range \[0, 12\)/);
});

test('flips happen at rate ~0.5, never when disabled; crop offsets cover the valid range', () => {
  const on = trainPreprocess(160, 128, true);
  const off = trainPreprocess(160, 128, false);
  const n = 20000;
  let flips = 0;
  let sumTop = 0;
  const tops = new Set<number>();
  const lefts = new Set<number>();
  for (let p = 0; p < n; p++) {
    const a = sampleAugmentation(on, 3, p);
    flips += a.flip ? 1 : 0;
    sumTop += a.top;
    tops.add(a.top);
    lefts.add(a.left);
    const b = sampleAugmentation(off, 3, p);
    assert.equal(b.flip, false);
    assert.equal(b.top, a.top);
  }
  assert.ok(Math.abs(flips / n - 0.5) < 0.015, `flip rate ${flips / n}`);
  assert.equal(tops.size, 33);
  assert.equal(lefts.size, 33);
  assert.equal(Math.min(...tops), 0);
  assert.equal(Math.max(...tops), 32);
  assert.ok(Math.abs(sumTop / n - 16) < 0.3, `mean top offset ${sumTop / n}`);
  assert.deepEqual(sampleAugmentation(evalPreprocess(128), 3, 5), { top: 0, left: 0, flip: false });
});

test('flip defaults: off for mnist and digits, on for image folders; off means never', async () => {
  const mnist = await mnistTestSet();
  const digitsTrain = await openDigits('train');
  const folder = await openImageFolder(digits.root, 'train');
  const l1 = trainLoader(mnist, { batchSize: 8, precrop: 40, crop: 32, workers: 1 });
  const l2 = trainLoader(digitsTrain, { batchSize: 8, precrop: 40, crop: 32, workers: 1 });
  const l3 = trainLoader(folder, { batchSize: 8, precrop: 40, crop: 32, workers: 1 });
  assert.equal(l1.config.flip, false);
  assert.equal(l2.config.flip, false);
  assert.equal(l3.config.flip, true);
  for (let s = 0; s < 200; s++) {
    const a = l1.plan(s).augment as Int32Array;
    for (let k = 0; k < 8; k++) assert.equal(a[3 * k + 2], 0);
  }
  await Promise.all([l1.close(), l2.close(), l3.close()]);
});

test('eval preprocessing is a deterministic resize to crop x crop', async () => {
  const ds = await openImageFolder(digits.root, 'test');
  const run = async (): Promise<Batch[]> => {
    const loader = evalLoader(ds, { batchSize: 2, crop: 24, workers: 2 });
    const out: Batch[] = [];
    try {
      for await (const b of loader) out.push(b);
    } finally {
      await loader.close();
    }
    return out;
  };
  const a = await run();
  const b = await run();
  assert.deepEqual(
    a.map((x) => x.n),
    [2, 1],
  );
  assert.deepEqual(
    a.map((x) => [...x.indices]),
    [[0, 1], [2]],
  );
  for (let k = 0; k < a.length; k++) {
    assert.deepEqual(a[k].images, b[k].images);
    assert.equal(a[k].augment, null);
  }
  for (let i = 0; i < ds.length; i++) {
    const file = ds.filePath(i) as string;
    const meta = await sharp(file).metadata();
    const input =
      meta.hasAlpha === true
        ? sharp(await sharp(file).removeAlpha().raw().toBuffer(), { raw: { width: 28, height: 28, channels: 3 } })
        : sharp(file).toColourspace('srgb');
    const want = await reference(input, 24, 24, 0, 0, false);
    const batch = a[Math.floor(i / 2)];
    const k = i % 2;
    assertMatches(batch.images.subarray(k * 24 * 24 * 3, (k + 1) * 24 * 24 * 3), want, file);
  }
});

test('preprocessing settings are checked; the [-1, 1] scaling constants', () => {
  assert.throws(() => trainPreprocess(128, 160, true), /crop size 160 is larger than the precrop size 128/);
  assert.throws(() => trainPreprocess(0, 0, true), /precrop size must be an integer in \[1, 8192\], but got 0/);
  assert.throws(() => evalPreprocess(12.5), /crop size must be an integer/);
  assert.equal(0 * PIXEL_SCALE + PIXEL_OFFSET, -1);
  assert.equal(255 * PIXEL_SCALE + PIXEL_OFFSET, 1);
});
