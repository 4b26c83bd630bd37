// The VTAB-1k runner: task folders found or missing, bad layouts explained,
// stand-in tasks in the same protocol; and the few-shot command end to end.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { openDataset, parseDataSpec } from '../../src/data/index.js';
import { VTAB_TASKS, planTasks } from '../../src/eval/vtab.js';
import { resolveRecipe, finetuneSpec } from '../../src/train/finetune.js';
import { createHash } from 'node:crypto';
import { cliPath } from '../helpers.js';
import { decodeEventFile, eventFiles, expectedScalars, metricsRows, scalarSeries, sorted } from '../report/tensorboard.js';

const root = mkdtempSync(path.join(tmpdir(), 'bit-vtab-'));
after(() => rmSync(root, { recursive: true, force: true }));
const run = (args: string[]) => spawnSync(process.execPath, [cliPath(), ...args], { encoding: 'utf8', env: { ...process.env, BIT_NO_TTY: '1' } });

/** A tiny task folder of real digit images: `classes` classes, `n` train and `n` test images each. */
async function makeTask(dir: string, classes: number, n: number): Promise<void> {
  const digits = await openDataset(parseDataSpec('digits'), 'train');
  const labels = digits.requireLabels();
  for (const split of ['train', 'test']) {
    for (let c = 0; c < classes; c++) {
      mkdirSync(path.join(dir, split, `class${c}`), { recursive: true });
      const idx = [...labels.keys()].filter((i) => labels[i] === c).slice(split === 'train' ? 0 : n, split === 'train' ? n : 2 * n);
      for (const i of idx) {
        const img = await digits.readImage(i);
        await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } })
          .png()
          .toFile(path.join(dir, split, `class${c}`, `${i}.png`));
      }
    }
  }
}

before(async () => {
  await makeTask(path.join(root, 'data', 'eurosat'), 3, 6);
  mkdirSync(path.join(root, 'data', 'dtd', 'train', 'a'), { recursive: true }); // no test/
});

test('the 19 tasks of the lecture table with their categories', () => {
  assert.equal(VTAB_TASKS.length, 19);
  const count = (c: string) => VTAB_TASKS.filter((t) => t.category === c).length;
  assert.deepEqual([count('Natural'), count('Specialized'), count('Structured')], [7, 4, 8]);
  assert.equal(VTAB_TASKS.find((t) => t.name === 'sun397')!.classes, 397);
});

