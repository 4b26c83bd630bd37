// The whole fine-tuning path on real data, through the CLI: accuracy far above
// chance on digits, resume after an interrupt, atomic checkpoints under SIGKILL,
// and clear errors for bad input.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { buildModel, loadWeights } from '../../src/models/index.js';
import { readNpz, writeNpz } from '../../src/io/npz.js';
import { readRunState, saveCheckpoint } from '../../src/train/checkpoint.js';
import { SGD } from '../../src/train/optim.js';
import { startBit, waitFor } from '../distributed/run-bit.js';
import { cliPath } from '../helpers.js';

const root = mkdtempSync(path.join(tmpdir(), 'bit-finetune-'));
after(() => rmSync(root, { recursive: true, force: true }));

const BASE = [
  'finetune',
  '--model',
  'BiT-Tiny',
  '--data',
  'digits',
  '--resolution',
  '32',
  '--precrop',
  '36',
  '--batch',
  '64',
  '--lr',
  '0.03',
  '--threads',
  '1',
  '--workers',
  '1',
];
const env = { ...process.env, BIT_NO_TTY: '1' };

function run(args: string[]) {
  return spawnSync(process.execPath, [cliPath(), ...args], { encoding: 'utf8', env });
}

function metrics(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(dir, 'metrics.json'), 'utf8')) as Record<string, unknown>;
}

test('fine-tuning BiT-Tiny on digits from scratch reaches an accuracy far above chance', () => {
  const out = path.join(root, 'plain');
  const r = run([...BASE, '--steps', '100', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /recipe: BiT-HyperRule/);
  assert.match(r.stderr, /steps 100, warm-up 20, lr \/10 after steps 40, 60, 80/);
  const m = metrics(out);
  assert.ok((m.top1 as number) > 0.5, `top-1 ${m.top1} (chance is 0.1)`);
  assert.equal(m.steps, 100);
  assert.equal(m.eval_images, 500);
  for (const f of ['model.npz', 'checkpoint.npz', 'metrics.json', 'metrics.jsonl']) assert.ok(existsSync(path.join(out, f)), f);
  // model.npz is a BiT .npz with metadata: `bit eval` needs nothing else
  const e = run(['eval', '--weights', path.join(out, 'model.npz'), '--data', 'digits', '--json', '--threads', '1']);
  assert.equal(e.status, 0, e.stderr);
  assert.equal((JSON.parse(e.stdout) as { top1: number }).top1, m.top1);
});

test('an interrupted run (SIGINT) saves, evaluates, and the rerun resumes to the same number of steps', async () => {
  const out = path.join(root, 'resume');
  const bit = startBit([...BASE, '--steps', '60', '--checkpoint-every', '1000', '--out', out]);
  // interrupt once step 10 is logged
  const log = path.join(out, 'metrics.jsonl');
  await waitFor(
    'step 10 in metrics.jsonl',
    () => {
      if (bit.child.exitCode !== null) throw new Error(`bit exited (${bit.child.exitCode}) before step 10: ${bit.output()}`);
      return existsSync(log) && readFileSync(log, 'utf8').split('\n').filter(Boolean).length >= 10;
    },
    120_000,
    20,
  );
  bit.child.kill('SIGINT');
  const { code, output } = await bit.done;
  assert.equal(code, 130, output);
  const first = metrics(out);
  assert.equal(first.stopped_early, true);
  const stoppedAt = first.steps as number;
  assert.ok(stoppedAt >= 10 && stoppedAt < 60, `stopped at ${stoppedAt}`);
  assert.equal((await readRunState(path.join(out, 'checkpoint.npz'))).step, stoppedAt);
  const r = run([...BASE, '--steps', '60', '--checkpoint-every', '1000', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`resuming from .*checkpoint.npz at step ${stoppedAt}/60`));
  const second = metrics(out);
  assert.equal(second.steps, 60);
  assert.equal(second.resumed_from_step, stoppedAt);
  const steps = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { step: number; loss?: number })
    .filter((e) => e.loss !== undefined)
    .map((e) => e.step);
  assert.deepEqual(
    steps,
    Array.from({ length: 60 }, (_, i) => i + 1),
    'one log line per step, none twice',
  );
});

test('SIGKILL during a checkpoint write leaves the previous checkpoint readable', async () => {
  const out = path.join(root, 'kill');
  const bit = startBit([...BASE, '--steps', '400', '--checkpoint-every', '1', '--out', out]);
  // kill the process while a temporary checkpoint file exists, after a first checkpoint is complete
  try {
    await waitFor(
      'a checkpoint being written over a complete one',
      () => {
        const files = existsSync(out) ? readdirSync(out) : [];
        return files.includes('checkpoint.npz') && files.some((f) => f.startsWith('.checkpoint.npz.') && f.endsWith('.tmp'));
      },
      120_000,
      1,
    );
  } finally {
    bit.child.kill('SIGKILL');
    await bit.done;
  }
  const state = await readRunState(path.join(out, 'checkpoint.npz'));
  assert.ok(state.step >= 1);
  const model = buildModel('BiT-Tiny', { headSize: 10 });
  try {
    await loadWeights(model, path.join(out, 'checkpoint.npz'));
  } finally {
    model.dispose();
  }
  // and the run resumes from it
  const r = run([...BASE, '--steps', String(state.step + 2), '--checkpoint-every', '1000', '--out', out]);
  assert.notEqual(r.status, 0, 'a different step count is another run');
  assert.match(r.stderr, /belongs to another run/);
});

