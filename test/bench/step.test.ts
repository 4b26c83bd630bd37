// What the optimizations must not change: the SGD update's arithmetic (the
// fused momentum pass), the op-timing aggregation, the caching allocator's reuse, and freeing a
// module's intermediates when it returns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fastestOps, median, variation } from '../../src/bench/index.js';
import { parseIntList } from '../../src/cli/options.js';
import { Module } from '../../src/nn/index.js';
import * as T from '../../src/tensor/index.js';
import { toModelInput } from '../../src/train/batch.js';
import { SGD } from '../../src/train/optim.js';
import { assertClose } from '../helpers.js';

T.configureThreads();

test('SGD with momentum and weight decay follows PyTorch: buf = m*buf + (g + wd*p); p -= lr*buf', () => {
  T.tidy(() => {
    const p = T.tensor([1, -2, 3]).keep().setRequiresGrad(true);
    const opt = new SGD([p], { momentum: 0.9, weightDecay: 0.1 });
    let pv = [1, -2, 3];
    let buf = [0, 0, 0];
    const grads = [
      [0.5, 1, -1],
      [2, 0, 0.25],
    ];
    for (const g of grads) {
      p.setGrad(T.tensor(g));
      opt.step(0.1);
      opt.zeroGrad();
      buf = buf.map((b, i) => 0.9 * b + g[i] + 0.1 * pv[i]);
      pv = pv.map((v, i) => v - 0.1 * buf[i]);
    }
    assertClose(p.toArray(), pv, 1e-6, 'parameters');
    assertClose(opt.momentumBuffers[0].toArray(), buf, 1e-6, 'momentum');
    assert.equal(p.grad, null);
    opt.dispose();
    p.dispose();
  });
});

test('foreachMulAdd_ computes scale * t + other in place and checks list lengths', () => {
  T.tidy(() => {
    const a = T.tensor([1, 2, 3]);
    const b = T.tensor([1, 1, 2, 2], [2, 2]);
    T.foreachMulAdd_([a, b], 0.5, [T.tensor([10, 20, 30]), T.tensor([1, 0, 0, 1], [2, 2])]);
    assert.deepEqual(a.toArray(), [10.5, 21, 31.5]);
    assert.deepEqual(b.toArray(), [1.5, 0.5, 1, 2]);
    assert.throws(() => T.foreachMulAdd_([a], 1, []), /equal length/);
  });
});

test('op timings: self time excludes the ops an op called, per thread', () => {
  const rows = T.aggregateOpEvents([
    ['outer', 1, 0, 100, 0],
    ['inner', 1, 10, 40, 1],
    ['inner', 1, 50, 60, 1],
    ['leaf', 1, 12, 20, 2],
    ['outer', 2, 0, 30, 0],
  ]);
  const by = new Map(rows.map((r) => [r.op, r]));
  assert.deepEqual(by.get('outer'), { op: 'outer', calls: 2, selfMs: (60 + 30) / 1000, totalMs: 130 / 1000 });
  assert.deepEqual(by.get('inner'), { op: 'inner', calls: 2, selfMs: (22 + 10) / 1000, totalMs: 40 / 1000 });
  assert.deepEqual(by.get('leaf'), { op: 'leaf', calls: 1, selfMs: 8 / 1000, totalMs: 8 / 1000 });
  assert.equal(rows[0].op, 'outer');
});

test('profileOps records libtorch ops, the backward pass included', () => {
  const rows = T.tidy(() => {
    const w = T.randn([8, 8]).setRequiresGrad(true);
    return T.profileOps(() =>
      T.tidy(() =>
        T.matmul(T.randn([4, 8]), w)
          .relu()
          .sum()
          .backward(),
      ),
    );
  });
  const ops = rows.map((r) => r.op);
  assert.ok(ops.includes('aten::mm'), ops.join(', '));
  assert.ok(ops.includes('aten::threshold_backward'), ops.join(', '));
  assert.ok(rows.every((r) => r.calls >= 1 && r.selfMs >= 0 && r.totalMs >= r.selfMs - 1e-9));
});

test('the caching allocator reuses a freed block for the next tensor of the same size', () => {
  const s0 = T.allocatorStats();
  assert.equal(s0.enabled, process.env.BIT_CACHING_ALLOCATOR !== '0');
  assert.ok(s0.enabled, 'the suite runs with the caching allocator on (unset BIT_CACHING_ALLOCATOR)');
  T.tidy(() => void T.ones([1 << 19]).mul(2)); // two blocks of 2 MiB: mapped (or reused)
  const s1 = T.allocatorStats();
  for (let i = 0; i < 5; i++) T.tidy(() => void T.ones([1 << 19]).mul(2));
  const s2 = T.allocatorStats();
  assert.equal(s2.misses, s1.misses, 'no new mapping for tensors of a size seen before');
  assert.ok(s2.hits >= s1.hits + 10);
  assert.equal(s2.inUseBytes, s0.inUseBytes);
  T.tidy(() => {
    const t = T.full([300, 1000], 7); // 1.2 MB, and small tensors through the default allocator
    assert.equal(t.sum().item(), 2_100_000);
    assert.deepEqual(T.tensor([1, 2]).add(1).toArray(), [2, 3]);
  });
  T.emptyCache();
  assert.equal(T.allocatorStats().cachedBytes, 0);
});

