import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { DIGITS_TEST_SIZE, findDigitsFile, openDigits, readDigitsFile } from '../../src/data/builtin.js';
import { SKLEARN_DIGITS } from '../../src/data/paths.js';
import { removeDir, tempDir } from '../helpers.js';

// First test-split rows of digits.csv.gz (0-based), as drawn by DIGITS_SPLIT_SEED.
const PINNED_FIRST_TEST = [3, 4, 5, 21, 25, 28, 29, 30, 31, 34, 36, 44];

const tmp = tempDir('digits');
after(() => removeDir(tmp));

test('digits: 1,797 rows of 8x8, 10 classes, pixels 0..16 rescaled to 0..255', async () => {
  const { pixels, labels } = await readDigitsFile(findDigitsFile());
  assert.equal(labels.length, 1797);
  assert.equal(pixels.length, 1797 * 64);
  // Class sizes of UCI optdigits as shipped by scikit-learn.
  const counts = new Array(10).fill(0);
  for (const l of labels) counts[l]++;
  assert.deepEqual(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
  const allowed = new Set(Array.from({ length: 17 }, (_, v) => Math.round((v * 255) / 16)));
  let min = 255;
  let max = 0;
  for (const v of pixels) {
    assert.ok(allowed.has(v), `pixel value ${v} is not a rescaled 0..16 value`);
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.equal(min, 0);
  assert.equal(max, 255);
  // The first image of the file (a 0): row 0 is 0,0,5,13,9,1,0,0.
  assert.deepEqual(
    [...pixels.subarray(0, 8)],
    [0, 0, 5, 13, 9, 1, 0, 0].map((v) => Math.round((v * 255) / 16)),
  );
  assert.equal(labels[0], 0);
});

test('digits: the fixed, stratified 1,297 / 500 split', async () => {
  const train = await openDigits('train');
  const testSet = await openDigits('test');
  assert.equal(train.length, 1297);
  assert.equal(testSet.length, DIGITS_TEST_SIZE);
  assert.equal(train.numClasses, 10);
  assert.deepEqual(train.originalSize, { height: 8, width: 8 });
  assert.equal(train.defaultFlip, false);
  const a = new Set(train.sourceIndex);
  for (const i of testSet.sourceIndex) assert.ok(!a.has(i), `digit ${i} is in both splits`);
  assert.equal(a.size + testSet.length, 1797);
  // Stratified: each class's test share is within one image of 500/1797 of its size.
  const all = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];
  testSet.classCounts().forEach((c, k) => assert.ok(Math.abs(c - (all[k] * 500) / 1797) < 1, `class ${k}: ${c} test images`));
  // Fixed forever: pin the split (any change to the RNG or the split code shows up here).
  assert.deepEqual([...testSet.classCounts()], [50, 51, 49, 51, 50, 51, 50, 50, 48, 50]);
  assert.deepEqual([...testSet.sourceIndex.subarray(0, 12)], PINNED_FIRST_TEST);
  const again = await openDigits('test');
  assert.deepEqual(again.sourceIndex, testSet.sourceIndex);
  const img = await testSet.readImage(0);
  assert.equal(img.data.length, 8 * 8 * 3);
});

test('digits missing: the error names all three places and the fetch script', async () => {
  const saved = { d: process.env.BIT_DIGITS, b: process.env.BIT_DATA_DIR };
  try {
    process.env.BIT_DIGITS = path.join(tmp, 'nope.csv.gz');
    process.env.BIT_DATA_DIR = tmp;
    if (existsSync(SKLEARN_DIGITS)) {
      assert.equal(findDigitsFile(), SKLEARN_DIGITS);
      return;
    }
    assert.throws(
      () => findDigitsFile(),
      (err: Error) => {
        assert.match(err.message, /nope\.csv\.gz \(\$BIT_DIGITS\)/);
        assert.ok(err.message.includes(path.join(tmp, 'digits.csv.gz')));
        assert.ok(err.message.includes(SKLEARN_DIGITS));
        assert.match(err.message, /scripts\/fetch-debian-data\.sh/);
        return true;
      },
    );
  } finally {
    if (saved.d === undefined) delete process.env.BIT_DIGITS;
    else process.env.BIT_DIGITS = saved.d;
    if (saved.b === undefined) delete process.env.BIT_DATA_DIR;
    else process.env.BIT_DATA_DIR = saved.b;
  }
});
