// Tests parametrised over the model registry: a new variant is tested by these.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as T from '../../src/tensor/index.js';
import { listModels, modelCost, getModel } from '../../src/models/index.js';

T.configureThreads();

/** Real forward and backward for the models small enough for a CI machine. */
const REAL_LIMIT = 70e6;

describe('every registered model', () => {
  for (const entry of listModels()) {
    test(`${entry.name}: virtual build counts parameters as the sum of its key shapes, forward gives [N, head]`, () => {
      const model = entry.build({ virtual: true, headSize: 7 }).eval();
      try {
        const entries = model.store.entries();
        const sum = entries.filter((e) => e.trainable).reduce((s, e) => s + e.tensor.shape.reduce((a, b) => a * b, 1), 0);
        assert.equal(model.store.numParams(), sum);
        assert.ok(
          entries.every((e) => e.key.startsWith('resnet/')),
          'every key lives under resnet/',
        );
        assert.equal(new Set(entries.map((e) => e.key)).size, entries.length, 'keys are unique');
        const out = T.tidy(() => T.noGrad(() => model.forwardBoth(T.zeros([0, 3, 64, 64])).logits.shape));
        assert.deepEqual(out, [0, 7]);
      } finally {
        model.dispose();
      }
    });
  }

  for (const entry of listModels().filter((e) => modelCost(e, 64, 7).params < REAL_LIMIT)) {
    test(`${entry.name}: real forward [2, head] and pre-logits, backward reaches every trainable parameter`, () => {
      T.manualSeed(0);
      const model = entry.build({ headSize: 5, zeroHead: false });
      try {
        const before = T.memory().numTensors;
        T.tidy(() => {
          const x = T.randn([2, 3, 64, 64]).clamp(-1, 1);
          const { preLogits, logits } = model.forwardBoth(x);
          assert.deepEqual(logits.shape, [2, 5]);
          assert.deepEqual(preLogits.shape, [2, model.featureDim]);
          T.crossEntropy(logits, T.tensor([1, 3], [2], 'int64')).backward();
          const missing = model.store
            .entries()
            .filter((e) => e.trainable && e.tensor.grad === null)
            .map((e) => e.key);
          assert.deepEqual(missing, []);
          assert.ok(
            model.store.trainable().every((p) => T.tidy(() => p.grad!.isfinite().all().item()) === 1),
            'finite gradients',
          );
        });
        model.store.trainable().forEach((p) => p.setGrad(null));
        assert.equal(T.memory().numTensors, before, 'the step left no tensor behind');
      } finally {
        model.dispose();
      }
    });
  }
});

test('the classic ResNets count the multiply-accumulates of the lecture table (within 3%)', () => {
  const table: [string, number][] = [
    ['ResNet-18', 1.8e9],
    ['ResNet-34', 3.6e9],
    ['ResNet-50', 3.8e9],
    ['ResNet-101', 7.6e9],
    ['ResNet-152', 11.3e9],
  ];
  for (const [name, macs] of table) {
    const got = modelCost(getModel(name), 224).macs;
    assert.ok(Math.abs(got / macs - 1) < 0.03, `${name}: ${(got / 1e9).toFixed(3)}G MACs vs the table's ${macs / 1e9}G`);
  }
});

test('parameter counts of known architectures', () => {
  // torchvision's resnet50 has 25,557,032 parameters; BiT-M-R50x1 adds a 21,843-way head.
  assert.equal(modelCost(getModel('ResNet-50'), 224).params, 25_557_032);
  const bitS = modelCost(getModel('BiT-S-R50x1'), 224).params;
  const bitM = modelCost(getModel('BiT-M-R50x1'), 224).params;
  assert.equal(bitM - bitS, 2049 * (21843 - 1000));
});

test('the largest model (BiT-M-R152x4) builds for real and runs a forward pass', () => {
  T.manualSeed(0);
  const model = getModel('BiT-M-R152x4').build({ headSize: 10, zeroHead: false }).eval();
  try {
    const shape = T.tidy(() => T.noGrad(() => model.forward(T.zeros([1, 3, 32, 32])).shape));
    assert.deepEqual(shape, [1, 10]);
    assert.equal(model.store.numParams(), modelCost(getModel('BiT-M-R152x4'), 32, 10).params);
  } finally {
    model.dispose();
  }
});

test("the BiT-HyperRule's large model (512 -> 480 px at any resolution rule) is R152x4, and only it", () => {
  assert.deepEqual(
    listModels()
      .filter((e) => e.hyperRuleLarge)
      .map((e) => e.name),
    ['BiT-S-R152x4', 'BiT-M-R152x4'],
  );
});

test('unknown names list the known ones; bad configs are explained', () => {
  assert.throws(() => getModel('BiT-X-R9'), /unknown model 'BiT-X-R9'. Known models: BiT-S-R50x1, /);
  assert.throws(
    () => getModel('BiT-Tiny').build({ norm: { kind: 'group', groups: 32 } }),
    /GroupNorm at 'resnet\/block1\/unit01\/a': 32 groups do not divide its 16 channels/,
  );
});
