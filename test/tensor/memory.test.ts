// Deterministic memory: scopes free intermediates; 200 training steps keep the
// live-tensor count and the process RSS flat; seeded runs repeat exactly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as T from '../../src/tensor/index.js';

test('tidy frees intermediates, keeps results and kept tensors, and frees on throw', () => {
  const before = T.memory().numTensors;
  const kept: T.Tensor[] = [];
  const out = T.tidy(() => {
    const a = T.ones([3]);
    const b = a.mul(2);
    kept.push(T.keep(b.add(1)));
    const inner = T.tidy(() => a.add(b)); // moves to this scope
    return { sum: inner.sum(), parts: [inner] };
  });
  assert.equal(T.memory().numTensors, before + 3); // sum, inner, kept
  assert.equal(out.sum.item(), 9);
  T.dispose(out);
  kept[0].dispose();
  assert.equal(T.memory().numTensors, before);
  assert.throws(() =>
    T.tidy(() => {
      T.ones([4]).mul(3);
      throw new Error('boom');
    }),
  );
  assert.equal(T.memory().numTensors, before);
});

test('tidy refuses a function that returns a Promise (its scope would end before the work), freeing what it made', () => {
  const before = T.memory().numTensors;
  // the type forbids it; a cast stands for JavaScript callers
  const asyncFn = (async () => T.ones([2])) as unknown as () => T.Tensor;
  assert.throws(() => T.tidy(() => (T.zeros([3]), asyncFn())), /tidy\(fn\): fn returned a Promise/);
  assert.equal(T.memory().numTensors, before);
});

interface Net {
  params: T.Tensor[];
  momentum: T.Tensor[];
}

function makeNet(seed: number): Net {
  T.manualSeed(seed);
  const params = [
    T.randn([8, 3, 3, 3]).mul(0.2),
    T.ones([8]),
    T.zeros([8]),
    T.randn([16, 8, 3, 3]).mul(0.1),
    T.ones([16]),
    T.zeros([16]),
    T.randn([10, 16]).mul(0.1),
    T.zeros([10]),
  ].map((p) => T.keep(p.setRequiresGrad(true)));
  return { params, momentum: params.map((p) => T.keep(T.zerosLike(p))) };
}

function step(net: Net, x: T.Tensor, y: T.Tensor): number {
  return T.tidy(() => {
    const [w1, g1, b1, w2, g2, b2, wf, bf] = net.params;
    let h = T.conv2d(x, w1, { padding: 1 });
    h = T.groupNorm(h, 4, g1, b1, 1e-5).relu();
    h = T.maxPool2d(h, 2);
    h = T.conv2d(h, w2, { padding: 1, stride: 2 });
    h = T.groupNorm(h, 4, g2, b2, 1e-5).relu();
    const logits = T.linear(h.mean([2, 3]), wf, bf);
    const loss = T.crossEntropy(logits, y);
    loss.backward();
    const grads = net.params.map((p) => p.grad!);
    T.noGrad(() => {
      T.foreachMul_(net.momentum, 0.9);
      T.foreachAdd_(net.momentum, grads, 1);
      T.foreachAdd_(net.params, net.momentum, -0.05);
    });
    net.params.forEach((p) => p.setGrad(null));
    return loss.item();
  });
}

test('200 training steps of a small conv net: live tensors and RSS stay flat', () => {
  const net = makeNet(7);
  T.manualSeed(8);
  const x = T.keep(T.randn([8, 3, 16, 16]));
  const y = T.keep(T.randint(0, 10, [8]));
  const baseline = T.memory().numTensors;
  const counts: number[] = [];
  let rssAfterWarmup = 0;
  const losses: number[] = [];
  for (let i = 0; i < 200; i++) {
    losses.push(step(net, x, y));
    counts.push(T.memory().numTensors);
    if (i === 19) rssAfterWarmup = process.memoryUsage().rss;
  }
  const growthMb = (process.memoryUsage().rss - rssAfterWarmup) / 2 ** 20;
  assert.ok(
    counts.every((c) => c === baseline),
    `live tensor count moved: ${[...new Set(counts)].join(', ')} (baseline ${baseline})`,
  );
  assert.ok(growthMb < 25, `RSS grew by ${growthMb.toFixed(1)} MB over 180 steps`);
  assert.ok(losses[199] < losses[0] * 0.5, `the net did not learn a fixed batch: ${losses[0]} -> ${losses[199]}`);
  T.dispose([...net.params, ...net.momentum, x, y]);
  assert.equal(T.memory().numTensors, baseline - 18);
});

test('a fixed seed gives identical random numbers and identical training', () => {
  T.manualSeed(123);
  const a = T.randn([5]).toArray();
  T.manualSeed(123);
  const b = T.randn([5]).toArray();
  assert.deepEqual(a, b);
  const run = () => {
    const net = makeNet(11);
    T.manualSeed(12);
    const x = T.randn([4, 3, 8, 8]);
    const y = T.randint(0, 10, [4]);
    for (let i = 0; i < 3; i++) step(net, x, y);
    const out = net.params[6].toArray();
    T.dispose([...net.params, ...net.momentum, x, y]);
    return out;
  };
  assert.deepEqual(run(), run());
});