test('a module frees the tensors it creates and does not return when it returns', () => {
  class Chain extends Module {
    forward(x: T.Tensor): T.Tensor {
      return x.add(1).mul(2).relu().sub(1);
    }
  }
  const m = new Chain();
  T.tidy(() => {
    const x = T.ones([3]);
    const before = T.memory().numTensors;
    const y = m.forward(x);
    assert.equal(T.memory().numTensors, before + 1, 'only the output is left');
    assert.deepEqual(y.toArray(), [3, 3, 3]);
    assert.equal(m.forward(x).isDisposed, false);
  });
});

test('toModelInput: uint8 NHWC to float NCHW in [-1, 1] in one copy, as x / 127.5 - 1', () => {
  T.tidy(() => {
    const raw = T.tensor(Uint8Array.from([0, 255, 51, 102, 127, 204]), [1, 1, 2, 3], 'uint8');
    const x = toModelInput(raw);
    assert.deepEqual(x.shape, [1, 3, 1, 2]);
    assert.equal(x.dtype, 'float32');
    const want = [0, 102, 255, 127, 51, 204].map((v) => Math.fround(Math.fround(v * Math.fround(1 / 127.5)) - 1));
    assert.deepEqual(x.toArray(), want);
    assert.deepEqual(toModelInput(T.zeros([0, 4, 4, 3], { dtype: 'uint8' })).shape, [0, 3, 4, 4]);
  });
});

test('conv2dPacked with a packed kernel equals conv2d (stride, padding, bias)', () => {
  assert.ok(T.buildInfo().mkldnn, "this libtorch has no oneDNN (mkldnn): Debian's libtorch-dev has it");
  T.tidy(() => {
    T.manualSeed(5);
    const x = T.randn([2, 6, 9, 9]);
    const w = T.randn([4, 6, 3, 3]);
    const bias = T.randn([4]);
    const opts = { bias, stride: 2, padding: 1 };
    const packed = T.packConv2dWeight(w, opts);
    assertClose(T.conv2dPacked(x, packed, opts).toArray(), T.conv2d(x, w, opts).toArray(), 1e-4, 'convolution');
    assert.throws(() => T.conv2dPacked(T.randn([2, 5, 9, 9]), packed, opts), /must have 6 input channels/);
  });
});

test('maxPool2d (pooled in channels-last, copied back) has the values and gradients of a max over strided slices', () => {
  T.tidy(() => {
    T.manualSeed(6);
    const base = T.randn([2, 5, 11, 11]);
    const weights = T.arange(0, 2 * 5 * 5 * 5, 1, 'float32').reshape([2, 5, 5, 5]);
    const run = (pool: (x: T.Tensor) => T.Tensor, x: T.Tensor): [number[], number[]] => {
      const leaf = x.detach().setRequiresGrad(true);
      const y = pool(leaf);
      y.mul(weights).sum().backward();
      return [y.contiguous().toArray(), (leaf.grad as T.Tensor).contiguous().toArray()];
    };
    // kernel 3, stride 2: y[i, j] = max over di, dj of x[2i + di, 2j + dj]
    const slices = (x: T.Tensor): T.Tensor => {
      let m: T.Tensor | null = null;
      for (let di = 0; di < 3; di++) {
        for (let dj = 0; dj < 3; dj++) {
          const s = x.slice(2, di, di + 9, 2).slice(3, dj, dj + 9, 2);
          m = m === null ? s : m.maximum(s);
        }
      }
      return m as T.Tensor;
    };
    const [y, g] = run((x) => T.maxPool2d(x, 3, 2), base);
    const [yRef, gRef] = run(slices, base);
    assert.deepEqual(y, yRef);
    assert.deepEqual(g, gRef);
    const [yCl, gCl] = run((x) => T.maxPool2d(x, 3, 2), base.contiguous('channelsLast'));
    assert.deepEqual(yCl, yRef);
    assert.deepEqual(gCl, gRef);
  });
});

test('stats helpers', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.ok(Number.isNaN(median([])));
  assert.equal(variation([2]), 0);
  assert.ok(Math.abs(variation([1, 3]) - Math.SQRT2 / 2) < 1e-12);
  assert.deepEqual(parseIntList(1)('8, 16,8'), [8, 16]);
  assert.throws(() => parseIntList(1)('8,0'), /expected an integer >= 1, got '0'/);
  const a = [
    { op: 'conv', calls: 2, selfMs: 5, totalMs: 6 },
    { op: 'gn', calls: 1, selfMs: 1, totalMs: 1 },
  ];
  const b = [
    { op: 'conv', calls: 2, selfMs: 4, totalMs: 7 },
    { op: 'relu', calls: 1, selfMs: 2, totalMs: 2 },
  ];
  assert.deepEqual(fastestOps([a, b]), [b[0], b[1], a[1]]);
});
