import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { openDigits } from '../../src/data/builtin.js';
import { openImageFolder } from '../../src/data/folder.js';
import { evalLoader, trainLoader, type Batch } from '../../src/data/loader.js';
import {
  evalPreprocess,
  INCEPTION_CROP,
  inceptionWindow,
  PIXEL_OFFSET,
  PIXEL_SCALE,
  preprocessSample,
  sampleAugmentation,
  trainPreprocess,
  unpackAugmentation,
} from '../../src/data/preprocess.js';
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
    const { top, left, height, width, flip } = unpackAugmentation(batch.augment, k);
    assert.deepEqual([height, width], [128, 128]);
    assert.ok(top >= 0 && top <= 32 && left >= 0 && left <= 32, `crop offset (${top}, ${left}) outside the 160x160 image`);
    flips += flip ? 1 : 0;
    const grey = Buffer.from(await mnistPixels(batch.indices[k]));
    const want = await reference(sharp(grey, { raw: { width: 28, height: 28, channels: 1 } }), 160, 128, top, left, flip);
    assertMatches(batch.images.subarray(k * 128 * 128 * 3, (k + 1) * 128 * 128 * 3), want, `MNIST test ${batch.indices[k]}`);
  }
  assert.ok(flips > 0 && flips < 12, `${flips} of 12 flipped`);
});

