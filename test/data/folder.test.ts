import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { openImageFolder } from '../../src/data/folder.js';
import { makeDigitFolder, mnistPixels, tint, writeCorrupt, writeDigit, writeTruncatedJpeg, type DigitFolder } from './fixtures.js';
import { removeDir, tempDir } from '../helpers.js';

const tmp = tempDir('folder');
let digits: DigitFolder;
before(async () => {
  digits = await makeDigitFolder(path.join(tmp, 'digits'));
  // Files that are not images, hidden files and nested folders.
  await fs.writeFile(path.join(tmp, 'digits', 'train', 'one', 'notes.txt'), 'not an image');
  await fs.writeFile(path.join(tmp, 'digits', 'train', 'one', '.hidden.png'), 'not an image');
  await writeDigit(path.join(tmp, 'digits', 'train', 'two', 'more', 'nested.PNG'), 1, 'grey-png');
});
after(() => removeDir(tmp));

test('image folder: classes from sorted sub-folders, counts, labels, original size', async () => {
  const train = await openImageFolder(digits.root, 'train');
  assert.deepEqual(train.classNames, ['one', 'two', 'zero']);
  assert.deepEqual([...train.classCounts()], [5, 6, 5]);
  assert.equal(train.length, 16);
  assert.equal(train.multiLabel, false);
  assert.equal(train.defaultFlip, true);
  assert.deepEqual(train.originalSize, { height: 28, width: 28 });
  for (let i = 0; i < train.length; i++) {
    const rel = path.relative(path.join(digits.root, 'train'), train.filePath(i) as string);
    assert.equal(rel.split(path.sep)[0], train.classNames[train.label(i)]);
  }
  const testSet = await openImageFolder(digits.root, 'test');
  assert.deepEqual(testSet.classNames, ['one', 'two', 'zero']);
  assert.deepEqual([...testSet.classCounts()], [2, 2, 2]);
});

test('image folder: grey, RGB, RGBA, JPEG and WebP all decode to 3 channels; alpha is dropped', async () => {
  const train = await openImageFolder(digits.root, 'train');
  const byFile = new Map<string, number>();
  for (let i = 0; i < train.length; i++) byFile.set(train.filePath(i) as string, i);
  const kinds = new Set<string>();
  for (const list of (digits.files.get('train') as Map<string, { file: string; index: number; kind: string }[]>).values()) {
    for (const { file, index, kind } of list) {
      kinds.add(kind);
      const img = await train.readImage(byFile.get(file) as number);
      assert.equal(img.channels, 3);
      assert.equal(img.height, 28);
      assert.equal(img.width, 28);
      assert.equal(img.data.length, 28 * 28 * 3);
      const grey = await mnistPixels(index);
      const meta = await sharp(file).metadata();
      let worst = 0;
      let total = 0;
      for (let p = 0; p < 784; p++) {
        const want = kind === 'grey-png' ? [grey[p], grey[p], grey[p]] : tint(grey[p]);
        for (let c = 0; c < 3; c++) {
          const d = Math.abs(img.data[p * 3 + c] - want[c]);
          worst = Math.max(worst, d);
          total += d;
        }
      }
      if (kind === 'grey-png') assert.equal(meta.channels, 1, `${file} should be a 1-channel PNG`);
      if (kind === 'rgba-png') assert.equal(meta.channels, 4, `${file} should have alpha`);
      // Lossless kinds match exactly (alpha dropped, not composited); JPEG is close on average.
      assert.ok(kind === 'jpeg' ? total / (784 * 3) < 4 : worst === 0, `${kind} ${file}: max difference ${worst}, mean ${total / (784 * 3)}`);
    }
  }
  assert.deepEqual([...kinds].sort(), ['grey-png', 'jpeg', 'rgb-png', 'rgba-png', 'webp']);
});

test('image folder: missing, empty and malformed folders are clear errors', async () => {
  await assert.rejects(openImageFolder(path.join(tmp, 'absent'), 'train'), /image folder .*absent does not exist/);
  const noTrain = path.join(tmp, 'no-train');
  await fs.mkdir(path.join(noTrain, 'pictures'), { recursive: true });
  await assert.rejects(
    openImageFolder(noTrain, 'train'),
    /image folder .*no-train has no train\/ folder for the train split: expected .*no-train\/train\/<class>\/<image>; found pictures/,
  );
  const empty = path.join(tmp, 'empty');
  await fs.mkdir(path.join(empty, 'train'), { recursive: true });
  await assert.rejects(openImageFolder(empty, 'train'), /empty\/train has no class folders/);
  const emptyClass = path.join(tmp, 'empty-class');
  await writeDigit(path.join(emptyClass, 'train', 'cat', 'a.png'), 0, 'grey-png');
  await fs.mkdir(path.join(emptyClass, 'train', 'dog'), { recursive: true });
  await fs.writeFile(path.join(emptyClass, 'train', 'dog', 'readme.txt'), 'no images here');
  await assert.rejects(openImageFolder(emptyClass, 'train'), (err: Error) => {
    assert.match(err.message, /class folder .*empty-class\/train\/dog has no images: expected files ending in \.jpg \.jpeg \.png \.webp \.gif \.tif \.tiff/);
    return true;
  });
  const stray = path.join(tmp, 'stray');
  await writeDigit(path.join(stray, 'train', 'loose.png'), 0, 'grey-png');
  await assert.rejects(openImageFolder(stray, 'train'), /stray\/train holds image files directly \(e\.g\. loose\.png\)/);
  const unknown = path.join(tmp, 'unknown');
  await writeDigit(path.join(unknown, 'train', 'cat', 'a.png'), 0, 'grey-png');
  await writeDigit(path.join(unknown, 'test', 'cow', 'a.png'), 0, 'grey-png');
  await assert.rejects(openImageFolder(unknown, 'test'), /class folder .*unknown\/test\/cow is not a known class: the classes are cat/);
  await assert.rejects(openImageFolder(unknown, 'val'), /has no val\/ folder for the val split/);
});

