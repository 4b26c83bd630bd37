// The one training step (src/train/step.ts) and the trainer's use of it:
// micro-batches change memory, not the update; the after-backward hook sees
// the step's gradient before the update; a run stopped and resumed ends
// bit-identical to an uninterrupted one, its evaluations reaching the onEval
// hook as metrics.jsonl records them; a diverged run frees everything.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { benchLabels } from '../../src/bench/index.js';
import { getModel } from '../../src/models/index.js';
import * as T from '../../src/tensor/index.js';
import { finetune, type FinetuneOptions } from '../../src/train/finetune.js';
import { TrainStep, type StepHooks, type StepResult } from '../../src/train/step.js';
import { DivergedError, type EvalRecord } from '../../src/train/trainer.js';
import { maxWeightDiff } from '../distributed/run-bit.js';
import { assertClose, removeDir, tempDir } from '../helpers.js';

T.configureThreads(1);
const dir = tempDir('step');
after(() => removeDir(dir));

/** BiT-Tiny (seeded) and its training step. */
function tinyStep(micro: number, hooks?: StepHooks): TrainStep {
  T.manualSeed(3);
  const model = getModel('BiT-Tiny').build({ headSize: 5, zeroHead: false });
  return new TrainStep({ model, sgd: { momentum: 0.9, weightDecay: 0 }, microBatches: micro, hooks });
}

/** One step on a fixed batch of 4 at lr 0.01. */
function runOnce(step: TrainStep): StepResult {
  return T.tidy(() => {
    T.manualSeed(4);
    return step.run({ images: T.rand([4, 3, 32, 32]).mul(2).sub(1), labels: benchLabels(4, 5), lr: 0.01 });
  });
}

function firstParams(step: TrainStep): number[] {
  return step.params.slice(0, 6).flatMap((p) => p.toArray());
}

function disposeStep(step: TrainStep): void {
  step.dispose();
  step.model.dispose();
}

test('a step in 2 micro-batches updates the parameters as one pass over the whole batch', () => {
  const [one, two] = [tinyStep(1), tinyStep(2)];
  try {
    const [r1, r2] = [runOnce(one), runOnce(two)];
    assert.ok(r1.finite && r1.loss > 0 && !r1.stop, JSON.stringify(r1));
    assert.ok(Math.abs(r1.loss - r2.loss) < 1e-5, `loss ${r1.loss} vs ${r2.loss}`);
    assertClose(firstParams(two), firstParams(one), 1e-5, 'parameters after one step');
    assert.ok(
      one.params.every((p) => p.grad === null),
      'gradients are dropped after the update',
    );
  } finally {
    disposeStep(one);
    disposeStep(two);
  }
  const three = tinyStep(3);
  T.tidy(() => assert.throws(() => three.run({ images: T.zeros([4, 3, 32, 32]), labels: benchLabels(4, 5), lr: 0.1 }), /a batch of 4 cannot be split into 3/));
  disposeStep(three);
});

test("the after-backward hook sees the step's gradient before the update: p <- p - lr * g on the first step", () => {
  let before: number[] = [];
  let grads: number[] = [];
  let hookLoss = NaN;
  const step = tinyStep(1, {
    afterBackward: (loss) => {
      hookLoss = loss;
      before = firstParams(step);
      grads = step.params.slice(0, 6).flatMap((p) => T.tidy(() => p.grad?.toArray() ?? []));
    },
  });
  try {
    const r = runOnce(step);
    assert.equal(hookLoss, r.loss);
    assert.equal(grads.length, before.length);
    assert.ok(
      grads.some((g) => g !== 0),
      'a gradient',
    );
    // the momentum buffer starts at zero, so the first update is plain SGD
    assertClose(
      firstParams(step),
      before.map((p, i) => p - 0.01 * grads[i]),
      1e-7,
      'parameters after the update',
    );
  } finally {
    disposeStep(step);
  }
});

const RUN: FinetuneOptions = {
  model: 'BiT-Tiny',
  data: 'digits',
  out: '',
  quiet: true,
  workers: 1,
  seed: 3,
  evalEvery: 6,
  overrides: { steps: 12, batch: 16, batchSplit: 2, mixup: 0.1, crop: 32, precrop: 36 },
};

test('a run stopped after step 5 and resumed ends bit-identical to an uninterrupted one; evaluations reach onEval as metrics.jsonl has them', async () => {
  const whole = path.join(dir, 'whole');
  const evals: EvalRecord[] = [];
  const losses: number[] = [];
  await finetune({ ...RUN, out: whole, hooks: { onEval: (e) => evals.push(e), onStep: (s) => losses.push(s.loss) } });
  const logged = readFileSync(path.join(whole, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; loss?: number; eval?: unknown; final?: boolean });
  assert.deepEqual(
    evals.map((e) => ({ step: e.step, eval: e.result, ...(e.final ? { final: true } : {}) })),
    logged.filter((l) => l.eval !== undefined),
  );
  assert.deepEqual(
    evals.map((e) => [e.step, e.final]),
    [
      [6, false],
      [12, true],
    ],
  );
  assert.deepEqual(
    losses,
    logged.filter((l) => l.loss !== undefined).map((l) => l.loss),
  );

  const resumed = path.join(dir, 'resumed');
  const stop = new AbortController();
  const first = await finetune({ ...RUN, out: resumed, signal: stop.signal, hooks: { onStep: (s) => void (s.step === 5 && stop.abort()) } });
  assert.equal(first.stopped_early, true);
  assert.ok(first.steps >= 5 && first.steps < 12, `stopped at ${first.steps}`);
  const second = await finetune({ ...RUN, out: resumed });
  assert.equal(second.resumed_from_step, first.steps);
  const { diff, key, compared } = await maxWeightDiff(path.join(whole, 'model.npz'), path.join(resumed, 'model.npz'));
  assert.ok(compared > 20, `compared ${compared} arrays`);
  assert.equal(diff, 0, `resumed run differs at ${key}`);
});

test('a diverged run frees every tensor it made, the optimizer state included', async () => {
  const live = T.memory().numTensors;
  await assert.rejects(finetune({ ...RUN, out: path.join(dir, 'diverged'), overrides: { ...RUN.overrides, lr: 1e30 } }), DivergedError);
  assert.equal(T.memory().numTensors, live);
});
