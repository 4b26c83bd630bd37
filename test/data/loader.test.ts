import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { openDigits } from '../../src/data/builtin.js';
import type { Dataset } from '../../src/data/dataset.js';
import { openImageFolder } from '../../src/data/folder.js';
import { DataLoader, evalLoader, measureLoader, trainLoader, type Batch, type TrainLoaderOptions } from '../../src/data/loader.js';
import { makeDigitFolder, mnistTestSet, writeCorrupt } from './fixtures.js';
import { removeDir, tempDir } from '../helpers.js';

const tmp = tempDir('loader');
let digits: Dataset;
let small: Dataset;
before(async () => {
  digits = await openDigits('train');
  small = digits.subset(
    Int32Array.from({ length: 120 }, (_, i) => i * 10),
    'digits/train[::10][:120]',
  );
});
after(() => removeDir(tmp));

async function take(loader: DataLoader, count: number): Promise<Batch[]> {
  const out: Batch[] = [];
  try {
    for await (const b of loader) {
      out.push(b);
      if (out.length === count) break;
    }
  } finally {
    await loader.close();
  }
  return out;
}

function assertSameBatches(a: Batch[], b: Batch[]): void {
  assert.equal(a.length, b.length);
  for (let k = 0; k < a.length; k++) {
    assert.equal(a[k].step, b[k].step);
    assert.deepEqual(a[k].indices, b[k].indices, `step ${a[k].step}: indices`);
    assert.deepEqual(a[k].labels, b[k].labels, `step ${a[k].step}: labels`);
    assert.deepEqual(a[k].augment, b[k].augment, `step ${a[k].step}: augmentation`);
    assert.ok(Buffer.from(a[k].images).equals(Buffer.from(b[k].images)), `step ${a[k].step}: images differ`);
  }
}

const opts: TrainLoaderOptions = { batchSize: 40, precrop: 40, crop: 32, flip: true, seed: 7 };

test('the same batches with 1 and 2 workers for the same seed; another seed differs', async () => {
  const one = await take(trainLoader(small, { ...opts, workers: 1 }), 5);
  const two = await take(trainLoader(small, { ...opts, workers: 2, prefetch: 1 }), 5);
  assertSameBatches(one, two);
  for (const b of one) {
    assert.equal(b.n, 40);
    assert.equal(b.images.length, 40 * 32 * 32 * 3);
    assert.ok(b.labels instanceof Int32Array);
    b.indices.forEach((i, k) => assert.equal(b.labels[k], small.label(i)));
  }
  const other = await take(trainLoader(small, { ...opts, seed: 8, workers: 1 }), 1);
  assert.notDeepEqual(other[0].indices, one[0].indices);
});

test('each epoch is a fresh permutation: every sample once per epoch, order reshuffled', async () => {
  const batches = await take(trainLoader(small, { ...opts, workers: 2 }), 6);
  const epoch0 = batches.slice(0, 3).flatMap((b) => [...b.indices]);
  const epoch1 = batches.slice(3, 6).flatMap((b) => [...b.indices]);
  const all = Array.from({ length: 120 }, (_, i) => i);
  assert.deepEqual(
    [...epoch0].sort((x, y) => x - y),
    all,
  );
  assert.deepEqual(
    [...epoch1].sort((x, y) => x - y),
    all,
  );
  assert.notDeepEqual(epoch0, epoch1);
  assert.deepEqual(
    batches.map((b) => b.epoch),
    [0, 0, 0, 1, 1, 1],
  );
  // Steps need not align with epochs: with 50 per batch, step 2 spans epochs 0 and 1.
  const loader = trainLoader(small, { ...opts, batchSize: 50, workers: 1 });
  const p = loader.plan(2);
  assert.deepEqual([...p.indices.subarray(0, 20)], [...loader.epochPermutation(0).subarray(100, 120)]);
  assert.deepEqual([...p.indices.subarray(20)], [...loader.epochPermutation(1).subarray(0, 30)]);
  assert.equal(loader.stepsPerEpoch, 2.4);
  await loader.close();
});

test('startStep resumes with exactly the batches a full run gives from that step', async () => {
  const full = await take(trainLoader(small, { ...opts, workers: 1 }), 8);
  const resumed = await take(trainLoader(small, { ...opts, workers: 2, startStep: 5 }), 3);
  assert.deepEqual(
    resumed.map((b) => b.step),
    [5, 6, 7],
  );
  assertSameBatches(full.slice(5), resumed);
  // Resuming far ahead computes the plan without decoding the skipped batches.
  const far = trainLoader(digits, { ...opts, workers: 1, startStep: 1_000_000 });
  const t0 = performance.now();
  const [b] = await take(far, 1);
  assert.equal(b.step, 1_000_000);
  assert.ok(performance.now() - t0 < 5000);
});

