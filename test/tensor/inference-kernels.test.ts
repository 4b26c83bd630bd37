// The inference kernels (native/src/inference.cc) against libtorch's unfused
// ops they replace: groupNormRelu against groupNorm then relu, conv2dPacked
// (with the residual added in place) against conv2d then add; neither may run
// where gradients are recorded, and the model uses them only without
// gradients.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getModel } from '../../src/models/index.js';
import { native } from '../../src/native/index.js';
import { GroupNorm, VarStore } from '../../src/nn/index.js';
import * as T from '../../src/tensor/index.js';
import { assertClose } from '../helpers.js';

T.configureThreads();

/** Values of `t` in NCHW order whatever its layout. */
const values = (t: T.Tensor): number[] => t.contiguous().toArray();

test('groupNormRelu equals groupNorm then relu: NCHW and channels-last, 2-D to 5-D, with and without affine and ReLU', () => {
  T.tidy(() => {
    T.manualSeed(11);
    const cases: { shape: number[]; groups: number }[] = [
      { shape: [3, 12, 5, 7], groups: 4 },
      { shape: [2, 64, 9, 9], groups: 32 },
      { shape: [2, 6, 1, 1], groups: 3 },
      { shape: [4, 8], groups: 2 },
      { shape: [2, 6, 11], groups: 6 },
      { shape: [2, 4, 3, 2, 5], groups: 1 },
    ];
    for (const { shape, groups } of cases) {
      const c = shape[1];
      // an offset and a spread per channel, as activations have, so that cancellation in the variance would show
      const scale = T.rand([1, c, ...shape.slice(2).map(() => 1)]).mul(3);
      const offset = T.randn([1, c, ...shape.slice(2).map(() => 1)]).mul(4);
      const x = T.randn(shape).mul(scale).add(offset);
      const gamma = T.randn([c]);
      const beta = T.randn([c]);
      const layouts = shape.length === 4 ? [x, x.contiguous('channelsLast')] : [x];
      for (const input of layouts) {
        const what = `[${shape.join(', ')}] groups ${groups}${input === x ? '' : ' channels-last'}`;
        for (const relu of [true, false]) {
          const want = T.groupNorm(x, groups, gamma, beta, 1e-5);
          const got = T.groupNormRelu(input, groups, gamma, beta, 1e-5, relu);
          assert.deepEqual(got.shape, shape, what);
          assertClose(values(got), values(relu ? want.relu() : want), 2e-5, `${what}, relu ${relu}`);
        }
        assertClose(values(T.groupNormRelu(input, groups, null, null, 1e-5)), values(T.groupNorm(x, groups, null, null, 1e-5).relu()), 2e-5, what);
      }
      // the result keeps the input's layout
      if (shape.length === 4 && shape[2] * shape[3] > 1) {
        assert.equal(native().isChannelsLast(T.groupNormRelu(x.contiguous('channelsLast'), groups, gamma, beta, 1e-5).handle), true);
        assert.equal(native().isChannelsLast(T.groupNormRelu(x, groups, gamma, beta, 1e-5).handle), false);
      }
    }
  });
});

test('groupNormRelu refuses what it cannot compute: gradients, other dtypes, groups that do not divide the channels', () => {
  T.tidy(() => {
    const x = T.randn([2, 4, 3, 3]);
    const g = T.ones([4]).setRequiresGrad(true);
    assert.throws(() => T.groupNormRelu(x, 2, g, null, 1e-5), /no gradient; where gradients are needed use groupNorm then relu/);
    assert.throws(() => T.groupNormRelu(x.detach().setRequiresGrad(true), 2, null, null, 1e-5), /no gradient/);
    // without gradient recording the same parameters are fine
    T.noGrad(() => assert.deepEqual(T.groupNormRelu(x, 2, g, null, 1e-5).shape, [2, 4, 3, 3]));
    assert.throws(() => T.groupNormRelu(x.to('float64'), 2, null, null, 1e-5), /float32/);
    assert.throws(() => T.groupNormRelu(x, 3, null, null, 1e-5), /must divide the 4 channels/);
  });
});

test('GroupNorm.forwardRelu fuses only without gradients: the training forward records groupNorm and relu, and its gradient', () => {
  T.tidy(() => {
    const store = new VarStore();
    const gn = new GroupNorm(store.root(), 8, 4);
    T.tidy(() => T.noGrad(() => void gn.gamma.copy_(T.rand([8]).add(0.5))));
    const x = T.randn([2, 8, 5, 5]);
    const opsOf = (fn: () => void): string[] => T.profileOps(fn).map((o) => o.op);
    const inference = opsOf(() => void T.tidy(() => T.noGrad(() => gn.forwardRelu(x))));
    assert.ok(inference.includes('bit::group_norm_relu') && !inference.includes('aten::native_group_norm'), inference.join(', '));
    const training = opsOf(() => void T.tidy(() => gn.forwardRelu(x).sum().backward()));
    assert.ok(!training.includes('bit::group_norm_relu') && training.includes('aten::native_group_norm'), training.join(', '));
    // the same values either way
    assertClose(T.noGrad(() => gn.forwardRelu(x)).toArray(), gn.forwardRelu(x).detach().toArray(), 2e-5);
    store.dispose();
  });
});

