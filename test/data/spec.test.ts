import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { formatDataSpec, openDataset, openForTraining, parseDataSpec, type DatasetSpec } from '../../src/data/spec.js';
import { UsageError } from '../../src/util/errors.js';
import { removeDir, tempDir } from '../helpers.js';

const tmp = tempDir('spec');
after(() => removeDir(tmp));

test('openForTraining gives the sets openDataset gives, the held-out val from the same read of train', async () => {
  for (const [text, split] of [
    ['digits?val=200&shots=5&seed=1', 'val'],
    ['digits?fraction=0.5', 'test'],
    ['digits', 'none'],
  ] as const) {
    const spec = parseDataSpec(text);
    const { train, openEval } = await openForTraining(spec, split);
    const evalSet = await openEval();
    const want = await openDataset(spec, 'train');
    assert.deepEqual([train.name, [...train.sourceIndex]], [want.name, [...want.sourceIndex]], text);
    if (split === 'none') {
      assert.equal(evalSet, null);
    } else {
      const wantEval = await openDataset(spec, split);
      assert.deepEqual([evalSet?.name, [...(evalSet?.sourceIndex ?? [])]], [wantEval.name, [...wantEval.sourceIndex]], `${text} ${split}`);
    }
  }
});

test('spec strings parse to plain JSON and format back', () => {
  const cases: [string, DatasetSpec][] = [
    ['mnist', { source: { kind: 'mnist' } }],
    ['MNIST', { source: { kind: 'mnist' } }],
    ['fashion-mnist', { source: { kind: 'fashion-mnist' } }],
    ['digits?shots=10&seed=3', { source: { kind: 'digits' }, shots: 10, seed: 3 }],
    ['folder:/data/pets?val=0.1&val-seed=2', { source: { kind: 'folder', dir: '/data/pets' }, val: 0.1, valSeed: 2 }],
    ['idx:/data/kmnist?fraction=0.5', { source: { kind: 'idx', dir: '/data/kmnist' }, fraction: 0.5 }],
    ['multilabel:/data/in21k?skip-bad=1', { source: { kind: 'multilabel', dir: '/data/in21k' }, skipBadImages: true }],
  ];
  for (const [text, spec] of cases) {
    const parsed = parseDataSpec(text);
    assert.deepEqual(parsed, spec, text);
    assert.deepEqual(JSON.parse(JSON.stringify(parsed)), parsed);
    assert.deepEqual(parseDataSpec(formatDataSpec(parsed)), parsed, formatDataSpec(parsed));
  }
});

test('bare paths are recognised by their content', () => {
  const folder = path.join(tmp, 'pics');
  mkdirSync(path.join(folder, 'train', 'a'), { recursive: true });
  assert.deepEqual(parseDataSpec(folder).source, { kind: 'folder', dir: folder });
  const idx = path.join(tmp, 'idx');
  mkdirSync(idx);
  writeFileSync(path.join(idx, 'train-images-idx3-ubyte.gz'), '');
  assert.deepEqual(parseDataSpec(idx + '?shots=2').source, { kind: 'idx', dir: idx });
  const ml = path.join(tmp, 'ml');
  mkdirSync(ml);
  writeFileSync(path.join(ml, 'classes.txt'), 'a\n');
  writeFileSync(path.join(ml, 'train.tsv'), '');
  assert.deepEqual(parseDataSpec(ml).source, { kind: 'multilabel', dir: ml });
  assert.throws(() => parseDataSpec(path.join(tmp, 'missing')), /dataset folder .*missing does not exist/);
});

test('bad spec strings name the problem', () => {
  assert.throws(
    () => parseDataSpec('cifar10'),
    /unknown dataset 'cifar10': expected mnist, fashion-mnist, digits, a folder path, folder:DIR, idx:DIR or multilabel:DIR/,
  );
  assert.throws(() => parseDataSpec(''), /empty dataset spec/);
  assert.throws(() => parseDataSpec('constructor'), /unknown dataset 'constructor'/);
  assert.throws(() => parseDataSpec('mnist?shots=two'), /option shots must be a number, but got 'two'/);
  assert.throws(() => parseDataSpec('mnist?shots=2.5'), /shots must be a whole number >= 1, but got 2.5/);
  assert.throws(() => parseDataSpec('mnist?colour=1'), /unknown option 'colour'/);
  assert.throws(() => parseDataSpec('mnist?fraction=2'), /fraction must be in \(0, 1\], but got 2/);
  assert.throws(() => parseDataSpec('mnist?seed=-1'), /seed must be an integer/);
  assert.throws(() => parseDataSpec('folder:'), /folder: needs a folder path/);
});

test('a repeated option, or a boolean option that is not 0/1/true/false, is an error; spec errors are usage errors', () => {
  assert.throws(
    () => parseDataSpec('digits?shots=5&seed=1&shots=10'),
    /dataset spec 'digits\?shots=5&seed=1&shots=10': option shots is given more than once: give it once/,
  );
  assert.throws(() => parseDataSpec('digits?skip-bad=1&skip-bad=0'), /option skip-bad is given more than once/);
  for (const v of ['yes', 'on', '2', 'TRUE '])
    assert.throws(() => parseDataSpec(`digits?skip-bad=${v}`), new RegExp(`option skip-bad must be 1, 0, true or false, but got '${v.trim()}'`));
  for (const [v, on] of [
    ['1', true],
    ['true', true],
    ['', true],
    ['0', false],
    ['false', false],
  ] as const)
    assert.equal(parseDataSpec(`digits?skip-bad${v === '' ? '' : `=${v}`}`).skipBadImages === true, on, `skip-bad=${v}`);
  for (const bad of ['cifar10', 'mnist?colour=1', 'mnist?seed=-1', 'mnist?shots=1&shots=1']) {
    assert.throws(
      () => parseDataSpec(bad),
      (err: unknown) => err instanceof UsageError,
      `${bad}: a usage error (exit 2)`,
    );
  }
});

test('openDataset applies val, fraction and shots to train', async () => {
  const spec = parseDataSpec('digits?val=200&shots=5&seed=1');
  const train = await openDataset(spec, 'train');
  const val = await openDataset(spec, 'val');
  const testSet = await openDataset(spec, 'test');
  assert.equal(train.length, 50);
  assert.deepEqual([...train.classCounts()], new Array(10).fill(5));
  assert.equal(val.length, 200);
  assert.equal(testSet.length, 500);
  const v = new Set(val.sourceIndex);
  for (const i of train.sourceIndex) assert.ok(!v.has(i), 'a k-shot image is also in val');
  const t = new Set(testSet.sourceIndex);
  for (const i of [...train.sourceIndex, ...val.sourceIndex]) assert.ok(!t.has(i), 'a train/val image is also in test');
  const frac = await openDataset(parseDataSpec('digits?fraction=0.1'), 'train');
  assert.equal(frac.length, 130);
  await assert.rejects(openDataset(parseDataSpec('digits'), 'val'), /digits has no val split: carve one from train with the option val=N .*'digits\?val=0.1'/);
});
