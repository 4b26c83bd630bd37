// The ONNX Runtime side of `bit bench` in a child process of its own: reads a
// SideRequest (JSON, first argument), times the forward pass of the exported
// model in onnxruntime-node on the benchmark's input and prints one SideRun as
// a JSON line on stdout. It loads neither libtorch nor our addon, so its peak
// RSS is ONNX Runtime's. Started by side.ts; not a command for people.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { readNpy } from '../io/npy.js';
import type { OpTiming } from '../tensor/index.js';
import { describeError } from '../util/errors.js';
import { onnxRuntimeSpins, PROFILE_REPS, type SideRequest, type SideRun } from './side.js';
import { fastestOps, peakRssMb } from './stats.js';
import { phaseBatch } from './workload.js';

/** NHWC float32 to NCHW. */
function toNchw(data: Float32Array, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + x] = data[((b * h + y) * w + x) * c + k];
  return out;
}

function sessionOptions(req: SideRequest): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: req.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    extra: { session: { intra_op: { allow_spinning: onnxRuntimeSpins(req.peerEnv) ? '1' : '0' } } },
  };
}

interface OrtEvent {
  cat?: string;
  name?: string;
  dur?: number;
  args?: { op_name?: string };
}

/**
 * ONNX Runtime's own profile (its Chrome-trace JSON) of the runs of one
 * session, by op type: each node's kernel time, the k-th occurrence of a node
 * belonging to the k-th run, summed per op type within a run; then each op
 * type's fastest run (as `fastestOps` does for ours), the first `skip` runs
 * (warm-up) left out.
 */
export function onnxProfileByOp(events: readonly OrtEvent[], skip = 0): OpTiming[] {
  const seen = new Map<string, number>();
  const runs: Map<string, { calls: number; ms: number }>[] = [];
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || typeof e.dur !== 'number') continue;
    const k = seen.get(e.name) ?? 0;
    seen.set(e.name, k + 1);
    const run = (runs[k] ??= new Map());
    const op = e.args?.op_name ?? e.name;
    const t = run.get(op) ?? { calls: 0, ms: 0 };
    run.set(op, { calls: t.calls + 1, ms: t.ms + e.dur / 1000 });
  }
  return fastestOps(runs.slice(skip).map((run) => [...run].map(([op, t]) => ({ op, calls: t.calls, selfMs: t.ms, totalMs: t.ms }))));
}

/** Profiles PROFILE_REPS runs (after one warm-up) in a session of its own with ONNX Runtime's profiler on. */
async function profileRuns(req: SideRequest, onnx: string, feeds: Record<string, ort.Tensor>): Promise<OpTiming[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bit-ort-profile-'));
  try {
    const session = await ort.InferenceSession.create(onnx, { ...sessionOptions(req), enableProfiling: true, profileFilePrefix: path.join(dir, 'ort') });
    try {
      await session.run(feeds);
      for (let i = 0; i < PROFILE_REPS; i++) await session.run(feeds);
      session.endProfiling();
    } finally {
      await session.release();
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (file === undefined) throw new Error(`ONNX Runtime wrote no profile into ${dir}`);
    const events = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as OrtEvent[];
    return onnxProfileByOp(events, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? '') as SideRequest;
  if (req.onnx === null) throw new Error('no ONNX file given');
  const session = await ort.InferenceSession.create(req.onnx, sessionOptions(req));
  try {
    const a = await readNpy(req.input);
    // the batch, or its first image alone for the batch-1 latency
    const n = phaseBatch(req.phase, a.shape[0]);
    const shape = [n, a.shape[1], a.shape[2], a.shape[3]];
    const data = (a.data as Float32Array).subarray(
      0,
      shape.reduce((p, q) => p * q, 1),
    );
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', toNchw(data, shape), [n, shape[3], shape[1], shape[2]]) };
    for (let i = 0; i < req.warmup; i++) await session.run(feeds);
    const seconds: number[] = [];
    const cpuSeconds: number[] = [];
    for (let i = 0; i < req.reps; i++) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      seconds.push(Number(process.hrtime.bigint() - t0) / 1e9);
      const c = process.cpuUsage(c0);
      cpuSeconds.push((c.user + c.system) / 1e6);
    }
    const peak = peakRssMb(); // before profiling, which runs a session of its own
    const profile = req.profile ? await profileRuns(req, req.onnx, feeds) : null;
    const run: SideRun = {
      side: 'onnxruntime',
      phase: req.phase,
      seconds,
      cpuSeconds,
      peakRssMb: peak,
      threads: req.threads,
      version: ort.env.versions.node ?? ort.env.versions.common,
      profile,
    };
    process.stdout.write(JSON.stringify(run) + '\n');
  } finally {
    await session.release();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bit bench (ONNX Runtime child): ${describeError(err)}\n`);
  process.exitCode = 1;
});