test('image folder: val/ stands in for test/ when there is no test/', async () => {
  const root = path.join(tmp, 'imagenet-style');
  await writeDigit(path.join(root, 'train', 'a', '1.png'), 0, 'grey-png');
  await writeDigit(path.join(root, 'train', 'b', '1.png'), 1, 'grey-png');
  await writeDigit(path.join(root, 'val', 'b', '1.png'), 2, 'grey-png');
  const t = await openImageFolder(root, 'test');
  assert.equal(t.length, 1);
  assert.deepEqual(t.classNames, ['a', 'b']);
  assert.equal(t.label(0), 1);
  assert.equal((await openImageFolder(root, 'val')).length, 1);
});

test('image folder: corrupt images fail naming the file, or are skipped and counted', async () => {
  const root = path.join(tmp, 'bad');
  await writeDigit(path.join(root, 'train', 'a', 'good1.png'), 0, 'grey-png');
  await writeDigit(path.join(root, 'train', 'a', 'good2.jpg'), 1, 'jpeg');
  await writeCorrupt(path.join(root, 'train', 'a', 'junk.png'));
  await writeDigit(path.join(root, 'train', 'b', 'good3.png'), 2, 'rgba-png');
  await writeTruncatedJpeg(path.join(root, 'train', 'b', 'cut.jpg'), 3);
  const ds = await openImageFolder(root, 'train');
  assert.equal(ds.length, 5);
  const indexOf = (name: string): number => Array.from({ length: ds.length }, (_, i) => path.basename(ds.filePath(i) ?? '')).indexOf(name);
  const junk = indexOf('junk.png');
  const cut = indexOf('cut.jpg');
  await assert.rejects(ds.readImage(junk), (err: Error) => {
    assert.ok(err.message.includes(path.join(root, 'train', 'a', 'junk.png')), err.message);
    assert.match(err.message, /cannot decode image .*unsupported image format/);
    return true;
  });
  await assert.rejects(ds.readImage(cut), new RegExp(`cannot decode image ${path.join(root, 'train', 'b', 'cut.jpg')}: .*premature end`, 'i'));
  const skipping = await openImageFolder(root, 'train', { skipBadImages: true });
  assert.equal(skipping.length, 3);
  assert.equal(skipping.skipped.length, 2);
  assert.deepEqual(skipping.skipped.map((s) => path.basename(s.path)).sort(), ['cut.jpg', 'junk.png']);
  for (let i = 0; i < skipping.length; i++) assert.equal((await skipping.readImage(i)).channels, 3);
});

test('image folder: symbolic link loops are walked once, images keep their own class, and the links not followed are listed', async () => {
  const root = path.join(tmp, 'loops');
  for (const [cls, first] of [
    ['a', 0],
    ['b', 10],
  ] as const) {
    for (let k = 0; k < 3; k++) await writeDigit(path.join(root, 'train', cls, `img${k}.png`), first + k, 'grey-png');
  }
  // `ln -s .. DIR/train/a/loop` (into the split folder: class b's images would become class a, over and over),
  // a link from class a into class b, and a second way into a folder of class b itself
  await fs.symlink('..', path.join(root, 'train', 'a', 'loop'));
  await fs.symlink(path.join('..', 'b'), path.join(root, 'train', 'a', 'to-b'));
  await writeDigit(path.join(root, 'train', 'b', 'sub', 'img9.png'), 19, 'grey-png');
  await fs.symlink('sub', path.join(root, 'train', 'b', 'sub-again'));
  const ds = await openImageFolder(root, 'train');
  assert.equal(ds.length, 7, 'the real image count: 3 of class a, 4 of class b');
  assert.deepEqual([...ds.classCounts()], [3, 4]);
  for (let i = 0; i < ds.length; i++) {
    const rel = path.relative(path.join(root, 'train'), ds.filePath(i)!);
    assert.equal(rel.split(path.sep)[0], ds.classNames[ds.label(i)], `${rel} keeps its own class`);
  }
  assert.deepEqual(ds.skipped.map((s) => path.relative(root, s.path)).sort(), ['train/a/loop', 'train/a/to-b', 'train/b/sub-again']);
  const loop = ds.skipped.find((s) => s.path.endsWith('loop'))!;
  assert.match(loop.reason, new RegExp(`the same folder as ${path.join(root, 'train')} \\(through a symbolic link\\), already read: not followed`));
  // two class folders that are one folder
  await fs.symlink('a', path.join(root, 'train', 'c'));
  await assert.rejects(openImageFolder(root, 'train'), /class folders .*train\/a and .*train\/c are the same folder/);
});
