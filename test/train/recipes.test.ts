// The BiT-HyperRule and the upstream recipe against the paper and big_transfer's bit_hyperrule.py, by hand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyOverrides, bitHyperRule, upstreamRecipe } from '../../src/train/recipes.js';
import { learningRate } from '../../src/train/schedule.js';

const approx = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${a} != ${b}`);

test('HyperRule schedules by dataset size, MixUp from 20k examples', () => {
  const small = bitHyperRule({ datasetSize: 19_999, imageHeight: 32, imageWidth: 32 });
  assert.deepEqual([small.schedule.warmupSteps, ...small.schedule.decaySteps, small.schedule.totalSteps], [100, 200, 300, 400, 500]);
  assert.equal(small.mixupAlpha, 0);
  const medium = bitHyperRule({ datasetSize: 20_000, imageHeight: 32, imageWidth: 32 });
  assert.deepEqual([medium.schedule.warmupSteps, ...medium.schedule.decaySteps, medium.schedule.totalSteps], [500, 3000, 6000, 9000, 10_000]);
  assert.equal(medium.mixupAlpha, 0.1);
  const large = bitHyperRule({ datasetSize: 500_000, imageHeight: 32, imageWidth: 32 });
  assert.deepEqual([large.schedule.warmupSteps, ...large.schedule.decaySteps, large.schedule.totalSteps], [500, 6000, 12_000, 18_000, 20_000]);
  assert.equal(large.batch, 512);
  assert.equal(large.momentum, 0.9);
  assert.equal(large.weightDecay, 0);
  assert.equal(large.zeroHead, true);
});

test('HyperRule learning rate follows bit_hyperrule.get_lr step by step', () => {
  const r = bitHyperRule({ datasetSize: 1000, imageHeight: 28, imageWidth: 28 });
  approx(learningRate(r.schedule, 0), 0);
  approx(learningRate(r.schedule, 50), 0.0015);
  approx(learningRate(r.schedule, 100), 0.003);
  approx(learningRate(r.schedule, 200), 0.003); // decays strictly after the support
  approx(learningRate(r.schedule, 201), 0.0003);
  approx(learningRate(r.schedule, 301), 0.00003);
  approx(learningRate(r.schedule, 401), 0.000003);
});

test('HyperRule resolution: below 96x96 area 160->128, else 512->480 (code) or 448->384 (paper)', () => {
  assert.deepEqual(
    [bitHyperRule({ datasetSize: 10, imageHeight: 28, imageWidth: 28 }).precrop, bitHyperRule({ datasetSize: 10, imageHeight: 28, imageWidth: 28 }).crop],
    [160, 128],
  );
  const big = bitHyperRule({ datasetSize: 10, imageHeight: 96, imageWidth: 96 });
  assert.deepEqual([big.precrop, big.crop], [512, 480]);
  const paper = bitHyperRule({ datasetSize: 10, imageHeight: 200, imageWidth: 100, resolutionRule: 'paper' });
  assert.deepEqual([paper.precrop, paper.crop], [448, 384]);
  const r152x4 = bitHyperRule({ datasetSize: 10, imageHeight: 200, imageWidth: 100, resolutionRule: 'paper', largeModel: true });
  assert.deepEqual([r152x4.precrop, r152x4.crop], [512, 480]);
});

test('overrides: smaller batch scales lr by batch/512, steps scale the schedule, errors are explained', () => {
  const r = bitHyperRule({ datasetSize: 1000, imageHeight: 28, imageWidth: 28 });
  const o = applyOverrides(r, { batch: 64, steps: 100, batchSplit: 2 });
  approx(o.lr, (0.003 * 64) / 512);
  assert.deepEqual([o.schedule.warmupSteps, ...o.schedule.decaySteps, o.schedule.totalSteps], [20, 40, 60, 80, 100]);
  approx(learningRate(o.schedule, 20), o.lr);
  const c = applyOverrides(r, { crop: 64 });
  assert.deepEqual([c.precrop, c.crop], [80, 64]);
  assert.throws(() => applyOverrides(r, { batch: 10, batchSplit: 3 }), /--batch 10 is not divisible by --batch-split 3/);
  assert.throws(() => applyOverrides(r, { crop: 64, precrop: 32 }), /--precrop 32 is smaller than the crop 64/);
});

test('upstream recipe: the paper numbers at full scale, proportional scaling for shorter runs', () => {
  const s = upstreamRecipe({ datasetSize: 1_281_167 });
  assert.equal(s.batch, 4096);
  approx(s.lr, (0.03 * 4096) / 256);
  assert.equal(s.stepsPerEpoch, 313);
  assert.equal(s.schedule.totalSteps, 90 * 313);
  assert.equal(s.schedule.warmupSteps, 5000);
  assert.deepEqual(s.schedule.decaySteps, [30 * 313, 60 * 313, 80 * 313]);
  assert.equal(s.weightDecay, 1e-4);
  assert.equal(s.crop, 224);
  assert.equal(s.loss, 'softmax');
  const l = upstreamRecipe({ variant: 'L', datasetSize: 300e6, multiLabel: true });
  assert.equal(l.epochs, 40);
  assert.deepEqual(
    l.schedule.decaySteps,
    [23, 30, 37].map((e) => e * l.stepsPerEpoch),
  );
  assert.equal(l.loss, 'sigmoid');
  const short = upstreamRecipe({ datasetSize: 60_000, epochs: 9, batch: 100 });
  assert.equal(short.stepsPerEpoch, 600);
  assert.deepEqual(short.schedule.decaySteps, [3 * 600, 6 * 600, 8 * 600]);
  assert.equal(short.schedule.warmupSteps, Math.round(9 * 600 * (5000 / (90 * 313))));
  approx(short.lr, (0.03 * 100) / 256);
});