test('task planning: found, missing and unknown tasks; a bad layout names the folder and what is wrong', () => {
  const p = planTasks({ dataRoot: path.join(root, 'data'), tasks: ['eurosat', 'svhn', 'digits'] });
  assert.deepEqual(
    p.run.map((t) => [t.name, t.category]),
    [
      ['eurosat', 'Specialized'],
      ['digits', 'stand-in'],
    ],
  );
  assert.deepEqual(p.missing, ['svhn']);
  assert.throws(
    () => planTasks({ dataRoot: path.join(root, 'data'), tasks: ['dtd'] }),
    /dtd: bad VTAB task layout \(train\/ has no class folders|no test\/ folder/,
  );
  assert.throws(() => planTasks({ dataRoot: path.join(root, 'data'), tasks: ['imagenet'] }), /unknown task\(s\) imagenet; VTAB tasks: caltech101/);
  assert.throws(() => planTasks({ dataRoot: path.join(root, 'nowhere') }), /--data-root .*nowhere is not a folder/);
  assert.throws(() => planTasks({ dataRoot: path.join(root, 'data'), tasks: ['svhn'] }), /no task to run: none of svhn was found/);
});

test('bit vtab runs the found tasks and a stand-in, reports category and overall means, and lists missing tasks', () => {
  const out = path.join(root, 'vtab-out');
  const r = run([
    'vtab',
    '--weights',
    'scratch',
    '--model',
    'BiT-Tiny',
    '--data-root',
    path.join(root, 'data'),
    '--tasks',
    'eurosat,svhn,digits',
    '--steps',
    '4',
    '--batch',
    '8',
    '--resolution',
    '16',
    '--precrop',
    '18',
    '--out',
    out,
    '--threads',
    '1',
    '--workers',
    '1',
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /missing tasks .*: svhn/);
  const report = JSON.parse(readFileSync(path.join(out, 'vtab.json'), 'utf8')) as {
    results: { task: string; trainImages: number; testImages: number; top1: number }[];
    categoryMeans: Record<string, number | null>;
    vtabMean: number;
    overallMean: number;
  };
  assert.deepEqual(
    report.results.map((x) => x.task),
    ['eurosat', 'digits'],
  );
  assert.equal(report.results[1].trainImages, 1000, 'digits stand-in: 1,000 training examples');
  assert.equal(report.results[1].testImages, 500);
  assert.equal(report.results[0].testImages, 18);
  assert.equal(report.categoryMeans.Natural, null);
  assert.equal(report.categoryMeans.Specialized, report.results[0].top1);
  assert.equal(report.vtabMean, report.results[0].top1);
  assert.ok(Math.abs(report.overallMean - (report.results[0].top1 + report.results[1].top1) / 2) < 1e-12);
  const bad = run(['vtab', '--weights', 'scratch', '--model', 'BiT-Tiny', '--data-root', path.join(root, 'data'), '--tasks', 'dtd', '--out', out]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /bad VTAB task layout/);
});

test('the HyperRule picks the schedule from the k-shot subset size (10-shot, 10 classes: 500 steps)', async () => {
  const train = await openDataset(finetuneSpec('mnist', 10, 0), 'train');
  assert.equal(train.length, 100);
  const r = resolveRecipe(train, { model: 'BiT-Tiny' });
  assert.equal(r.schedule.totalSteps, 500);
  assert.equal(r.mixupAlpha, 0);
});

test('bit fewshot: linear and fine-tuning evaluators write the table, JSON and figure (and TensorBoard events)', () => {
  const out = path.join(root, 'fewshot-out');
  const tb = path.join(root, 'fewshot-tb');
  const r = run([
    'fewshot',
    '--weights',
    'scratch',
    '--model',
    'BiT-Tiny',
    '--data',
    'digits',
    '--shots',
    '1,2',
    '--seeds',
    '2',
    '--method',
    'both',
    '--steps',
    '3',
    '--batch',
    '8',
    '--resolution',
    '16',
    '--precrop',
    '18',
    '--out',
    out,
    '--threads',
    '1',
    '--workers',
    '1',
    '--tensorboard',
    tb,
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /from scratch\s+linear\s+\d+\.\d ± \d+\.\d\s+\d+\.\d ± \d+\.\d/);
  const j = JSON.parse(readFileSync(path.join(out, 'fewshot.json'), 'utf8')) as {
    curves: { method: string; rows: { shots: number; accuracies: number[] }[] }[];
  };
  assert.deepEqual(
    j.curves.map((c) => c.method),
    ['linear', 'finetune'],
  );
  assert.deepEqual(
    j.curves[1].rows.map((x) => [x.shots, x.accuracies.length]),
    [
      [1, 2],
      [2, 2],
    ],
  );
  for (const f of ['fewshot.md', 'fewshot.svg', 'fewshot.png', 'runs/0-from_scratch/2shot-seed1/metrics.json']) assert.ok(existsSync(path.join(out, f)), f);
  // TensorBoard (read back by an independent decoder): each curve's mean accuracy at step = shots, the figure, and each run's metrics
  const events = decodeEventFile(eventFiles(tb)[0]);
  const means = (j as unknown as { curves: { rows: { shots: number; mean: number }[] }[] }).curves.map((c) =>
    c.rows.map((x) => [x.shots, Math.fround(x.mean)]),
  );
  assert.deepEqual(scalarSeries(events).get('fewshot/linear/from scratch'), means[0]);
  assert.deepEqual(scalarSeries(events).get('fewshot/finetune/from scratch'), means[1]);
  const png = createHash('sha256')
    .update(readFileSync(path.join(out, 'fewshot.png')))
    .digest('hex');
  assert.deepEqual(
    events.flatMap((e) => e.values ?? []).flatMap((v) => (v.image ? [[v.tag, v.image.png_sha256]] : [])),
    [['figures/fewshot', png]],
  );
  const oneRun = decodeEventFile(eventFiles(path.join(tb, 'runs', '0-from_scratch', '2shot-seed1'))[0]);
  assert.deepEqual(sorted(scalarSeries(oneRun)), sorted(expectedScalars(metricsRows(path.join(out, 'runs/0-from_scratch/2shot-seed1/metrics.jsonl')))));
});
