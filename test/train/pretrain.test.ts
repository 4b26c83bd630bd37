// `bit pretrain`: the upstream recipe as the command resolves it, micro-batches
// that change memory but not the math, a real small pre-training run on MNIST
// whose model.npz `bit finetune --weights` loads, and multi-label data trained
// with sigmoid cross-entropy.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { openDataset, openMnist, parseDataSpec } from '../../src/data/index.js';
import { loadModel, readMeta } from '../../src/models/index.js';
import * as T from '../../src/tensor/index.js';
import { evaluate } from '../../src/train/evaluate.js';
import { finetune } from '../../src/train/finetune.js';
import { pretrain, resolvePretrainRecipe } from '../../src/train/pretrain.js';
import { maxWeightDiff } from '../distributed/run-bit.js';
import { removeDir, tempDir } from '../helpers.js';
import { cliPath } from '../helpers.js';
import { decodeEventFile, eventFiles, expectedScalars, metricsRows, scalarSeries, sorted } from '../report/tensorboard.js';

const dir = tempDir('pretrain');
after(() => removeDir(dir));

const SMALL = { model: 'BiT-Tiny', crop: 32, precrop: 36, quiet: true, workers: 1 } as const;

test('upstream recipe: the paper numbers by default; --steps scales warm-up and decays; flips follow the dataset', async () => {
  const train = await openDataset(parseDataSpec('mnist?fraction=0.002'), 'train');
  const r = resolvePretrainRecipe(train, {});
  assert.deepEqual([r.batch, r.momentum, r.weightDecay, r.crop, r.precrop, r.loss, r.epochs], [4096, 0.9, 1e-4, 224, 256, 'softmax', 90]);
  // BiT's upstream pre-processing: the Inception-style crop (big_transfer issue #26), unless --crop resize
  assert.equal(r.cropStyle, 'inception');
  assert.equal(resolvePretrainRecipe(train, { cropStyle: 'resize' }).cropStyle, 'resize');
  assert.equal(r.lr, (0.03 * 4096) / 256);
  assert.equal(r.flip, false, 'MNIST digits are not flipped');
  const short = resolvePretrainRecipe(train, { batch: 16, steps: 90, variant: 'L' });
  // 120 images / 16 = 8 steps per epoch; BiT-L: 40 epochs, /10 at 23, 30, 37 -> 320 steps, scaled to 90
  assert.equal(short.stepsPerEpoch, 8);
  assert.deepEqual(
    short.schedule.decaySteps,
    [23, 30, 37].map((e) => Math.round(e * 8 * (90 / 320))),
  );
  assert.equal(short.schedule.totalSteps, 90);
  assert.equal(short.lr, (0.03 * 16) / 256);
  const tr = resolvePretrainRecipe(train, { batch: 16, lr: 0.5, flip: true });
  assert.deepEqual([tr.lr, tr.schedule.baseLr, tr.mixupAlpha, tr.flip], [0.5, 0.5, 0, true]);
});

test('micro-batching: --batch-split 4 gives the weights of one batch of 32 (GN+WS)', async () => {
  const run = (batchSplit: number) =>
    pretrain({
      ...SMALL,
      data: 'mnist?fraction=0.002',
      out: path.join(dir, `split-${batchSplit}`),
      batch: 32,
      batchSplit,
      steps: 3,
      warmupSteps: 0,
      lr: 0.01,
      evalSplit: 'none',
      seed: 1,
    });
  const [one, four] = [await run(1), await run(4)];
  assert.equal(one.steps, 3);
  assert.equal(four.steps, 3);
  const { diff, key } = await maxWeightDiff(path.join(dir, 'split-1', 'model.npz'), path.join(dir, 'split-4', 'model.npz'));
  assert.ok(diff <= 1e-5, `max |diff| ${diff} at ${key}`);
});