test('sharding: 2 ranks get disjoint halves that together are the global batch', async () => {
  const global = await take(trainLoader(small, { ...opts, workers: 1 }), 4);
  const r0 = await take(trainLoader(small, { ...opts, workers: 1, rank: 0, worldSize: 2 }), 4);
  const r1 = await take(trainLoader(small, { ...opts, workers: 1, rank: 1, worldSize: 2 }), 4);
  for (let s = 0; s < 4; s++) {
    assert.equal(r0[s].n, 20);
    const a = new Set(r0[s].indices);
    for (const i of r1[s].indices) assert.ok(!a.has(i), `step ${s}: sample ${i} on both ranks`);
    assert.deepEqual([...r0[s].indices, ...r1[s].indices], [...global[s].indices]);
    assert.ok(Buffer.concat([r0[s].images, r1[s].images]).equals(Buffer.from(global[s].images)), `step ${s}: images`);
  }
  // Evaluation shards cover the split exactly once; a rank's last batch may be partial or empty.
  const seen: number[] = [];
  for (const rank of [0, 1]) {
    const loader = evalLoader(small, { batchSize: 50, crop: 16, workers: 1, rank, worldSize: 2 });
    const bs = await take(loader, 100);
    assert.equal(bs.length, 3);
    assert.deepEqual(
      bs.map((b) => b.n),
      rank === 0 ? [25, 25, 20] : [25, 25, 0],
    );
    for (const b of bs) seen.push(...b.indices);
  }
  assert.deepEqual(
    seen.sort((x, y) => x - y),
    Array.from({ length: 120 }, (_, i) => i),
  );
  assert.throws(() => trainLoader(small, { ...opts, batchSize: 41, worldSize: 2 }), /batchSize 41 must be a multiple of worldSize 2/);
  assert.throws(() => trainLoader(small, { ...opts, rank: 2, worldSize: 2 }), /rank 2 is out of range for worldSize 2/);
});

test('evaluation: the split once, in order, last batch partial; can be run again', async () => {
  const loader = evalLoader(small, { batchSize: 50, crop: 16, workers: 2 });
  try {
    for (let round = 0; round < 2; round++) {
      const bs: Batch[] = [];
      for await (const b of loader) bs.push(b);
      assert.deepEqual(
        bs.map((b) => b.n),
        [50, 50, 20],
      );
      assert.deepEqual(
        bs.flatMap((b) => [...b.indices]),
        Array.from({ length: 120 }, (_, i) => i),
      );
      assert.equal(bs[2].images.length, 20 * 16 * 16 * 3);
    }
    const it = loader[Symbol.asyncIterator]();
    await it.next();
    await assert.rejects(loader[Symbol.asyncIterator]().next(), /already being iterated/);
    await it.return();
  } finally {
    await loader.close();
  }
  assert.equal(loader.liveWorkers, 0);
  await assert.rejects(loader[Symbol.asyncIterator]().next(), /the data loader is closed/);
});

test('a corrupt image in a worker surfaces as an error naming the file', async () => {
  const root = path.join(tmp, 'bad');
  await makeDigitFolder(root, 3, 1);
  const junk = path.join(root, 'train', 'one', 'zz-broken.png');
  await writeCorrupt(junk);
  const ds = await openImageFolder(root, 'train');
  const loader = trainLoader(ds, { batchSize: ds.length, precrop: 32, crop: 28, workers: 2 });
  await assert.rejects(take(loader, 1), (err: Error) => {
    assert.ok(err.message.includes(junk), err.message);
    assert.match(err.message, /cannot decode image/);
    return true;
  });
  assert.equal(loader.liveWorkers, 0);
  const skipping = await openImageFolder(root, 'train', { skipBadImages: true });
  assert.equal(skipping.skipped.length, 1);
  const [b] = await take(trainLoader(skipping, { batchSize: skipping.length, precrop: 32, crop: 28, workers: 2 }), 1);
  assert.equal(b.n, 9);
});

test('MNIST at the BiT-HyperRule sizes (160 -> 128), and measureLoader', async () => {
  const mnist = await mnistTestSet();
  const [b] = await take(trainLoader(mnist, { batchSize: 16, precrop: 160, crop: 128, workers: 2 }), 1);
  assert.equal(b.images.length, 16 * 128 * 128 * 3);
  const r = await measureLoader(mnist, { batchSize: 16, precrop: 160, crop: 128, workers: 1, batches: 2, warmupBatches: 1 });
  assert.equal(r.images, 32);
  assert.ok(r.imagesPerSecond > 0);
});

test('close() stops the workers and the process exits; idle workers never hold it open', () => {
  const loaderUrl = new URL('../../src/data/loader.js', import.meta.url).href;
  const builtinUrl = new URL('../../src/data/builtin.js', import.meta.url).href;
  for (const close of [true, false]) {
    const script = `
      import { trainLoader } from ${JSON.stringify(loaderUrl)};
      import { openDigits } from ${JSON.stringify(builtinUrl)};
      const ds = await openDigits('train');
      const loader = trainLoader(ds, { batchSize: 32, precrop: 20, crop: 16, workers: 2 });
      let n = 0;
      for await (const b of loader) { if (++n === 3) break; }
      if (${close}) { await loader.close(); console.log('live ' + loader.liveWorkers); } else console.log('not closed');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.signal, null, `child ${close ? 'with' : 'without'} close() did not exit by itself: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), close ? 'live 0' : 'not closed');
  }
});
