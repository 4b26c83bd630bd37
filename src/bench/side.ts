// One side of the benchmark (ours, the PyTorch peer or ONNX Runtime)
// measuring one phase in a child process of its own, so that each side's peak
// RSS is its own and nothing one side leaves behind (allocator state, caches,
// threads) slows the other. Every side reads the same input (.npy); ours and
// PyTorch the same weights (.npz), ONNX Runtime the file `bit export` writes
// from them.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../tensor/index.js';
import { packageRoot } from '../util/package-root.js';
import type { Phase } from './workload.js';

export type Side = 'ours' | Peer;

/** What `--compare` runs beside ours. */
export type Peer = 'pytorch' | 'onnxruntime';

/** The phases each side can run: ONNX Runtime runs inference only (its training API is another product). */
export function sidePhases(side: Side): readonly Phase[] {
  return side === 'onnxruntime' ? ['forward', 'latency'] : ['forward', 'latency', 'train'];
}

/** A side's name in tables and messages. */
export function sideLabel(side: Side): string {
  return side === 'ours' ? 'ours' : side === 'pytorch' ? 'PyTorch' : 'ONNX Runtime';
}

/** What both sides run: the model, its weights and input, the batch and threads. */
export interface BenchSetup {
  /** A registry name (`bit models`). */
  readonly model: string;
  readonly headSize: number;
  /** Weights in the official BiT key scheme, read by both sides. */
  readonly weights: string;
  /** The batch, NHWC float32 [batch, resolution, resolution, 3] in [-1, 1]. */
  readonly input: string;
  readonly batch: number;
  readonly resolution: number;
  readonly threads: number;
  /** The peer's architecture flags (bench/bit_pytorch_peer.py), null when the model has no PyTorch peer. */
  readonly peerArgs: readonly string[] | null;
  /** The model as `bit export` writes it (opset 17), for the ONNX Runtime side; null when not compared. */
  readonly onnx: string | null;
  /** The peer's environment: ours ('same': the OpenMP settings `bit` runs with) or the user's ('user': PyTorch's own defaults). */
  readonly peerEnv: PeerEnv;
  /** How the PyTorch peer runs the model: eagerly, or through torch.compile (PyTorch 2.x). */
  readonly peerMode: PeerMode;
}

export type PeerEnv = 'same' | 'user';

/** The PyTorch peer's execution: 'eager' (the module as written) or 'compile' (torch.compile, TorchInductor's default mode). */
export type PeerMode = 'eager' | 'compile';

export interface SideRequest extends BenchSetup {
  readonly phase: Phase;
  readonly warmup: number;
  readonly reps: number;
  /** Also record libtorch's op timings of one more repetition. */
  readonly profile: boolean;
}

/** What a side's child process reports (one JSON line on stdout). */
export interface SideRun {
  readonly side: Side;
  readonly phase: Phase;
  /** Wall-clock seconds of each timed repetition. */
  readonly seconds: readonly number[];
  /** CPU seconds (user + system, every thread) of each timed repetition. */
  readonly cpuSeconds: readonly number[];
  readonly peakRssMb: number;
  readonly threads: number;
  /** libtorch / PyTorch / ONNX Runtime version of the side. */
  readonly version: string;
  readonly profile: readonly T.OpTiming[] | null;
}

/** Profiled repetitions per side and phase with --profile (each op's fastest is kept). */
export const PROFILE_REPS = 3;

/** The Python with PyTorch that runs the peer: $BIT_PYTHON, else Debian's /usr/bin/python3 (python3-torch). */
export function peerPython(): string {
  return process.env.BIT_PYTHON ?? '/usr/bin/python3';
}

/** The PyTorch peer script, kept in the package's bench folder. */
export function peerScript(): string {
  return path.join(packageRoot(), 'bench', 'bit_pytorch_peer.py');
}

function childScript(name: 'child' | 'ort-child'): string {
  const url = new URL(import.meta.url.endsWith('.ts') ? `./${name}.ts` : `./${name}.js`, import.meta.url);
  return fileURLToPath(url);
}

