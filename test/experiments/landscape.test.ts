// `bit experiment landscape`: the quick form's outputs, and what the probe
// measures. Santurkar et al.'s point, on a network deep enough to show it at
// initialization: without normalization the loss along the gradient ranges
// far wider than with BatchNorm (ResNet-34 at 28 px, one batch of 16
// Fashion-MNIST images: measured here 41565 against 16, about 2600x). The
// probe also leaves the parameters, BatchNorm statistics and gradients as it
// found them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evalLoader, type Batch } from '../../src/data/index.js';
import { buildVariant, openData } from '../../src/experiments/common.js';
import { probe, type Probe } from '../../src/experiments/landscape.js';
import type { NormSpec } from '../../src/nn/index.js';
import * as T from '../../src/tensor/index.js';
import { labelTensor, rawImages, toModelInput } from '../../src/train/batch.js';
import { TrainStep } from '../../src/train/step.js';
import { arr, num, obj, runQuick } from './quick.js';

test('landscape --quick: loss and gradient-change ranges at regular steps for each network', async () => {
  const q = await runQuick('landscape');
  try {
    const variants = arr(q.config.variants, 'config.variants');
    const steps = num(obj(q.config.optim, 'optim').steps, 'steps', 1);
    const every = num(q.config.probeEvery, 'probeEvery', 1);
    const runs = arr(q.results.runs, 'runs', variants.length).map((r, i) => obj(r, `runs[${i}]`));
    for (const r of runs) {
      assert.equal(r.diverged, false);
      num(r.top1, 'top1', 0, 1);
      const probes = arr(r.probes, 'probes', Math.ceil(steps / every)).map((p, i) => obj(p, `probes[${i}]`));
      for (const p of probes) for (const key of ['loss', 'lossMin', 'lossMax', 'gradChangeMin', 'gradChangeMax', 'gradNorm', 'beta']) num(p[key], key, 0);
    }
  } finally {
    q.cleanup();
  }
});

test('a probe of an unnormalized ResNet-34 ranges over far more loss than with BatchNorm, and restores what it moved', async () => {
  T.configureThreads(1);
  const { train } = await openData({ spec: 'fashion-mnist' });
  const loader = evalLoader(
    train.subset(
      Int32Array.from({ length: 16 }, (_, i) => i * 7),
      'probe batch',
    ),
    { batchSize: 16, crop: 28, workers: 1 },
  );
  const batches: Batch[] = [];
  for await (const b of loader) batches.push(b);
  await loader.close();
  const live = T.memory().numTensors;

  /** The probe at initialization (seed 0), from the training step's after-backward hook; checks that it restores the model. */
  const probeAtInit = (norm: NormSpec): Probe => {
    const model = buildVariant('ResNet-34', { label: norm.kind, norm, standardize: false }, 0, 10);
    let found: Probe | null = null;
    const step = new TrainStep({
      model,
      sgd: { momentum: 0, weightDecay: 0 },
      hooks: {
        afterBackward: (loss, s) => {
          const bytes = (t: T.Tensor | null) => Buffer.from(t === null ? new ArrayBuffer(0) : t.data().buffer);
          const before = model.store.entries().map((e) => bytes(e.tensor));
          const grads = step.params.map((p) => T.tidy(() => bytes(p.grad)));
          found = probe(0, loss, model, step.params, s.images, s.labels, [0.1, 0.4]);
          model.store.entries().forEach((e, i) => assert.ok(bytes(e.tensor).equals(before[i]), `${e.key} restored`));
          step.params.forEach((p, i) => assert.ok(T.tidy(() => bytes(p.grad)).equals(grads[i]), 'gradient restored'));
        },
      },
    });
    try {
      // lr 0: the update leaves the parameters alone; the hook is what runs
      T.tidy(() => void step.run({ images: toModelInput(rawImages(batches[0])), labels: labelTensor(batches[0], false, 10), lr: 0 }));
    } finally {
      step.dispose();
      model.dispose();
    }
    assert.ok(found, `the probe of ${norm.kind} found a non-finite value`);
    return found;
  };
  const none = probeAtInit({ kind: 'none' });
  const batch = probeAtInit({ kind: 'batch' });
  assert.equal(T.memory().numTensors, live, 'the probes left no tensor behind');
  for (const p of [none, batch]) {
    assert.ok(p.lossMin < p.lossMax, `the loss moved along the gradient: ${p.lossMin}..${p.lossMax}`);
    assert.ok(p.gradChangeMax > 0 && p.gradNorm > 0);
  }
  const range = (p: Probe) => p.lossMax - p.lossMin;
  assert.ok(range(none) > 100 * range(batch), `loss range without normalization ${range(none)}, with BatchNorm ${range(batch)}`);
});
