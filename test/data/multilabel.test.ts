import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { evalLoader } from '../../src/data/loader.js';
import { openMultiLabel } from '../../src/data/multilabel.js';
import { fractionSubset, kShotSubset } from '../../src/data/subsets.js';
import { writeCorrupt, writeDigit } from './fixtures.js';
import { removeDir, tempDir } from '../helpers.js';

const tmp = tempDir('multilabel');
const root = path.join(tmp, 'upstream');
before(async () => {
  await fs.mkdir(root, { recursive: true });
  await fs.writeFile(path.join(root, 'classes.txt'), 'animal\ncat\ndog\n\nplant\n');
  await writeDigit(path.join(root, 'images', 'a', '0.png'), 0, 'grey-png');
  await writeDigit(path.join(root, 'images', 'a', '1.jpg'), 1, 'jpeg');
  await writeDigit(path.join(root, 'images', 'b', '2.webp'), 2, 'webp');
  await writeDigit(path.join(root, 'images', '3.png'), 3, 'rgba-png');
  await fs.writeFile(path.join(root, 'train.tsv'), '# path\tlabels\na/0.png\t0,1\na/1.jpg\t0,2,2\n\nb/2.webp\t3\n3.png\t\n');
  await fs.writeFile(path.join(root, 'test.tsv'), 'a/0.png\t1\n');
});
after(() => removeDir(tmp));

test('multi-label folder: class list, label sets, multi-hot batches', async () => {
  const ds = await openMultiLabel(root, 'train');
  assert.equal(ds.multiLabel, true);
  assert.equal(ds.labels, null);
  assert.deepEqual(ds.classNames, ['animal', 'cat', 'dog', 'plant']);
  assert.equal(ds.length, 4);
  assert.deepEqual([...ds.labelsOf(0)], [0, 1]);
  assert.deepEqual([...ds.labelsOf(1)], [0, 2]);
  assert.deepEqual([...ds.labelsOf(2)], [3]);
  assert.deepEqual([...ds.labelsOf(3)], []);
  assert.deepEqual([...ds.classCounts()], [2, 1, 1, 1]);
  assert.deepEqual(ds.originalSize, { height: 28, width: 28 });
  assert.deepEqual([...ds.batchLabels([1, 3, 0])], [1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0]);
  const loader = evalLoader(ds, { batchSize: 3, crop: 16, workers: 1 });
  try {
    const batches = [];
    for await (const b of loader) batches.push(b);
    assert.equal(batches.length, 2);
    assert.ok(batches[0].labels instanceof Uint8Array);
    assert.deepEqual([...batches[0].labels], [1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1]);
    assert.deepEqual([...batches[1].labels], [0, 0, 0, 0]);
    assert.equal(batches[1].images.length, 16 * 16 * 3);
  } finally {
    await loader.close();
  }
  const sub = fractionSubset(ds, 0.5, 0);
  assert.equal(sub.length, 2);
  assert.equal(sub.multiLabel, true);
  assert.throws(() => kShotSubset(ds, 1, 0), /is multi-label: a k-shot subset needs single-label data/);
  assert.equal((await openMultiLabel(root, 'test')).length, 1);
});

test('multi-label folder: bad lines, labels out of range and missing files are named', async () => {
  const bad = path.join(tmp, 'bad');
  await fs.mkdir(bad, { recursive: true });
  await fs.writeFile(path.join(bad, 'classes.txt'), 'x\ny\n');
  await fs.writeFile(path.join(bad, 'train.tsv'), 'a.png\t0\nb.png\t1,2\n');
  await assert.rejects(
    openMultiLabel(bad, 'train'),
    new RegExp(`${path.join(bad, 'train.tsv')}:2: label 2 is out of range: expected 0..1 \\(2 classes in .*classes.txt\\)`),
  );
  await fs.writeFile(path.join(bad, 'train.tsv'), 'a.png 0\n');
  await assert.rejects(openMultiLabel(bad, 'train'), /train\.tsv:1: expected 'relative\/path<TAB>labels', found no tab/);
  await fs.writeFile(path.join(bad, 'train.tsv'), 'a.png\tcat\n');
  await assert.rejects(openMultiLabel(bad, 'train'), /train\.tsv:1: label 'cat' is not a class index/);
  await assert.rejects(openMultiLabel(bad, 'val'), /has no val\.tsv/);
  await fs.writeFile(path.join(bad, 'train.tsv'), 'a.png\t0\nmissing.png\t1\n');
  await writeDigit(path.join(bad, 'images', 'a.png'), 0, 'grey-png');
  const ds = await openMultiLabel(bad, 'train');
  await assert.rejects(ds.readImage(1), new RegExp(`cannot decode image ${path.join(bad, 'images', 'missing.png')}`));
  await writeCorrupt(path.join(bad, 'images', 'junk.png'));
  await fs.writeFile(path.join(bad, 'train.tsv'), 'a.png\t0\nmissing.png\t1\njunk.png\t0,1\n');
  const skipping = await openMultiLabel(bad, 'train', { skipBadImages: true });
  assert.equal(skipping.length, 1);
  assert.equal(skipping.skipped.length, 2);
  assert.deepEqual([...skipping.labelsOf(0)], [0]);
  await assert.rejects(openMultiLabel(path.join(tmp, 'none'), 'train'), /multi-label folder .*none does not exist/);
});
