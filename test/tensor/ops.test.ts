// Op results against values computed by hand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as T from '../../src/tensor/index.js';
import { assertClose } from '../helpers.js';

const f = (v: number[], shape?: number[]) => T.tensor(v, shape);

test('elementwise ops broadcast like numpy', () =>
  T.tidy(() => {
    const a = f([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = f([10, 20, 30], [3]);
    assert.deepEqual(a.add(b).toArray(), [11, 22, 33, 14, 25, 36]);
    assert.deepEqual(a.mul(2).sub(1).toArray(), [1, 3, 5, 7, 9, 11]);
    assert.deepEqual(a.add(b, 0.5).toArray(), [6, 12, 18, 9, 15, 21]);
    assert.deepEqual(f([-1, 0, 2]).relu().toArray(), [0, 0, 2]);
    assert.deepEqual(a.gt(3).toArray(), [0, 0, 0, 1, 1, 1]);
    assert.deepEqual(T.where(a.gt(3), a, 0).toArray(), [0, 0, 0, 4, 5, 6]);
    assert.deepEqual(a.clamp(2, 5).toArray(), [2, 2, 3, 4, 5, 5]);
  }));

test('reductions, var with and without correction, argmax, topk', () =>
  T.tidy(() => {
    const a = f([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.equal(a.sum().item(), 21);
    assert.deepEqual(a.sum(0).toArray(), [5, 7, 9]);
    assert.deepEqual(a.mean(1, true).shape, [2, 1]);
    assert.deepEqual(a.mean(1).toArray(), [2, 5]);
    // population variance of [1,2,3] is 2/3; sample variance is 1
    assertClose(a.var(1, { correction: 0 }).toArray(), [2 / 3, 2 / 3], 1e-6);
    assertClose(a.var(1).toArray(), [1, 1], 1e-6);
    assert.deepEqual(f([3, 9, 1, 7]).argmax().toArray(), [1]);
    const { values, indices } = f([3, 9, 1, 7]).topk(2);
    assert.deepEqual(values.toArray(), [9, 7]);
    assert.deepEqual(indices.toArray(), [1, 3]);
  }));

test('matmul and linear', () =>
  T.tidy(() => {
    const a = f([1, 2, 3, 4], [2, 2]);
    const b = f([5, 6, 7, 8], [2, 2]);
    assert.deepEqual(T.matmul(a, b).toArray(), [19, 22, 43, 50]);
    // linear: x W^T + b
    assert.deepEqual(T.linear(a, b, f([1, -1])).toArray(), [1 * 5 + 2 * 6 + 1, 1 * 7 + 2 * 8 - 1, 3 * 5 + 4 * 6 + 1, 3 * 7 + 4 * 8 - 1]);
  }));

test('conv2d: 3x3 input, 2x2 kernel, stride 1 and padding 1 by hand', () =>
  T.tidy(() => {
    const x = f([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    const w = f([1, 0, 0, -1], [1, 1, 2, 2]); // x[i][j] - x[i+1][j+1]
    assert.deepEqual(T.conv2d(x, w).toArray(), [1 - 5, 2 - 6, 4 - 8, 5 - 9]);
    const p = T.conv2d(x, w, { padding: 1, bias: f([10]) });
    assert.deepEqual(p.shape, [1, 1, 4, 4]);
    // top-left output sees only the padded zeros and -x[0][0]
    assert.equal(p.toArray()[0], 10 - 1);
    const s = T.conv2d(x, f([1, 1, 1, 1], [1, 1, 2, 2]), { stride: 2, padding: 1 });
    assert.deepEqual(s.toArray(), [1, 2 + 3, 4 + 7, 5 + 6 + 8 + 9]);
  }));

test('max pool after an explicit zero pad (the BiT root) differs from max-pool padding', () =>
  T.tidy(() => {
    const x = f([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]).neg();
    const padded = T.pad2d(x, [1, 1, 1, 1]);
    assert.deepEqual(padded.shape, [1, 1, 5, 5]);
    // every 3x3/2 window of the zero-padded map touches the zero border
    assert.deepEqual(T.maxPool2d(padded, 3, 2).toArray(), [0, 0, 0, 0]);
    // max-pool's own padding is -inf: the maxima come from the data
    assert.deepEqual(T.maxPool2d(x, 3, 2, 1).toArray(), [-1, -2, -4, -5]);
    assert.deepEqual(T.adaptiveAvgPool2d(f([1, 2, 3, 4], [1, 1, 2, 2]), 1).toArray(), [2.5]);
  }));

test('group norm matches the formula on a tiny tensor', () =>
  T.tidy(() => {
    // N=1, C=4, H=W=1, two groups: {1,3} and {2,6}
    const x = f([1, 3, 2, 6], [1, 4, 1, 1]);
    const y = T.groupNorm(x, 2, f([1, 2, 1, 1]), f([0, 0, 0, 1]), 0).toArray();
    // group 1: mean 2, var 1 -> [-1, 1]; group 2: mean 4, var 4 -> [-1, 1]
    assertClose(y, [-1, 2, -1, 2], 1e-6);
  }));

test('batch norm in training uses batch statistics and updates running stats', () =>
  T.tidy(() => {
    const x = f([1, 3, 5, 7], [4, 1]);
    const rm = T.zeros([1]);
    const rv = T.ones([1]);
    const y = T.batchNorm(x, null, null, rm, rv, { training: true, momentum: 0.1, eps: 0 }).toArray();
    const sd = Math.sqrt(5); // population variance of [1,3,5,7] = 5
    assertClose(y, [-3 / sd, -1 / sd, 1 / sd, 3 / sd], 1e-6);
    assertClose(rm.toArray(), [0.4], 1e-6); // 0.9 * 0 + 0.1 * 4
    assertClose(rv.toArray(), [0.9 + 0.1 * (20 / 3)], 1e-6); // unbiased var 20/3
  }));

test('softmax and cross-entropy by hand, hard and soft targets', () =>
  T.tidy(() => {
    const logits = f([0, Math.log(3), 0, 0], [2, 2]);
    assertClose(T.softmax(logits, 1).toArray(), [0.25, 0.75, 0.5, 0.5], 1e-6);
    const ce = T.crossEntropy(logits, T.tensor([1, 0], [2], 'int64')).item();
    assertClose([ce], [(-Math.log(0.75) - Math.log(0.5)) / 2], 1e-6);
    const soft = T.crossEntropy(logits, f([0.5, 0.5, 1, 0], [2, 2])).item();
    assertClose([soft], [(-(0.5 * Math.log(0.25) + 0.5 * Math.log(0.75)) - Math.log(0.5)) / 2], 1e-6);
    const bce = T.bceWithLogits(f([0]), f([1])).item();
    assertClose([bce], [Math.log(2)], 1e-6);
  }));

test('linear algebra: eigh and solve on hand-checked matrices', () =>
  T.tidy(() => {
    const a = T.tensor([2, 1, 1, 2], [2, 2], 'float64');
    const { values, vectors } = T.eigh(a);
    assertClose(values.toArray(), [1, 3], 1e-12);
    const v = vectors.toArray(); // columns ±[1,-1]/√2 and ±[1,1]/√2
    assertClose([Math.abs(v[0]), Math.abs(v[2]), Math.abs(v[1]), Math.abs(v[3])], [Math.SQRT1_2, Math.SQRT1_2, Math.SQRT1_2, Math.SQRT1_2], 1e-12);
    const x = T.solve(a, T.tensor([3, 3], [2, 1], 'float64'));
    assertClose(x.toArray(), [1, 1], 1e-12);
  }));

test('dtypes round-trip through typed arrays', () =>
  T.tidy(() => {
    assert.deepEqual(Array.from(T.tensor(new Float64Array([1.5, -2])).data() as Float64Array), [1.5, -2]);
    assert.deepEqual(Array.from(T.tensor(new BigInt64Array([1n, -5n])).data() as BigInt64Array), [1n, -5n]);
    assert.deepEqual(Array.from(T.tensor(new Uint8Array([0, 255])).data() as Uint8Array), [0, 255]);
    assert.deepEqual(Array.from(T.tensor(new Int32Array([7, -7])).data() as Int32Array), [7, -7]);
    const b = T.tensor(new Uint8Array([1, 0, 1]), [3], 'bool');
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(b.toArray(), [1, 0, 1]);
    assert.deepEqual(T.tensor([1.7, -2.2], [2], 'int64').toArray(), [1, -2]);
    assert.equal(T.tensor([3, 4]).to('float64').dtype, 'float64');
  }));

test('an empty batch gives output shapes without compute, even for zero-stride weights', () =>
  T.tidy(() => {
    const x = T.zeros([0, 1024, 56, 56]);
    const w = T.zeros([1]).expand([2048, 1024, 3, 3]); // no memory behind it
    const y = T.conv2d(x, w, { stride: 2, padding: 1 });
    assert.deepEqual(y.shape, [0, 2048, 28, 28]);
  }));
