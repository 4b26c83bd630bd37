// Bad shapes, bad dtypes and disposed tensors give JavaScript errors naming the op; nothing crashes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as T from '../../src/tensor/index.js';
import { native, type Handle } from '../../src/native/index.js';

test('shape mismatches throw errors naming the op', () =>
  T.tidy(() => {
    const a = T.zeros([2, 3]);
    const b = T.zeros([4, 5]);
    assert.throws(() => T.matmul(a, b), /^Error: matmul: .*cannot be multiplied/);
    assert.throws(() => a.add(b), /add: The size of tensor a \(3\) must match/);
    assert.throws(() => a.reshape([7]), /reshape: shape '\[7\]' is invalid/);
    assert.throws(() => T.cat([a, b], 0), /cat: Sizes of tensors must match/);
  }));

test('the TypeScript layer validates and names the argument and the op', () =>
  T.tidy(() => {
    const x = T.zeros([3, 8, 8]);
    const w = T.zeros([4, 3, 3, 3]);
    assert.throws(() => T.conv2d(x, w), /Argument 'x' passed to 'conv2d' must be rank 4, but got rank 3 \(shape \[3, 8, 8\], float32\)/);
    assert.throws(() => T.conv2d(T.zeros([1, 2, 8, 8]), w), /Argument 'x' passed to 'conv2d' must have 3 input channels/);
    assert.throws(() => T.groupNorm(T.zeros([1, 6, 2, 2]), 4, null, null, 1e-5), /must divide the 6 channels/);
    assert.throws(() => T.crossEntropy(T.zeros([2, 3]), T.tensor([0, 1], [2], 'int32')), /Argument 'target' passed to 'crossEntropy' must have dtype int64/);
    assert.throws(() => T.tensor([1, 2, 3], [2, 2]), /has 4 elements, but the data has 3/);
    assert.throws(() => T.zeros([2, -1]), /must be a shape of non-negative integers/);
  }));

test('wrong dtypes are rejected by libtorch with the op name', () =>
  T.tidy(() => {
    const idx = T.tensor([0.5], [1]);
    assert.throws(() => T.zeros([3]).indexSelect(0, idx), /indexSelect: .*Expected dtype int32 or int64 for index/);
    assert.throws(() => T.eigh(T.tensor([1, 2, 3, 4, 5, 6], [2, 3])), /must be square/);
  }));

test('a disposed tensor is an error, not a crash', () => {
  const a = T.ones([2]);
  const h = a.handle;
  a.dispose();
  assert.throws(() => a.add(1), /Tensor is disposed/);
  assert.throws(() => native().add(h, 1), /add: argument 0 is a disposed tensor/);
  assert.throws(() => native().shape(h), /shape: argument 0 is a disposed tensor/);
  a.dispose(); // disposing twice is harmless
});

test('values that are not tensor handles are refused', () => {
  const bogus = {} as unknown as Handle;
  assert.throws(() => native().relu(bogus), /relu: argument 0 must be a tensor handle/);
  assert.throws(() => native().relu(undefined as unknown as Handle), /relu: argument 0/);
  assert.throws(() => native().conv2d(bogus, bogus, null, [1], [0], [1], 1), /conv2d: argument/);
  assert.throws(() => native().zeros('x' as unknown as number[], 'float32'), /zeros: argument 0 must be an array of integers/);
  assert.throws(() => native().zeros([2], 'complex' as never), /zeros: unknown dtype 'complex'/);
  assert.throws(() => T.setNumThreads(0), /must be an integer >= 1/);
});

test('item on a many-element tensor and toBuffer of a disposed tensor are errors', () =>
  T.tidy(() => {
    assert.throws(() => T.zeros([2]).item(), /item: item needs a tensor of one element, got 2/);
  }));
