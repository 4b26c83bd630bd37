import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { FASHION_MNIST_CLASS_NAMES, openFashionMnist, openIdxFolder, openMnist } from '../../src/data/builtin.js';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, parseIdx, readIdxFile, readIdxPair } from '../../src/data/idx.js';
import { FASHION_MNIST_DIR, mnistDir } from '../../src/data/paths.js';
import { removeDir, tempDir } from '../helpers.js';

const tmp = tempDir('idx');
after(() => removeDir(tmp));

function idxBytes(magic: number, dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, magic, false);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

test('MNIST: 60,000 train and 10,000 test images of 28x28, 10 classes', async () => {
  const train = await openMnist('train');
  const testSet = await openMnist('test');
  assert.equal(train.length, 60000);
  assert.equal(testSet.length, 10000);
  assert.deepEqual(train.originalSize, { height: 28, width: 28 });
  assert.equal(train.numClasses, 10);
  assert.equal(train.defaultFlip, false);
  assert.equal(train.source.kind === 'memory' && train.source.memory.pixels.buffer instanceof SharedArrayBuffer, true);
  // Class counts of MNIST (LeCun et al.), test and train.
  assert.deepEqual([...testSet.classCounts()], [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  assert.deepEqual([...train.classCounts()], [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  // The first training labels of MNIST are 5 0 4 1 9 2 1 3 1 4.
  assert.deepEqual([...train.requireLabels().subarray(0, 10)], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  const img = await testSet.readImage(0);
  assert.equal(img.channels, 3);
  assert.equal(img.data.length, 28 * 28 * 3);
  let max = 0;
  for (const v of img.data) max = Math.max(max, v);
  assert.equal(max, 255);
});

test('Fashion-MNIST: 6,000 per class in train, 1,000 in test (gzipped IDX)', async () => {
  assert.ok(existsSync(FASHION_MNIST_DIR), `${FASHION_MNIST_DIR} missing: scripts/setup.sh installs dataset-fashion-mnist`);
  const train = await openFashionMnist('train');
  const testSet = await openFashionMnist('test');
  assert.deepEqual([...train.classCounts()], new Array(10).fill(6000));
  assert.deepEqual([...testSet.classCounts()], new Array(10).fill(1000));
  assert.deepEqual(train.classNames, FASHION_MNIST_CLASS_NAMES);
  assert.deepEqual(train.originalSize, { height: 28, width: 28 });
  assert.equal(train.defaultFlip, true);
});

test('Fashion-MNIST missing: the error names the Debian package and the set-up script', async () => {
  await assert.rejects(openFashionMnist('train', path.join(tmp, 'no-such-dir')), (err: Error) => {
    assert.match(err.message, /apt-get install dataset-fashion-mnist/);
    assert.match(err.message, /scripts\/setup\.sh/);
    assert.match(err.message, /train-images-idx3-ubyte\.gz is missing/);
    return true;
  });
});

test('corrupt IDX files give errors naming the file and the problem', async () => {
  const data = new Uint8Array(2 * 3 * 3).fill(7);
  const good = idxBytes(IDX_IMAGES_MAGIC, [2, 3, 3], data);
  assert.deepEqual(parseIdx(good, 'x', IDX_IMAGES_MAGIC).dims, [2, 3, 3]);

  const bad = good.slice();
  bad[3] = 0x01;
  assert.throws(() => parseIdx(bad, 'imgs.idx', IDX_IMAGES_MAGIC), /imgs\.idx: bad magic number 0x00000801: expected 0x00000803.*swapped/);
  const junk = new TextEncoder().encode('hello world, not idx');
  assert.throws(() => parseIdx(junk, 'junk.idx', IDX_IMAGES_MAGIC), /junk\.idx: bad magic number 0x68656c6c/);
  assert.throws(
    () => parseIdx(good.subarray(0, good.length - 5), 'short.idx', IDX_IMAGES_MAGIC),
    /short\.idx: truncated IDX file: header says \[2, 3, 3\] = 18 bytes of data, but only 13/,
  );
  assert.throws(() => parseIdx(good.subarray(0, 10), 'tiny.idx', IDX_IMAGES_MAGIC), /tiny\.idx: truncated IDX file: 10 bytes, shorter than its 16-byte header/);
  const long = new Uint8Array(good.length + 3);
  long.set(good);
  assert.throws(() => parseIdx(long, 'long.idx', IDX_IMAGES_MAGIC), /long\.idx: size mismatch: .* 21 follow the header \(3 extra\)/);

  // A real MNIST file cut short, and a gzip stream cut short.
  const real = await fs.readFile(path.join(mnistDir(), 't10k-images-idx3-ubyte'));
  const cut = path.join(tmp, 'cut-images-idx3-ubyte');
  await fs.writeFile(cut, real.subarray(0, 100000));
  await assert.rejects(readIdxFile(cut, IDX_IMAGES_MAGIC), new RegExp(`${cut}: truncated IDX file: header says \\[10000, 28, 28\\] = 7840000 bytes`));
  const gz = gzipSync(real);
  const cutGz = path.join(tmp, 'cut-images-idx3-ubyte.gz');
  await fs.writeFile(cutGz, gz.subarray(0, gz.length >> 1));
  await assert.rejects(readIdxFile(cutGz, IDX_IMAGES_MAGIC), new RegExp(`${cutGz}: corrupt or truncated gzip data`));
  await assert.rejects(readIdxFile(path.join(tmp, 'absent'), IDX_IMAGES_MAGIC), /cannot read IDX file .*absent/);
});

test('IDX image/label count mismatch and out-of-range labels are errors', async () => {
  const images = path.join(tmp, 'm-images-idx3-ubyte');
  const labels = path.join(tmp, 'm-labels-idx1-ubyte');
  await fs.writeFile(images, idxBytes(IDX_IMAGES_MAGIC, [3, 2, 2], new Uint8Array(12)));
  await fs.writeFile(labels, idxBytes(IDX_LABELS_MAGIC, [2], new Uint8Array([0, 1])));
  await assert.rejects(readIdxPair(images, labels), new RegExp(`mismatched IDX files: ${images} holds 3 images but ${labels} holds 2 labels`));
  await fs.writeFile(labels, idxBytes(IDX_LABELS_MAGIC, [3], new Uint8Array([0, 12, 1])));
  await assert.rejects(readIdxPair(images, labels, 10), new RegExp(`${labels}: label 12 of item 1 is out of range: expected 0..9`));
  // Images and labels swapped.
  await assert.rejects(readIdxPair(labels, images), /bad magic number 0x00000801: expected 0x00000803/);
});

test('idx:DIR reads gzipped MNIST-named files and classes.txt', async () => {
  const dir = path.join(tmp, 'idxdir');
  await fs.mkdir(dir);
  const src = mnistDir();
  for (const f of ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
    await fs.writeFile(path.join(dir, f.replace('t10k', 'train') + '.gz'), gzipSync(await fs.readFile(path.join(src, f))));
    await fs.copyFile(path.join(src, f), path.join(dir, f.replace('t10k', 'test')));
  }
  const train = await openIdxFolder(dir, 'train');
  assert.equal(train.length, 10000);
  assert.deepEqual(train.classNames, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  assert.deepEqual([...train.classCounts()], [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  assert.equal((await openIdxFolder(dir, 'test')).length, 10000);
  await fs.writeFile(path.join(dir, 'classes.txt'), 'a\nb\nc\n');
  await assert.rejects(openIdxFolder(dir, 'train'), /train-labels-idx1-ubyte\.gz: label \d of item \d+ is out of range: expected 0\.\.2 \(3 classes\)/);
  await fs.rm(path.join(dir, 'test-labels-idx1-ubyte'));
  await assert.rejects(openIdxFolder(dir, 'test'), /has .*test-images-idx3-ubyte but no t10k-labels-idx1-ubyte\[\.gz\] beside it/);
  await assert.rejects(openIdxFolder(tmp, 'train'), /has no train split: expected train-images-idx3-ubyte\[\.gz\] and train-labels-idx1-ubyte\[\.gz\]/);
});

test('IDX files of 0x0 images, or a training split of 0 items, are errors naming the file and the problem', async () => {
  const zero = path.join(tmp, 'zero-size');
  await fs.mkdir(zero);
  for (const [split, n] of [
    ['train', 10],
    ['t10k', 4],
  ] as const) {
    await fs.writeFile(path.join(zero, `${split}-images-idx3-ubyte`), idxBytes(IDX_IMAGES_MAGIC, [n, 0, 0], new Uint8Array(0)));
    await fs.writeFile(
      path.join(zero, `${split}-labels-idx1-ubyte`),
      idxBytes(
        IDX_LABELS_MAGIC,
        [n],
        new Uint8Array(n).map((_, i) => i % 2),
      ),
    );
  }
  await assert.rejects(
    openIdxFolder(zero, 'train'),
    new RegExp(`^DataError: ${path.join(zero, 'train-images-idx3-ubyte')}: its header says the images are 0x0 pixels: expected at least 1x1$`),
  );
  const empty = path.join(tmp, 'empty-train');
  await fs.mkdir(empty);
  await fs.writeFile(path.join(empty, 'train-images-idx3-ubyte'), idxBytes(IDX_IMAGES_MAGIC, [0, 8, 8], new Uint8Array(0)));
  await fs.writeFile(path.join(empty, 'train-labels-idx1-ubyte'), idxBytes(IDX_LABELS_MAGIC, [0], new Uint8Array(0)));
  await fs.writeFile(path.join(empty, 't10k-images-idx3-ubyte'), idxBytes(IDX_IMAGES_MAGIC, [4, 8, 8], new Uint8Array(256)));
  await fs.writeFile(path.join(empty, 't10k-labels-idx1-ubyte'), idxBytes(IDX_LABELS_MAGIC, [4], new Uint8Array([0, 1, 0, 1])));
  // the train split is named whichever split is opened (before: the test labels were called out of range)
  for (const split of ['train', 'test'] as const)
    await assert.rejects(openIdxFolder(empty, split), new RegExp(`^DataError: ${path.join(empty, 'train-labels-idx1-ubyte')} holds no labels`));
  await fs.writeFile(path.join(empty, 'classes.txt'), 'a\nb\n');
  await assert.rejects(openIdxFolder(empty, 'train'), new RegExp(`${path.join(empty, 'train-images-idx3-ubyte')} holds no images \\(its header says 0\\)`));
});