test('conv2dPacked equals conv2d, returns channels-last, and adds into `accumulate` in place', () => {
  T.tidy(() => {
    T.manualSeed(12);
    const cases = [
      { x: [2, 16, 9, 9], w: [32, 16, 3, 3], opts: { stride: 1, padding: 1 } }, // Winograd-shaped where enabled
      { x: [3, 32, 8, 8], w: [64, 32, 1, 1], opts: { stride: 2 } },
      { x: [1, 3, 17, 17], w: [16, 3, 7, 7], opts: { stride: 2, padding: 3 } },
      { x: [2, 8, 10, 10], w: [8, 4, 3, 3], opts: { padding: 2, dilation: 2, groups: 2 } },
    ];
    for (const c of cases) {
      const x = T.randn(c.x);
      const w = T.randn(c.w);
      const bias = T.randn([c.w[0]]);
      const packed = T.packConv2dWeight(w, c.opts, c.x);
      const want = T.conv2d(x, w, { ...c.opts, bias });
      const what = `x [${c.x.join(', ')}], w [${c.w.join(', ')}]`;
      assertClose(values(T.conv2dPacked(x, packed, { ...c.opts, bias })), want.toArray(), 1e-4, what);
      // another batch size and input layout: another primitive for the same packed kernel
      const x2 = T.randn([c.x[0] + 2, ...c.x.slice(1)]).contiguous('channelsLast');
      assertClose(values(T.conv2dPacked(x2, packed, c.opts)), T.conv2d(x2, w, c.opts).toArray(), 1e-4, `${what}, batch ${c.x[0] + 2}`);
      if (T.buildInfo().onednn) {
        const y = T.conv2dPacked(x, packed, c.opts);
        assert.equal(native().isChannelsLast(y.handle), true, `${what}: channels-last output`);
        const residual = T.randn(want.shape).contiguous('channelsLast');
        const expected = want.add(residual).toArray();
        const sum = T.conv2dPacked(x, packed, { ...c.opts, bias, accumulate: residual });
        assert.equal(native().sameStorage(sum.handle, residual.handle), true, `${what}: added in place`);
        assertClose(values(sum), expected, 1e-4, `${what}, accumulated`);
      }
    }
    const packed = T.packConv2dWeight(T.randn([4, 6, 3, 3]), { padding: 1 });
    assert.throws(() => T.conv2dPacked(T.randn([2, 5, 9, 9]), packed, { padding: 1 }), /must have 6 input channels/);
    assert.throws(() => T.conv2dPacked(T.randn([2, 6, 9, 9]), packed, { padding: 2 }), /packed for stride \[1, 1\], padding \[1, 1\]/);
    assert.throws(() => T.conv2dPacked(T.randn([2, 6, 9, 9]), T.randn([4, 6, 3, 3]), { padding: 1 }), /must be a kernel from packConv2dWeight/);
  });
});

test('BiT without gradients runs the fused kernels; with gradients the differentiable ops (same logits within 1e-4, input untouched, no tensor left)', () => {
  const liveAtStart = T.memory().numTensors;
  T.tidy(() => {
    T.manualSeed(13);
    // BiT-Mini: 2 units per stage, so identity shortcuts (added in place into the unit's input) as well as projections
    const model = getModel('BiT-Mini').build({ headSize: 10, zeroHead: false });
    try {
      model.eval();
      const x = T.rand([2, 3, 32, 32]).mul(2).sub(1);
      const before = x.toArray();
      const opsOf = (fn: () => void): string[] => T.profileOps(fn).map((o) => o.op);
      let fast: number[] = [];
      let slow: number[] = [];
      const inference = opsOf(() => void (fast = T.tidy(() => T.noGrad(() => model.forward(x).toArray()))));
      const recorded = opsOf(() => void (slow = T.tidy(() => model.forward(x).detach().toArray())));
      assert.ok(inference.includes('bit::group_norm_relu'), inference.join(', '));
      assert.ok(!recorded.includes('bit::group_norm_relu') && !recorded.includes('bit::conv2d_packed'), recorded.join(', '));
      assertClose(fast, slow, 1e-4, 'logits');
      assert.deepEqual(x.toArray(), before);
      // once the packed kernels are cached again (the pass with gradients freed them), an inference pass
      // and a batch-1 pass leave no tensor behind
      T.tidy(() => T.noGrad(() => void model.forward(x).toArray()));
      const live = T.memory().numTensors;
      T.tidy(() => T.noGrad(() => void model.forward(x).toArray()));
      T.tidy(() => T.noGrad(() => void model.forward(x.narrow(0, 0, 1)).toArray()));
      assert.equal(T.memory().numTensors, live);
    } finally {
      model.dispose();
    }
  });
  // the model's parameters and its cached packed kernels go with it
  assert.equal(T.memory().numTensors, liveAtStart);
});
