// The benchmark's plumbing on a tiny model: the child processes of both sides,
// the comparison, the report and JSON, the scaling and loader measurements.
// No timing assertions: the speed goals belong to `bit bench`, not to tests.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { cliPath } from '../helpers.js';
import { requirePython } from '../python.js';
import {
  compare,
  formatReport,
  measureLoaders,
  measureScaling,
  openmpWaitPolicy,
  peerArgsFor,
  peerEnvironment,
  precropFor,
  reportJson,
  runOurs,
  runPeer,
  scalingTable,
  writeBenchFiles,
  type BenchSetup,
} from '../../src/bench/index.js';
import { getModel } from '../../src/models/index.js';
import * as T from '../../src/tensor/index.js';

T.configureThreads();
const dir = mkdtempSync(path.join(tmpdir(), 'bit-bench-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MODEL = 'BiT-Tiny';
const RES = 32;
const BATCH = 2;

const peerAvailable = () => requirePython(['torch', 'numpy'], 'python3-torch');

async function setup(): Promise<BenchSetup> {
  const entry = getModel(MODEL);
  const files = await writeBenchFiles(entry, 10, BATCH, RES, dir);
  return {
    model: entry.name,
    headSize: 10,
    ...files,
    batch: BATCH,
    resolution: RES,
    threads: 1,
    peerArgs: peerArgsFor(entry, 10),
    peerEnv: 'same',
    peerMode: 'eager',
    onnx: null,
  };
}

test('the peer gets the architecture flags of BiT models and none for the classic ResNets', () => {
  assert.deepEqual(peerArgsFor(getModel('BiT-Tiny'), 10), ['--units', '1,1,1,1', '--width-factor', '1', '--base-width', '16', '--groups', '8', '--head', '10']);
  assert.deepEqual(peerArgsFor(getModel('BiT-S-R50x1'), 1000), [
    '--units',
    '3,4,6,3',
    '--width-factor',
    '1',
    '--base-width',
    '64',
    '--groups',
    '32',
    '--head',
    '1000',
  ]);
  assert.equal(peerArgsFor(getModel('ResNet-50'), 1000), null);
});

test('our child process reports one time per repetition, its peak RSS and, on request, libtorch op timings', async () => {
  const s = await setup();
  for (const phase of ['forward', 'train'] as const) {
    const r = await runOurs({ ...s, phase, warmup: 0, reps: 2, profile: true });
    assert.equal(r.side, 'ours');
    assert.equal(r.phase, phase);
    assert.equal(r.seconds.length, 2);
    assert.equal(r.cpuSeconds.length, 2);
    assert.ok(r.seconds.every((t) => t > 0));
    assert.ok(r.peakRssMb > 50, `peak RSS ${r.peakRssMb}`);
    assert.equal(r.threads, 1);
    const ops = (r.profile ?? []).map((p) => p.op);
    // inference fuses GroupNorm and ReLU (native/src/inference.cc); training records the differentiable op
    assert.ok(ops.includes(phase === 'forward' ? 'bit::group_norm_relu' : 'aten::native_group_norm'), `profile ops: ${ops.join(', ')}`);
    if (phase === 'train') assert.ok(ops.includes('aten::convolution_backward'), `profile ops: ${ops.join(', ')}`);
  }
});

test('the PyTorch peer runs the same files and reports the same fields', async () => {
  peerAvailable();
  const s = await setup();
  const r = await runPeer({ ...s, phase: 'train', warmup: 0, reps: 2, profile: true });
  assert.equal(r.side, 'pytorch');
  assert.equal(r.seconds.length, 2);
  assert.equal(r.cpuSeconds.length, 2);
  assert.equal(r.threads, 1);
  assert.ok(r.peakRssMb > 50);
  assert.ok((r.profile ?? []).some((p) => p.op === 'aten::convolution_backward'));
});

test("--peer-mode compile on a PyTorch without torch.compile (Debian's 1.13) fails naming the version and BIT_PYTHON", async () => {
  peerAvailable();
  const s = await setup();
  const saved = process.env.BIT_PYTHON;
  process.env.BIT_PYTHON = '/usr/bin/python3'; // python3-torch, whatever BIT_PYTHON the suite runs with
  try {
    await assert.rejects(
      runPeer({ ...s, peerMode: 'compile', phase: 'forward', warmup: 0, reps: 1, profile: false }),
      /needs torch\.compile \(PyTorch 2\.0 or later\), but \/usr\/bin\/python3 has PyTorch 1\.13.*point BIT_PYTHON at a Python with PyTorch 2\.x/s,
    );
  } finally {
    if (saved === undefined) delete process.env.BIT_PYTHON;
    else process.env.BIT_PYTHON = saved;
  }
});

test("the peer's environment: ours (same OpenMP settings) or the user's (without what the addon loader set)", () => {
  const user = peerEnvironment('user');
  const same = peerEnvironment('same');
  assert.equal(same.OMP_WAIT_POLICY, process.env.OMP_WAIT_POLICY);
  if (T.userEnvironment().OMP_WAIT_POLICY === undefined) {
    // the loader chose PASSIVE for libtorch; PyTorch at its own defaults does not get it
    assert.equal(process.env.OMP_WAIT_POLICY, 'PASSIVE');
    assert.equal(user.OMP_WAIT_POLICY, undefined);
    assert.match(openmpWaitPolicy('pytorch', 'user'), /default/);
  }
  assert.equal(openmpWaitPolicy('ours', 'user'), process.env.OMP_WAIT_POLICY);
  assert.equal(user.PATH, process.env.PATH);
});

test('a failing child names the side and its error', async () => {
  const s = await setup();
  await assert.rejects(
    runOurs({ ...s, weights: path.join(dir, 'missing.npz'), phase: 'forward', warmup: 0, reps: 1, profile: false }),
    /our forward benchmark failed[\s\S]*missing\.npz/,
  );
});

test('compare alternates the sides and reports ratios, the table and the JSON object', async () => {
  peerAvailable();
  const lines: string[] = [];
  const c = await compare({
    model: MODEL,
    resolution: RES,
    batch: BATCH,
    threads: 1,
    peer: 'pytorch',
    rounds: 2,
    warmup: 0,
    reps: 1,
    profile: false,
    log: (l) => lines.push(l),
  });
  // round 1: ours then PyTorch; round 2: PyTorch then ours; each phase (forward, batch-1 latency, training step) in turn
  const order = lines.map((l) => /(forward|latency|train) +(ours|pytorch)/.exec(l)?.slice(1).join(' '));
  assert.deepEqual(order, [
    ...['forward', 'latency', 'train'].flatMap((p) => [`${p} ours`, `${p} pytorch`]),
    ...['forward', 'latency', 'train'].flatMap((p) => [`${p} pytorch`, `${p} ours`]),
  ]);
  assert.ok(c.ratios?.train && c.ratios.forward && c.ratios.latency);
  assert.equal(c.ratios.train.perRound.length, 2);
  assert.ok(c.ratios.forward.median > 0 && c.ratios.train.rss > 0);
  assert.ok(c.macsPerImage > 0 && c.matmulPeakGflops > 0);
  const text = formatReport({ compare: c, loader: null, scaling: null }, 'text');
  assert.match(text, /ours\/PyTorch/);
  assert.match(text, /training step, images\/s/);
  assert.match(text, /batch-1 latency, ms per image/);
  const md = formatReport({ compare: c, loader: null, scaling: null }, 'markdown');
  assert.match(md, /^\| /m);
  const j = reportJson({ compare: c, loader: null, scaling: null });
  for (const key of ['forward_images_per_s', 'train_images_per_s', 'peak_rss_mb']) assert.equal(typeof j[key], 'number', key);
  assert.equal(typeof (j.ratios as Record<string, unknown>).train, 'number');
});

test('compare with ONNX Runtime runs the exported model forward only (batch and batch 1), alternating, with its own profile; the table says training does not apply', async () => {
  const lines: string[] = [];
  const c = await compare({
    model: MODEL,
    resolution: RES,
    batch: BATCH,
    threads: 1,
    peer: 'onnxruntime',
    rounds: 2,
    warmup: 0,
    reps: 1,
    profile: true,
    log: (l) => lines.push(l),
  });
  const order = lines.map((l) => /(forward|latency|train) +(ours|onnxruntime)/.exec(l)?.slice(1).join(' '));
  assert.deepEqual(order, [
    'forward ours',
    'forward onnxruntime',
    'latency ours',
    'latency onnxruntime',
    'train ours',
    'forward onnxruntime',
    'forward ours',
    'latency onnxruntime',
    'latency ours',
    'train ours',
  ]);
  // ONNX Runtime's profile by op type: every convolution of the model (BiT-Tiny: root, 3 per unit, 4 projections, head) is one Conv call
  for (const phase of ['forward', 'latency'] as const) {
    const prof = c.peer?.phases[phase]?.runs.at(-1)?.profile ?? [];
    const conv = prof.find((p) => p.op === 'Conv');
    assert.equal(conv?.calls, 1 + 3 * 4 + 4 + 1, `${phase}: ${JSON.stringify(prof)}`);
    assert.ok(conv.selfMs > 0);
  }
  assert.equal(c.peer?.side, 'onnxruntime');
  assert.equal(c.peer.phases.train, undefined);
  assert.ok((c.peer.phases.forward?.imagesPerSecond ?? 0) > 0);
  assert.match(c.machine.peer ?? '', /^ONNX Runtime 1\.30\.0$/);
  assert.ok(c.ratios?.forward && c.ratios.latency && c.ratios.train === undefined);
  // the latency phase runs one image, the forward phase the batch: images/s = images / the median time
  for (const [phase, images] of [
    ['latency', 1],
    ['forward', BATCH],
  ] as const) {
    const r = c.ours[phase];
    const [a, b] = r.runs.flatMap((x) => x.seconds);
    assert.ok(Math.abs(r.imagesPerSecond - images / ((a + b) / 2)) < 1e-9, phase);
  }
  const text = formatReport({ compare: c, loader: null, scaling: null }, 'text');
  assert.match(text, /ours\/ONNX Runtime/);
  assert.match(text, /training step, images\/s .*n\/a: ONNX Runtime runs inference only/);
  const j = reportJson({ compare: c, loader: null, scaling: null });
  assert.equal((j.ratios as Record<string, unknown>).train, null);
  assert.equal(typeof (j.ratios as Record<string, unknown>).forward, 'number');
  assert.ok((j.onnxruntime as Record<string, unknown>).forward);
});

test('compare without a peer measures ours only, and a model without a peer is refused', async () => {
  const c = await compare({
    model: MODEL,
    resolution: RES,
    batch: BATCH,
    threads: 1,
    peer: null,
    rounds: 1,
    warmup: 0,
    reps: 1,
    profile: false,
    log: () => {},
  });
  assert.equal(c.peer, null);
  assert.equal(c.ratios, null);
  assert.ok(c.ours.train.imagesPerSecond > 0);
  await assert.rejects(
    compare({ model: 'ResNet-18', resolution: RES, batch: BATCH, threads: 1, peer: 'pytorch', rounds: 1, warmup: 0, reps: 1, profile: false, log: () => {} }),
    /ResNet-18 has no PyTorch peer/,
  );
});

test('the scaling table varies batch, resolution and micro-batches', () => {
  const rows = measureScaling({
    model: MODEL,
    batch: 4,
    resolution: RES,
    batches: [1, 2],
    resolutions: [32, 48],
    microBatches: [1, 2, 4],
    warmup: 0,
    reps: 1,
    log: () => {},
  });
  assert.deepEqual(
    rows.map((r) => [r.axis, r.batch, r.resolution, r.microBatches]),
    [
      ['batch', 1, 32, 1],
      ['batch', 2, 32, 1],
      ['resolution', 4, 32, 1],
      ['resolution', 4, 48, 1],
      ['micro-batches', 4, 32, 1],
      ['micro-batches', 4, 32, 2],
      ['micro-batches', 4, 32, 4],
    ],
  );
  assert.equal(rows[5].forwardImagesPerSecond, null);
  assert.match(scalingTable(rows, 'text'), /vs 1 pass/);
  assert.throws(
    () => measureScaling({ model: MODEL, batch: 4, resolution: RES, batches: [], resolutions: [], microBatches: [3], warmup: 0, reps: 1, log: () => {} }),
    /does not divide/,
  );
});

test('the loader measurement runs on both synthetic sources (in memory, JPEG files) at the HyperRule precrop', async () => {
  assert.equal(precropFor(128), 160);
  const lines: string[] = [];
  const rows = await measureLoaders({ resolution: 32, batch: 4, workers: 1, batches: 2, log: (l) => lines.push(l) });
  assert.deepEqual(
    rows.map((r) => r.source),
    ['in-memory 32x32 RGB (CIFAR-sized)', 'JPEG files 500x375 (ImageNet-sized)'],
  );
  for (const r of rows) {
    assert.deepEqual([r.images, r.precrop, r.crop, r.workers], [8, precropFor(32), 32, 1], r.source);
    assert.ok(r.imagesPerSecond > 0, r.source);
  }
  assert.equal(lines.length, 2);
});

test('`bit bench --json` prints one object with the required keys', () => {
  const out = execFileSync(
    process.execPath,
    [
      cliPath(),
      'bench',
      '--model',
      MODEL,
      '--resolution',
      String(RES),
      '--batch',
      String(BATCH),
      '--threads',
      '1',
      '--reps',
      '1',
      '--warmup',
      '0',
      '--no-loader',
      '--json',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const j = JSON.parse(out) as Record<string, unknown>;
  for (const key of ['forward_images_per_s', 'train_images_per_s', 'peak_rss_mb']) assert.equal(typeof j[key], 'number', key);
  assert.equal(j.model, MODEL);
});