test('a small pre-training run on MNIST: the loss falls, and bit finetune --weights loads the result', async () => {
  const out = path.join(dir, 'mnist');
  const live = T.memory().numTensors;
  const m = await pretrain({
    ...SMALL,
    data: 'mnist?val=200&fraction=0.01',
    out,
    batch: 32,
    steps: 40,
    warmupSteps: 4,
    lr: 0.05,
    evalSplit: 'val',
    checkpointEvery: 20,
    tensorboard: path.join(dir, 'mnist-tb'),
  });
  assert.equal(T.memory().numTensors, live, 'pre-training left tensors behind');
  // the TensorBoard events (read back by an independent decoder) hold metrics.jsonl's numbers
  const events = decodeEventFile(eventFiles(path.join(dir, 'mnist-tb'))[0]);
  assert.deepEqual(sorted(scalarSeries(events)), sorted(expectedScalars(metricsRows(path.join(out, 'metrics.jsonl')))));
  assert.equal(scalarSeries(events).get('train/loss')!.length, 40);
  const log = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { loss?: number });
  const losses = log.filter((l) => l.loss !== undefined).map((l) => l.loss!);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(losses.slice(-10)) < mean(losses.slice(0, 10)) - 0.1, `the loss did not fall: ${losses.map((l) => l.toFixed(2)).join(' ')}`);
  assert.equal(m.eval_images, 200);
  assert.ok(m.top1! > 0.2, `top-1 ${m.top1} on 200 held-out digits after 40 steps`);
  assert.equal(m.task, 'pretrain');
  const meta = await readMeta(path.join(out, 'model.npz'));
  assert.deepEqual([meta?.model, meta?.headSize, meta?.crop], ['BiT-Tiny', 10, 32]);

  const ft = path.join(dir, 'finetuned');
  const r = spawnSync(
    process.execPath,
    [
      cliPath(),
      'finetune',
      '--model',
      'BiT-Tiny',
      '--weights',
      path.join(out, 'model.npz'),
      '--data',
      'digits',
      '--out',
      ft,
      '--steps',
      '3',
      '--batch',
      '16',
      '--resolution',
      '32',
      '--precrop',
      '36',
      '--threads',
      '1',
      '--workers',
      '1',
    ],
    { encoding: 'utf8', env: { ...process.env, BIT_NO_TTY: '1' }, timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const fm = JSON.parse(readFileSync(path.join(ft, 'metrics.json'), 'utf8')) as { weights: string; steps: number; top1: number };
  assert.deepEqual([fm.weights, fm.steps], [path.join(out, 'model.npz'), 3]);
});