test('train preprocessing on image files (RGB, RGBA, grey, JPEG, WebP) matches sharp extract and flop', async () => {
  const ds = await openImageFolder(digits.root, 'train');
  const config = trainPreprocess(40, 32, true);
  for (let i = 0; i < ds.length; i++) {
    const aug = { top: (i * 3) % 9, left: (i * 5) % 9, height: 32, width: 32, flip: i % 2 === 1 };
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
  assert.deepEqual(sampleAugmentation(evalPreprocess(128), 3, 5), { top: 0, left: 0, height: 128, width: 128, flip: false });
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
    for (let k = 0; k < 8; k++) assert.equal(unpackAugmentation(a, k).flip, false);
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

test('Inception-style crop: area fraction in [0.05, 1] and aspect ratio in [3/4, 4/3] (big_vision inception_crop), covering both ranges; windows fit', () => {
  const side = 160;
  const config = trainPreprocess(side, 128, false, 'inception');
  const n = 20000;
  const areas: number[] = [];
  const aspects: number[] = [];
  const relTops: number[] = [];
  for (let p = 0; p < n; p++) {
    const a = sampleAugmentation(config, 5, p);
    assert.ok(a.top >= 0 && a.left >= 0 && a.top + a.height <= side && a.left + a.width <= side, `window ${JSON.stringify(a)} fits`);
    areas.push((a.height * a.width) / (side * side));
    aspects.push(a.width / a.height);
    if (side - a.height >= 40) relTops.push(a.top / (side - a.height));
  }
  // rounding each side to a whole pixel moves the area by up to ~1/side and the aspect by up to ~1/(shortest side, 31 px here)
  const tol = 2.5 / side;
  const aspectTol = 1.33 / 31;
  assert.ok(Math.min(...areas) >= 0.05 - tol && Math.max(...areas) <= 1, `areas in [${Math.min(...areas)}, ${Math.max(...areas)}]`);
  assert.ok(
    Math.min(...aspects) >= 0.75 - aspectTol && Math.max(...aspects) <= 1.33 + aspectTol,
    `aspects in [${Math.min(...aspects)}, ${Math.max(...aspects)}]`,
  );
  // both ranges are covered to their ends, not a narrower part of them
  assert.ok(Math.min(...areas) < 0.055 && Math.max(...areas) > 0.97, 'area range covered');
  assert.ok(Math.min(...aspects) < 0.76 && Math.max(...aspects) > 1.32, 'aspect range covered');
  // the area fraction is uniform where every aspect fits (below 0.75): a quarter of [0.05, 0.75] holds about a quarter of those draws
  const low = areas.filter((x) => x < 0.75);
  const firstQuarter = low.filter((x) => x < 0.05 + 0.7 / 4).length / low.length;
  assert.ok(Math.abs(firstQuarter - 0.25) < 0.02, `share of the first quarter ${firstQuarter}`);
  // aspects are uniform in [0.75, 1.33]: about half below the middle (among the draws where every aspect fits)
  const lowAspects = aspects.filter((_, i) => areas[i] < 0.5);
  const below = lowAspects.filter((x) => x < (0.75 + 1.33) / 2).length / lowAspects.length;
  assert.ok(Math.abs(below - 0.5) < 0.02, `share of aspects below the middle ${below}`);
  // offsets uniform over every valid position: top / (side - height) has mean 1/2 and reaches both ends
  const meanTop = relTops.reduce((x, y) => x + y, 0) / relTops.length;
  assert.ok(Math.abs(meanTop - 0.5) < 0.01 && Math.min(...relTops) === 0 && Math.max(...relTops) === 1, `relative top offsets: mean ${meanTop}`);
  // the same draw for the same (seed, position), another for another seed
  assert.deepEqual(sampleAugmentation(config, 5, 17), sampleAugmentation(config, 5, 17));
  assert.notDeepEqual(sampleAugmentation(config, 5, 17), sampleAugmentation(config, 6, 17));
  assert.deepEqual(INCEPTION_CROP, { minArea: 0.05, maxArea: 1, minAspect: 0.75, maxAspect: 1.33, attempts: 100 });
});

test('Inception-style crop falls back to the whole image when no draw fits, and takes the first that does', () => {
  // an area range beyond the image: every one of the attempts fails
  const never = { ...INCEPTION_CROP, minArea: 1.2, maxArea: 1.5 };
  for (let p = 0; p < 50; p++) assert.deepEqual(inceptionWindow(64, 1, p, undefined, never), { top: 0, left: 0, height: 64, width: 64 });
  // the full area with aspects away from 1 never fits a square either
  const wide = { ...INCEPTION_CROP, minArea: 0.999, maxArea: 1, minAspect: 1.2 };
  assert.deepEqual(inceptionWindow(64, 1, 3, undefined, wide), { top: 0, left: 0, height: 64, width: 64 });
  // one attempt only: the fallback rate equals the chance that the single draw does not fit (area > 0.9 fits only near aspect 1)
  const one = { ...INCEPTION_CROP, minArea: 0.9, maxArea: 1, attempts: 1 };
  let whole = 0;
  for (let p = 0; p < 4000; p++) {
    const w = inceptionWindow(200, 2, p, undefined, one);
    if (w.height === 200 && w.width === 200) whole++;
  }
  // a draw (area a, aspect r) fits when a * max(r, 1 / r) <= 1: most draws of this range do not
  assert.ok(whole / 4000 > 0.6 && whole / 4000 < 0.95, `fallback rate ${whole / 4000}`);
  assert.throws(() => trainPreprocess(160, 128, true, 'square' as 'resize'), /crop style must be one of resize, inception, but got 'square'/);
});

test('Inception-style crop pixels: the window of the precrop resize, resized to the crop and flipped (sharp extract, resize, flop)', async () => {
  const ds = await openImageFolder(digits.root, 'train');
  const config = trainPreprocess(40, 24, true, 'inception');
  for (let i = 0; i < 4; i++) {
    const aug = { ...inceptionWindow(40, 9, i), flip: i % 2 === 1 };
    const got = await preprocessSample(ds, i, config, aug);
    const file = ds.filePath(i) as string;
    const resized = await sharp(await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer(), { raw: { width: 28, height: 28, channels: 3 } })
      .resize(40, 40, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
    let ref = sharp(resized, { raw: { width: 40, height: 40, channels: 3 } })
      .extract({ top: aug.top, left: aug.left, height: aug.height, width: aug.width })
      .resize(24, 24, { fit: 'fill', kernel: 'linear' });
    const window = await ref.raw().toBuffer();
    ref = sharp(window, { raw: { width: 24, height: 24, channels: 3 } });
    if (aug.flip) ref = ref.flop();
    assertMatches(got.data, { data: await ref.raw().toBuffer(), channels: 3 }, `${file} window ${JSON.stringify(aug)}`);
  }
});