test("resuming with other result-changing options is refused, naming them and how to start over; so is a checkpoint past the run's steps", async () => {
  const out = path.join(root, 'other-options');
  const first = run([...BASE, '--steps', '4', '--out', out]);
  assert.equal(first.status, 0, first.stderr);
  const weights = path.join(out, 'model.npz');
  const cases: [string[], RegExp][] = [
    [['--batch', '32'], /--batch 64 \(this run: --batch 32\)/],
    [['--lr', '0.1'], /--lr 0\.03 \(this run: --lr 0\.1\)/],
    [['--seed', '5'], /--seed 0 \(this run: --seed 5\)/],
    [['--weights', weights], /--weights not given \(this run: --weights .*model\.npz\)/],
    [['--no-flip', '--mixup', '0.2'], /--mixup not given \(this run: --mixup 0\.2\), --no-flip not given \(this run: --no-flip\)/],
  ];
  for (const [extra, differs] of cases) {
    const r = run([...BASE, '--steps', '4', ...extra, '--out', out]);
    assert.equal(r.status, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /checkpoint\.npz belongs to another run/);
    assert.match(r.stderr, differs);
    assert.match(r.stderr, /another --out, --no-resume, or delete .*checkpoint\.npz/);
  }
  // the options that do not change the result may differ
  const again = run([...BASE, '--steps', '4', '--out', out, '--eval-every', '2', '--checkpoint-every', '3', '--workers', '2', '--threads', '2']);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /resuming from .*checkpoint\.npz at step 4\/4/);

  // a checkpoint whose step is past the run's last step (copied from a longer run of the same recipe)
  const longer = path.join(root, 'longer');
  const six = run([...BASE, '--steps', '6', '--out', longer]);
  assert.equal(six.status, 0, six.stderr);
  const file = path.join(out, 'checkpoint.npz');
  const state = await readRunState(file);
  const model = buildModel('BiT-Tiny', { headSize: 10 });
  const opt = new SGD(model.store.trainable(), { momentum: 0.9, weightDecay: 0 });
  try {
    await loadWeights(model, file);
    await saveCheckpoint(file, model, opt, { ...state, step: 6 });
  } finally {
    opt.dispose();
    model.dispose();
  }
  const past = run([...BASE, '--steps', '4', '--out', out]);
  assert.notEqual(past.status, 0, past.stderr);
  assert.match(past.stderr, /checkpoint\.npz is at step 6, past this run's 4 steps/);
});

test('a diverging run (NaN loss) stops with a clear message and keeps the last good checkpoint', async () => {
  const out = path.join(root, 'diverge');
  const r = run([...BASE, '--lr', '1e30', '--steps', '20', '--checkpoint-every', '2', '--out', out]);
  assert.notEqual(r.status, 0);
  const m =
    /the loss became (NaN|-?Infinity) at step (\d+) \(lr [^)]+\): training stopped\. The last good checkpoint \(step (\d+)\) is kept in (.+checkpoint\.npz)\. Try a lower learning rate/.exec(
      r.stderr,
    );
  assert.ok(m, r.stderr);
  const [failedAt, keptStep] = [Number(m[2]), Number(m[3])];
  assert.ok(keptStep > 0 && keptStep < failedAt, `kept step ${keptStep}, failed at ${failedAt}`);
  assert.equal(m[4], path.join(out, 'checkpoint.npz'));
  assert.equal((await readRunState(m[4])).step, keptStep);
  assert.ok(!existsSync(path.join(out, 'model.npz')) && !existsSync(path.join(out, 'metrics.json')), 'no final model from a diverged run');
});

test('a checkpoint is written only while the weights are finite; a damaged one is refused on resume, naming the file and the first bad key', async () => {
  const out = path.join(root, 'diverge-each-step');
  const args = [...BASE, '--steps', '20', '--checkpoint-every', '1', '--out', out, '--lr', '1e30'];
  const r = run(args);
  assert.notEqual(r.status, 0);
  const kept = /The last good checkpoint \(step (\d+)\) is kept in (.+checkpoint\.npz)\./.exec(r.stderr);
  assert.ok(kept, r.stderr);
  const arrays = await readNpz(kept[2]);
  for (const [key, a] of arrays) {
    if (a.dtype !== 'float32') continue;
    const bad = (a.data as Float32Array).findIndex((v) => !Number.isFinite(v));
    assert.equal(bad, -1, `the checkpoint called good holds ${(a.data as Float32Array)[bad]} in '${key}'`);
  }
  // damage it: a NaN in one weight; resuming (same settings) names the file and the key instead of training on
  const key = 'resnet/block2/unit01/a/group_norm/gamma';
  const a = arrays.get(key)!;
  const data = Float32Array.from(a.data as Float32Array);
  data[0] = Number.NaN;
  arrays.set(key, { dtype: 'float32', shape: a.shape, data });
  await writeNpz(kept[2], arrays);
  const resumed = run(args);
  assert.equal(resumed.status, 1, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`bit: ${kept[2]}: '${key}' holds NaN or infinite values`));
});

test('bad input: one clear message, a non-zero exit, no output files', () => {
  const cases: [string[], RegExp][] = [
    [['--data', path.join(root, 'no-such-folder')], /no-such-folder/],
    [['--data', 'digits', '--model', 'BiT-Nope'], /unknown model 'BiT-Nope'/],
    [['--data', 'digits', '--steps', 'ten'], /--steps.*expected an integer/],
    [['--data', 'digits', '--batch', '10', '--batch-split', '3'], /--batch 10 is not divisible by --batch-split 3/],
  ];
  for (const [args, message] of cases) {
    const out = path.join(root, `bad-${Math.random().toString(36).slice(2)}`);
    const r = run(['finetune', '--model', 'BiT-Tiny', '--data', 'digits', '--out', out, ...args]);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, message);
    assert.equal(r.stderr.includes('    at '), false, 'no stack trace');
    assert.ok(!existsSync(path.join(out, 'checkpoint.npz')) && !existsSync(path.join(out, 'metrics.json')));
  }
});