test('a BatchNorm pre-training run (--norm batch) records its norm: eval rebuilds it with its moving averages, finetune loads it', async () => {
  const out = path.join(dir, 'bn');
  const m = await pretrain({
    ...SMALL,
    data: 'mnist?val=100&fraction=0.005',
    out,
    batch: 16,
    steps: 6,
    warmupSteps: 0,
    lr: 0.02,
    norm: 'batch',
    evalSplit: 'val',
  });
  const file = path.join(out, 'model.npz');
  assert.deepEqual((await readMeta(file))?.norm, { kind: 'batch' });
  assert.deepEqual((await readMeta(path.join(out, 'checkpoint.npz')))?.norm, { kind: 'batch' });
  // Rebuilt from the file alone: every BatchNorm key (moving averages included) loads, and
  // evaluation in eval mode reproduces the run's own final evaluation exactly.
  const { model } = await loadModel(file);
  try {
    const keys = model.store.entries().map((e) => e.key);
    assert.ok(
      keys.some((k) => k.endsWith('batch_norm/moving_mean')),
      `no BatchNorm moving averages among ${keys.slice(0, 8).join(', ')}...`,
    );
    const r = await evaluate(model, await openDataset(parseDataSpec('mnist?val=100&fraction=0.005'), 'val'), { crop: 32, workers: 1 });
    assert.equal(r.n, 100);
    assert.equal(r.top1, m.top1);
  } finally {
    model.dispose();
  }
  // The same folder with the model's own norm: refused by the run check, before any weight is loaded.
  await assert.rejects(
    pretrain({ ...SMALL, data: 'mnist?val=100&fraction=0.005', out, batch: 16, steps: 6, warmupSteps: 0, lr: 0.02, evalSplit: 'val' }),
    /checkpoint\.npz belongs to another run \(model BiT-Tiny \{"norm":\{"kind":"batch"\}\}, .*; this run: model BiT-Tiny, /,
  );
  const ft = await finetune({
    ...SMALL,
    model: 'BiT-Tiny',
    weights: file,
    data: 'digits',
    out: path.join(dir, 'bn-ft'),
    overrides: { steps: 2, batch: 16, crop: 32, precrop: 36 },
  });
  assert.equal(ft.steps, 2);
  assert.deepEqual((await readMeta(path.join(dir, 'bn-ft', 'model.npz')))?.norm, { kind: 'batch' }, 'the fine-tuned model keeps its BatchNorm layers');
});

test('multi-label data (several labels per image): sigmoid cross-entropy', async () => {
  // 40 MNIST digits; image of digit d has labels d and (d + 1) mod 10
  const root = path.join(dir, 'ml');
  mkdirSync(path.join(root, 'images'), { recursive: true });
  const mnist = await openMnist('test');
  const labels = mnist.requireLabels();
  if (mnist.source.kind !== 'memory') throw new Error('MNIST is held in memory');
  const pixels = mnist.source.memory.pixels;
  const lines: string[] = [];
  for (let i = 0; i < 40; i++) {
    await sharp(Buffer.from(pixels.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toFile(path.join(root, 'images', `${i}.png`));
    lines.push(`${i}.png\t${labels[i]},${(labels[i] + 1) % 10}`);
  }
  writeFileSync(path.join(root, 'classes.txt'), Array.from({ length: 10 }, (_, k) => `c${k}`).join('\n') + '\n');
  writeFileSync(path.join(root, 'train.tsv'), lines.join('\n') + '\n');
  writeFileSync(path.join(root, 'test.tsv'), lines.slice(0, 16).join('\n') + '\n');
  const m = await pretrain({ ...SMALL, data: `multilabel:${root}`, out: path.join(dir, 'ml-out'), batch: 8, steps: 4, evalSplit: 'test' });
  assert.equal(m.loss, 'sigmoid');
  assert.equal(m.multi_label, true);
  assert.ok(Number.isFinite(m.final_train_loss) && m.final_train_loss > 0, `loss ${m.final_train_loss}`);
  assert.equal(m.eval_images, 16);
  assert.ok(m.map !== null && m.map >= 0 && m.map <= 1, `mAP ${m.map}`);

  // fine-tuning on multi-label data: sigmoid cross-entropy, mean average precision
  const ft = (out: string, extra: string[]) =>
    spawnSync(
      process.execPath,
      [
        cliPath(),
        'finetune',
        '--model',
        'BiT-Tiny',
        '--data',
        `multilabel:${root}`,
        '--out',
        out,
        '--batch',
        '8',
        '--resolution',
        '32',
        '--precrop',
        '36',
        '--lr',
        '0.05',
        '--threads',
        '1',
        '--workers',
        '1',
        ...extra,
      ],
      { encoding: 'utf8', env: { ...process.env, BIT_NO_TTY: '1' }, timeout: 120_000 },
    );
  const r = ft(path.join(dir, 'ml-ft'), ['--steps', '60', '--weights', path.join(dir, 'ml-out', 'model.npz')]);
  assert.equal(r.status, 0, r.stderr);
  const fm = JSON.parse(readFileSync(path.join(dir, 'ml-ft', 'metrics.json'), 'utf8')) as { loss: string; map: number; top1: number; multi_label: boolean };
  assert.deepEqual([fm.loss, fm.multi_label], ['sigmoid', true]);
  // chance: a class's average precision is about its share of positive images (2 labels of 10: 0.2);
  // measured here 0.59 (the 16 test images are among the 40 training images)
  assert.ok(fm.map > 0.35 && fm.map <= 1, `mAP ${fm.map} after 60 steps on the training images`);
  assert.match(r.stdout, /mAP \d+\.\d+%/);
  const k = ft(path.join(dir, 'ml-ft-shots'), ['--steps', '2', '--shots', '1']);
  assert.equal(k.status, 1, k.stderr);
  assert.match(k.stderr, /is multi-label: a k-shot subset needs single-label data/);
});
