import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDigits, openMnist } from '../../src/data/builtin.js';
import { fractionSubset, holdOut, kShotSubset, proportionalCounts } from '../../src/data/subsets.js';

test('k-shot: exactly k per class, reproducible per seed, different across seeds', async () => {
  const train = await openMnist('train');
  for (const k of [1, 5, 10]) {
    const a = kShotSubset(train, k, 0);
    assert.equal(a.length, 10 * k);
    assert.deepEqual([...a.classCounts()], new Array(10).fill(k));
    // Every chosen sample really has the label the subset says (labels follow the source).
    for (let i = 0; i < a.length; i++) assert.equal(a.label(i), train.requireLabels()[a.sourceIndex[i]]);
    assert.deepEqual(kShotSubset(train, k, 0).sourceIndex, a.sourceIndex);
    assert.notDeepEqual(kShotSubset(train, k, 1).sourceIndex, a.sourceIndex);
  }
  // For one seed, the 5-shot draw lies inside the 10-shot draw.
  const ten = new Set(kShotSubset(train, 10, 3).sourceIndex);
  for (const i of kShotSubset(train, 5, 3).sourceIndex) assert.ok(ten.has(i));
  // Different seeds draw mostly different images.
  const s0 = new Set(kShotSubset(train, 10, 0).sourceIndex);
  const overlap = kShotSubset(train, 10, 1).sourceIndex.filter((i) => s0.has(i)).length;
  assert.ok(overlap < 5, `seeds 0 and 1 share ${overlap} of 100 images`);
});

test('k-shot: a clear error when a class has fewer than k examples', async () => {
  const train = await openDigits('train');
  const small = train.subset(
    Int32Array.from({ length: 60 }, (_, i) => i),
    'digits/train[:60]',
  );
  const counts = small.classCounts();
  const k = Math.min(...counts) + 1;
  const short = [...counts].findIndex((c) => c < k);
  assert.throws(
    () => kShotSubset(small, k, 0),
    new RegExp(`digits/train\\[:60\\]: ${k}-shot needs ${k} examples of every class, but '${short}' \\(class ${short}\\) has ${counts[short]}`),
  );
  assert.throws(() => kShotSubset(train, 0, 0), /k-shot needs a whole k >= 1, but got 0/);
  assert.throws(() => kShotSubset(train, 1, -2), /seed must be an integer/);
});

test('held-out validation: disjoint, stratified, seeded', async () => {
  const train = await openMnist('train');
  const { train: rest, val } = holdOut(train, 10000, 0);
  assert.equal(val.length, 10000);
  assert.equal(rest.length, 50000);
  const v = new Set(val.sourceIndex);
  for (const i of rest.sourceIndex) assert.ok(!v.has(i));
  const expect = proportionalCounts(train.classCounts(), 10000);
  assert.deepEqual(val.classCounts(), expect);
  train.classCounts().forEach((c, k) => assert.ok(Math.abs(expect[k] - (c * 10000) / 60000) < 1));
  assert.deepEqual(holdOut(train, 10000, 0).val.sourceIndex, val.sourceIndex);
  assert.notDeepEqual(holdOut(train, 10000, 1).val.sourceIndex, val.sourceIndex);
  assert.equal(holdOut(train, 0.1, 0).val.length, 6000);
  assert.throws(() => holdOut(train, 60000, 0), /cannot hold out 60000 validation samples from 60000/);
  assert.throws(() => holdOut(train, 2.5, 0), /validation size must be a whole count when >= 1, but got 2.5/);
});

test('fraction: stratified, seeded, the requested size', async () => {
  const train = await openMnist('train');
  const tenth = fractionSubset(train, 0.1, 0);
  assert.equal(tenth.length, 6000);
  assert.deepEqual(tenth.classCounts(), proportionalCounts(train.classCounts(), 6000));
  assert.deepEqual(fractionSubset(train, 0.1, 0).sourceIndex, tenth.sourceIndex);
  assert.notDeepEqual(fractionSubset(train, 0.1, 5).sourceIndex, tenth.sourceIndex);
  assert.equal(fractionSubset(train, 1, 0), train);
  assert.throws(() => fractionSubset(train, 1.5, 0), /fraction must be in \(0, 1\], but got 1.5/);
});

test('proportional counts add up exactly', () => {
  const sizes = Int32Array.from([178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
  for (const total of [1, 7, 500, 1000, 1797]) {
    const c = proportionalCounts(sizes, total);
    assert.equal(
      c.reduce((a, b) => a + b, 0),
      total,
    );
    c.forEach((x, k) => assert.ok(x <= sizes[k]));
  }
});