function run(command: string, args: readonly string[], what: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => reject(new Error(`bit bench: could not start ${what} (${command}): ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
      const tail = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-8).join('\n');
      reject(new Error(`bit bench: ${what} failed (${signal ?? `exit code ${code}`})${tail ? `:\n${tail}` : ''}`));
    });
  });
}

function lastJsonLine(stdout: string, what: string): unknown {
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as unknown;
  } catch {
    throw new Error(`bit bench: ${what} printed no JSON result (last line: ${JSON.stringify(line.slice(0, 200))})`);
  }
}

function numberArray(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) throw new Error(`bit bench: ${what} is not a list of numbers`);
  return v as number[];
}

function field(o: Record<string, unknown>, key: string, what: string): number {
  const v = o[key];
  if (typeof v !== 'number') throw new Error(`bit bench: ${what} has no number '${key}'`);
  return v;
}

interface PeerProfileRow {
  op: string;
  calls: number;
  self_ms: number;
  total_ms: number;
}

function isPeerProfile(v: unknown): v is PeerProfileRow[] {
  return (
    Array.isArray(v) &&
    v.every((r) => typeof r === 'object' && r !== null && typeof (r as PeerProfileRow).op === 'string' && typeof (r as PeerProfileRow).self_ms === 'number')
  );
}

/** Runs our side of one phase in a child process. */
export async function runOurs(req: SideRequest): Promise<SideRun> {
  const what = `our ${req.phase} benchmark`;
  return childRun('child', req, what);
}

async function childRun(script: 'child' | 'ort-child', req: SideRequest, what: string): Promise<SideRun> {
  const out = await run(process.execPath, [childScript(script), JSON.stringify(req)], what);
  const r = lastJsonLine(out, what) as SideRun;
  numberArray(r.seconds, `${what}'s 'seconds'`);
  numberArray(r.cpuSeconds, `${what}'s 'cpuSeconds'`);
  return r;
}

/**
 * Runs ONNX Runtime (onnxruntime-node) on the exported model in a child
 * process: intra-op threads = the benchmark's threads, one inter-op thread,
 * every graph optimization, sequential execution; inference only.
 */
export async function runOnnxRuntime(req: SideRequest): Promise<SideRun> {
  if (req.onnx === null) throw new Error('bit bench: no ONNX file was exported for the ONNX Runtime side');
  if (req.phase === 'train') throw new Error(`bit bench: ONNX Runtime has no ${req.phase} phase (it runs inference only)`);
  return childRun('ort-child', req, `ONNX Runtime's ${req.phase} benchmark`);
}

/**
 * The peer's environment. 'same': this process's, so that both sides run
 * libtorch with the same OpenMP settings (`bit` sets OMP_WAIT_POLICY=PASSIVE
 * unless the user chose a policy). 'user': the user's environment without
 * what loading our addon set, so that PyTorch runs with its own defaults
 * (libgomp spins about 3 ms before sleeping: faster on an idle machine, far
 * slower when other processes want the cores).
 */
export function peerEnvironment(peerEnv: PeerEnv): NodeJS.ProcessEnv {
  return peerEnv === 'user' ? T.userEnvironment() : process.env;
}

/** The OpenMP wait policy a side runs with. */
export function openmpWaitPolicy(side: Side, peerEnv: PeerEnv): string {
  const env = side === 'ours' ? process.env : peerEnvironment(peerEnv);
  return env.OMP_WAIT_POLICY ?? "libgomp's default (spin, then sleep)";
}

/**
 * Whether ONNX Runtime's intra-op threads spin while they wait. 'user': its
 * default (they spin). 'same': as our OpenMP threads wait, which `bit` makes
 * passive unless the environment asks for OMP_WAIT_POLICY=ACTIVE (spinning
 * threads made a 2-core machine shared with other jobs several times slower).
 */
export function onnxRuntimeSpins(peerEnv: PeerEnv): boolean {
  return peerEnv === 'user' || (process.env.OMP_WAIT_POLICY ?? '').toUpperCase() === 'ACTIVE';
}

/** Runs the PyTorch peer on one phase in a child process. */
export async function runPeer(req: SideRequest): Promise<SideRun> {
  if (req.peerArgs === null) throw new Error(`bit bench: ${req.model} has no PyTorch peer (bench/bit_pytorch_peer.py implements BiT's ResNet-v2 only)`);
  const what = `the PyTorch peer's ${req.phase} benchmark`;
  const args = [
    peerScript(),
    'bench',
    '--weights',
    req.weights,
    '--input',
    req.input,
    ...req.peerArgs,
    '--batch',
    String(req.batch),
    '--resolution',
    String(req.resolution),
    '--threads',
    String(req.threads),
    '--phase',
    req.phase,
    '--warmup',
    String(req.warmup),
    '--reps',
    String(req.reps),
    '--peer-mode',
    req.peerMode,
    ...(req.profile ? ['--profile', String(PROFILE_REPS)] : []),
  ];
  const out = await run(peerPython(), args, what, peerEnvironment(req.peerEnv));
  const o = lastJsonLine(out, what) as Record<string, unknown>;
  const prof = o[`${req.phase}_profile`];
  return {
    side: 'pytorch',
    phase: req.phase,
    seconds: numberArray(o[`${req.phase}_seconds`], `${what}'s '${req.phase}_seconds'`),
    cpuSeconds: numberArray(o[`${req.phase}_cpu_seconds`], `${what}'s '${req.phase}_cpu_seconds'`),
    peakRssMb: field(o, 'peak_rss_mb', what),
    threads: field(o, 'threads', what),
    version: typeof o.torch === 'string' ? o.torch : 'unknown',
    profile: isPeerProfile(prof) ? prof.map((p) => ({ op: p.op, calls: p.calls, selfMs: p.self_ms, totalMs: p.total_ms })) : null,
  };
}

export function runSide(side: Side, req: SideRequest): Promise<SideRun> {
  return side === 'ours' ? runOurs(req) : side === 'pytorch' ? runPeer(req) : runOnnxRuntime(req);
}
