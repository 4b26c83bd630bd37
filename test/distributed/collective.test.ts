// The Gloo collective between two real processes on loopback: bucketed
// gradient averaging (several buckets, a parameter without a gradient on one
// rank, one without on both), sums, broadcast, the heartbeat-watched barrier,
// and the tensor-layer wrappers' argument checks. Plus the pure pieces:
// bucket planning, launcher flags and the torchrun environment.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as T from '../../src/tensor/index.js';
import { planBuckets } from '../../src/train/distributed.js';
import { checkFlags, loaderWorkersPerWorker, SINGLE_PROCESS, threadsPerWorker, workerEnvFrom } from '../../src/train/launch.js';
import { assertClose } from '../helpers.js';
import { freePort } from './run-bit.js';

const TENSOR = fileURLToPath(new URL('../../src/tensor/index.js', import.meta.url));
const DISTRIBUTED = fileURLToPath(new URL('../../src/train/distributed.js', import.meta.url));

/** Parameter shapes; 64 floats per bucket splits them into several buckets. */
const SHAPES = [[10], [4, 25], [3], [50], [7], [2, 3]];
/** Rank r's gradient of parameter i, element k. */
const gradValue = (r: number, i: number, k: number) => (r + 1) * 0.5 + i * 0.25 - k * 0.01;

const WORKER = `
import * as T from ${JSON.stringify(TENSOR)};
import { initDistributed } from ${JSON.stringify(DISTRIBUTED)};
const rank = Number(process.env.TEST_RANK);
const shapes = ${JSON.stringify(SHAPES)};
const gradValue = ${gradValue.toString()};
const col = await initDistributed({ rank, world: 2, masterAddr: '127.0.0.1', masterPort: Number(process.env.TEST_PORT), timeoutMs: 10000, bucketBytes: 64 * 4 });
const params = shapes.map((s) => T.zeros(s).setRequiresGrad(true).keep());
params.forEach((p, i) => {
  // parameter 2 has a gradient on rank 0 only, parameter 5 on neither
  if (i === 5 || (i === 2 && rank === 1)) return;
  const n = s => s.reduce((a, b) => a * b, 1);
  p.setGrad(T.tensor(Array.from({ length: n(shapes[i]) }, (_, k) => gradValue(rank, i, k)), shapes[i]));
});
const b = [T.full([5], rank + 1).keep(), T.tensor([rank, rank, rank], [3], 'int64').keep()];
const live = T.memory().numTensors;
col.averageGradients(params);
const reduces = col.allReduceCount;
const sums = col.sum([rank + 1, 10 * rank, 0.5]);
col.broadcast(b);
col.barrier('test');
// TEST_SLOW_MS: this rank is descheduled after the barrier, then reads the store once more (as the barrier's last poll
// does when the other rank passes the barrier first)
if (Number(process.env.TEST_SLOW_MS ?? 0) > 0) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.env.TEST_SLOW_MS));
  T.distStoreAdd('bit/test/after-barrier', 1);
}
const leaked = T.memory().numTensors - live;
const grads = params.map((p) => (p.grad === null ? null : p.grad.toArray()));
col.close();
process.stdout.write(JSON.stringify({ grads, reduces, sums, leaked, broadcast: b.map((t) => t.toArray()) }) + '\\n');
`;

interface WorkerResult {
  grads: (number[] | null)[];
  reduces: number;
  leaked: number;
  sums: number[];
  broadcast: number[][];
}

function runWorker(rank: number, port: number, slowMs = 0): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', WORKER], {
      env: { ...process.env, TEST_RANK: String(rank), TEST_PORT: String(port), TEST_SLOW_MS: String(slowMs) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`rank ${rank} exited with ${code}:\n${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as WorkerResult);
    });
  });
}

test('two processes: bucketed gradient averaging, sums, broadcast and a barrier', async () => {
  const port = await freePort();
  const results = await Promise.all([runWorker(0, port), runWorker(1, port)]);
  const sizes = SHAPES.map((s) => s.reduce((a, b) => a * b, 1));
  const buckets = planBuckets(
    SHAPES.map((_, i) => ({ dtype: 'float32', size: sizes[i] })),
    64 * 4,
  );
  assert.ok(buckets.length >= 3, `expected several buckets, planned ${buckets.length}`);
  for (const [rank, r] of results.entries()) {
    assert.equal(r.reduces, buckets.length, `rank ${rank}: one all-reduce per bucket`);
    assert.equal(r.leaked, 0, `rank ${rank}: tensors left behind by the collectives`);
    sizes.forEach((n, i) => {
      if (i === 5) {
        assert.equal(r.grads[i], null, `rank ${rank}: no rank had a gradient for parameter 5`);
        return;
      }
      // parameter 2: rank 1 contributes zeros, the sum is still divided by the world size (as DistributedDataParallel does)
      const expected = Array.from({ length: n }, (_, k) => (gradValue(0, i, k) + (i === 2 ? 0 : gradValue(1, i, k))) / 2);
      assertClose(r.grads[i]!, expected, 1e-6, `rank ${rank} parameter ${i}`);
    });
    assert.deepEqual(r.sums, [3, 10, 1]);
    assert.deepEqual(
      r.broadcast,
      [
        [1, 1, 1, 1, 1],
        [0, 0, 0],
      ],
      `rank ${rank} holds rank 0's tensors`,
    );
  }
});

