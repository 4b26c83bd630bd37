// Gradients from libtorch's autograd against central finite differences (float64).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as T from '../../src/tensor/index.js';
import { assertClose } from '../helpers.js';

function randn64(shape: number[]): T.Tensor {
  return T.randn(shape, 'float64');
}

/** Checks d f / d inputs[k] by central differences on every element. */
function checkGradients(name: string, inputs: T.Tensor[], f: (xs: T.Tensor[]) => T.Tensor, eps = 1e-6, tol = 1e-6): void {
  T.tidy(() => {
    const leaves = inputs.map((x) => x.detach().setRequiresGrad(true));
    f(leaves).backward();
    leaves.forEach((leaf, k) => {
      const analytic = leaf.grad!.toArray();
      const base = inputs[k].toArray();
      const numeric = base.map((_, i) =>
        T.tidy(() => {
          const eval1 = (delta: number) =>
            T.noGrad(() => {
              const v = base.slice();
              v[i] += delta;
              const xs = inputs.map((x, j) => (j === k ? T.tensor(Float64Array.from(v), x.shape) : x));
              return f(xs).item();
            });
          return (eval1(eps) - eval1(-eps)) / (2 * eps);
        }),
      );
      assertClose(analytic, numeric, tol, `${name}: gradient of input ${k}`);
    });
  });
}

test('gradients of elementwise ops and reductions', () => {
  T.manualSeed(1);
  checkGradients('x*y + exp(x) / sum', [randn64([3, 2]), randn64([3, 2])], ([x, y]) => x.mul(y).add(x.exp()).sum().div(x.square().sum().add(1)));
  checkGradients('log-softmax', [randn64([2, 4])], ([x]) => T.logSoftmax(x, 1).select(1, 2).sum());
});

test('gradients of conv2d (stride 2, padding 1) with bias', () => {
  T.manualSeed(2);
  checkGradients('conv2d', [randn64([2, 3, 5, 5]), randn64([4, 3, 3, 3]), randn64([4])], ([x, w, b]) =>
    T.conv2d(x, w, { bias: b, stride: 2, padding: 1 }).square().sum(),
  );
});

test('gradients of group norm and batch norm (training mode)', () => {
  T.manualSeed(3);
  checkGradients('groupNorm', [randn64([2, 4, 3, 3]), randn64([4]), randn64([4])], ([x, g, b]) =>
    T.groupNorm(x, 2, g, b, 1e-5)
      .mul(T.linspace(-1, 1, 9, 'float64').reshape([3, 3]))
      .sum(),
  );
  checkGradients('batchNorm', [randn64([4, 3, 2, 2]), randn64([3]), randn64([3])], ([x, g, b]) =>
    T.batchNorm(x, g, b, null, null, { training: true, momentum: 0.1, eps: 1e-5 })
      .mul(T.linspace(-1, 1, 4, 'float64').reshape([2, 2]))
      .sum(),
  );
});

test('gradient of weight standardisation followed by a convolution', () => {
  T.manualSeed(4);
  checkGradients('standardized conv', [randn64([1, 2, 4, 4]), randn64([3, 2, 3, 3])], ([x, w]) => {
    const [v, m] = w.varMean([1, 2, 3], { correction: 0, keepdim: true });
    const ws = w.sub(m).div(v.add(1e-10).sqrt());
    return T.conv2d(x, ws, { padding: 1 }).pow(3).sum();
  });
});

test('gradients of cross-entropy with hard and soft targets, and max pooling', () => {
  T.manualSeed(5);
  const labels = T.tensor([2, 0, 1], [3], 'int64');
  checkGradients('crossEntropy', [randn64([3, 4])], ([x]) => T.crossEntropy(x, labels));
  const soft = T.softmax(randn64([3, 4]), 1);
  checkGradients('soft crossEntropy', [randn64([3, 4])], ([x]) => T.crossEntropy(x, soft));
  checkGradients('maxPool', [randn64([1, 1, 4, 4])], ([x]) =>
    T.maxPool2d(T.pad2d(x, [1, 1, 1, 1]), 3, 2)
      .square()
      .sum(),
  );
  labels.dispose();
  soft.dispose();
});

test('noGrad records no graph; grads accumulate until reset', () =>
  T.tidy(() => {
    const w = T.ones([2]).setRequiresGrad(true);
    const y = T.noGrad(() => w.mul(3).sum());
    assert.equal(y.requiresGrad, false);
    w.mul(3).sum().backward();
    w.mul(3).sum().backward();
    assert.deepEqual(w.grad!.toArray(), [6, 6]);
    w.setGrad(null);
    assert.equal(w.grad, null);
  }));