test('rank 0, which hosts the store, leaves last: a rank slow to leave the last barrier still reaches the store', async () => {
  // Rank 1 passes the barrier, is held up for 300 ms, then reads the store. Before, rank 0 had taken the store down
  // with it by then, and rank 1 failed with "rank 0 was lost" (in a run: at the barrier before the final save).
  const port = await freePort();
  const results = await Promise.all([runWorker(0, port), runWorker(1, port, 300)]);
  for (const r of results) assert.deepEqual(r.sums, [3, 10, 1]);
});

test('bucket planning: in order, by dtype, at most bucketBytes unless one tensor is larger', () => {
  const plan = planBuckets(
    [
      { dtype: 'float32', size: 10 },
      { dtype: 'float32', size: 20 },
      { dtype: 'int64', size: 4 },
      { dtype: 'float32', size: 100 },
      { dtype: 'float32', size: 5 },
    ],
    30 * 4,
  );
  assert.deepEqual(
    plan.map((b) => [b.dtype, b.members]),
    [
      ['float32', [0, 1]],
      ['int64', [2]],
      ['float32', [3]],
      ['float32', [4]],
    ],
  );
});

test('tensor-layer wrappers check their arguments before reaching c10d', () => {
  assert.throws(() => T.distInit('127.0.0.1', 70000, 0, 1, 1000), /Argument 'port' passed to 'distInit' must be an integer in 1\.\.65535, but got 70000/);
  assert.throws(() => T.distInit('127.0.0.1', 29500, 2, 2, 1000), /Argument 'rank' passed to 'distInit' must be below the world size 2, but got 2/);
  assert.throws(() => T.distStoreConnect('', 29500, true, 1, 1000), /Argument 'host' passed to 'distStoreConnect'/);
  assert.throws(() => T.distAllReduce_(T.zeros([1]), 'mean' as T.ReduceOp), /'sum', 'max' or 'min'/);
  assert.throws(() => T.distAllReduce_(T.zeros([1])), /not initialised/);
  assert.equal(T.distIsInitialized(), false);
  assert.equal(T.distAvailable(), true);
});

test('launcher flags and the torchrun environment', () => {
  assert.equal(checkFlags({ ...SINGLE_PROCESS, nprocPerNode: 4, nnodes: 2, nodeRank: 1 }), 8);
  assert.throws(() => checkFlags({ ...SINGLE_PROCESS, nnodes: 2, nodeRank: 2 }), /--node-rank 2 is outside 0\.\.1 \(--nnodes 2\)/);
  assert.throws(() => checkFlags({ ...SINGLE_PROCESS, nnodes: 2, masterPort: 0 }), /--master-port 0 .* one machine only/);
  assert.equal(workerEnvFrom({}), null);
  assert.deepEqual(workerEnvFrom({ RANK: '3', WORLD_SIZE: '4', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'node0', MASTER_PORT: '29500' }), {
    rank: 3,
    world: 4,
    localRank: 1,
    localWorld: 2,
    masterAddr: 'node0',
    masterPort: 29500,
  });
  assert.throws(() => workerEnvFrom({ RANK: '4', WORLD_SIZE: '4', MASTER_ADDR: 'x', MASTER_PORT: '1' }), /RANK=4 is outside WORLD_SIZE=4/);
  assert.throws(() => workerEnvFrom({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '1' }), /MASTER_ADDR must be set/);
  assert.deepEqual([threadsPerWorker(2, 2), threadsPerWorker(3, 2), threadsPerWorker(2, 16)], [1, 1, 8]);
  assert.deepEqual([loaderWorkersPerWorker(2, 2), loaderWorkersPerWorker(2, 16)], [1, 7]);
});
