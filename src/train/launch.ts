// Starting data-parallel runs, like PyTorch's torchrun and with its flags:
// `--nproc-per-node N` starts N local worker processes of the same command;
// `--nnodes M --node-rank R --master-addr HOST --master-port P` joins workers
// on several machines (the same command on each, with its own --node-rank).
//
// Workers get torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE,
// LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT); a process that
// finds RANK and WORLD_SIZE set is a worker and joins the run, so workers can
// also be started by torchrun --no-python or by a cluster scheduler.
//
// The launcher forwards SIGINT/SIGTERM/SIGHUP to its workers (each runs in a
// process group of its own, so a terminal's Ctrl-C reaches it once); when a
// worker dies it names it and stops the others (SIGTERM, then SIGKILL after a
// grace period). A worker whose launcher disappears stops after its step.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import * as os from 'node:os';
import { createInterface } from 'node:readline';
import { STOP_SIGNALS } from '../util/signals.js';
import { DEFAULT_JOIN_TIMEOUT_S, DEFAULT_TIMEOUT_S, initDistributed, type GlooCollective } from './distributed.js';

export const DEFAULT_MASTER_ADDR = '127.0.0.1';
/** torchrun's default. */
export const DEFAULT_MASTER_PORT = 29500;
/** After a worker fails, how long the others get to stop on their own after SIGTERM before SIGKILL. */
export const STOP_GRACE_MS = 30_000;

/** The command-line flags of a data-parallel run (same names as torchrun). */
export interface DistributedFlags {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  /** 0: any free port (one machine only). */
  masterPort: number;
  /** Collective timeout in seconds. */
  distTimeout: number;
  /** How long workers wait for each other at start, in seconds. */
  joinTimeout: number;
  /** Network interface for Gloo. */
  distIface?: string;
}

export const SINGLE_PROCESS: DistributedFlags = {
  nprocPerNode: 1,
  nnodes: 1,
  nodeRank: 0,
  masterAddr: DEFAULT_MASTER_ADDR,
  masterPort: DEFAULT_MASTER_PORT,
  distTimeout: DEFAULT_TIMEOUT_S,
  joinTimeout: DEFAULT_JOIN_TIMEOUT_S,
};

/** What a worker learns from its environment. */
export interface WorkerEnv {
  rank: number;
  world: number;
  localRank: number;
  localWorld: number;
  masterAddr: string;
  masterPort: number;
}

/** Where this process stands in the run. */
export interface RunPlace {
  rank: number;
  world: number;
  /** Workers on this machine (threads and loader workers share its cores). */
  localWorld: number;
}

export class LaunchError extends Error {
  override name = 'LaunchError';
}

function envInt(env: NodeJS.ProcessEnv, name: string, min: number): number {
  const v = env[name];
  const n = Number(v);
  if (v === undefined || !/^\d+$/.test(v.trim()) || n < min)
    throw new LaunchError(`the environment variable ${name} must be a whole number >= ${min} for a data-parallel worker, but is '${v ?? ''}'`);
  return n;
}

/** The worker environment (torchrun's variables), or null when this process is not a worker. */
export function workerEnvFrom(env: NodeJS.ProcessEnv): WorkerEnv | null {
  if (env.RANK === undefined && env.WORLD_SIZE === undefined) return null;
  const rank = envInt(env, 'RANK', 0);
  const world = envInt(env, 'WORLD_SIZE', 1);
  if (rank >= world) throw new LaunchError(`RANK=${rank} is outside WORLD_SIZE=${world}`);
  const masterAddr = env.MASTER_ADDR?.trim();
  if (!masterAddr) throw new LaunchError('MASTER_ADDR must be set for a data-parallel worker (RANK and WORLD_SIZE are)');
  const masterPort = envInt(env, 'MASTER_PORT', 1);
  const localWorld = env.LOCAL_WORLD_SIZE !== undefined ? envInt(env, 'LOCAL_WORLD_SIZE', 1) : 1;
  const localRank = env.LOCAL_RANK !== undefined ? envInt(env, 'LOCAL_RANK', 0) : 0;
  return { rank, world, localRank, localWorld, masterAddr, masterPort };
}

/** Checks the flags; returns the world size. */
export function checkFlags(f: DistributedFlags): number {
  if (!(Number.isInteger(f.nprocPerNode) && f.nprocPerNode >= 1))
    throw new LaunchError(`--nproc-per-node must be a whole number >= 1, but got ${f.nprocPerNode}`);
  if (!(Number.isInteger(f.nnodes) && f.nnodes >= 1)) throw new LaunchError(`--nnodes must be a whole number >= 1, but got ${f.nnodes}`);
  if (!(Number.isInteger(f.nodeRank) && f.nodeRank >= 0 && f.nodeRank < f.nnodes))
    throw new LaunchError(`--node-rank ${f.nodeRank} is outside 0..${f.nnodes - 1} (--nnodes ${f.nnodes})`);
  if (!(Number.isInteger(f.masterPort) && f.masterPort >= 0 && f.masterPort <= 65535))
    throw new LaunchError(`--master-port must be in 0..65535, but got ${f.masterPort}`);
  if (f.masterPort === 0 && f.nnodes > 1)
    throw new LaunchError('--master-port 0 (any free port) works on one machine only: with --nnodes > 1 give every machine the same port');
  if (!(f.distTimeout > 0)) throw new LaunchError(`--dist-timeout must be a positive number of seconds, but got ${f.distTimeout}`);
  if (!(f.joinTimeout > 0)) throw new LaunchError(`--join-timeout must be a positive number of seconds, but got ${f.joinTimeout}`);
  return f.nprocPerNode * f.nnodes;
}

/** libtorch threads per worker: the machine's cores shared among its workers. */
export function threadsPerWorker(localWorld: number, cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / localWorld));
}

/** Data loader threads per worker when not given: one less than its share of the cores, at least 1. */
export function loaderWorkersPerWorker(localWorld: number, cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor(cores / localWorld) - 1);
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, () => resolve());
  });
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (addr === null || typeof addr === 'string') throw new LaunchError('could not find a free port for --master-port 0');
  return addr.port;
}

export interface LaunchOptions {
  flags: DistributedFlags;
  /** What each worker runs: node's arguments after the executable (default: this process's script and arguments). */
  command?: readonly string[];
  execArgv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  stopGraceMs?: number;
  /** Where the launcher's own lines go (default stderr). */
  log?: (line: string) => void;
}

interface Worker {
  rank: number;
  localRank: number;
  child: ChildProcess;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
}

function describeExit(w: Worker): string {
  const e = w.exit!;
  return e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
}

/** Starts this machine's workers and supervises them; resolves to the exit code for the launcher. */
export async function launchWorkers(o: LaunchOptions): Promise<number> {
  const f = o.flags;
  const world = checkFlags(f);
  const log = o.log ?? ((line: string) => void process.stderr.write(line + '\n'));
  const port = f.masterPort === 0 ? await freePort() : f.masterPort;
  const baseEnv = o.env ?? process.env;
  const threads = baseEnv.BIT_THREADS ?? String(threadsPerWorker(f.nprocPerNode));
  const command = o.command ?? process.argv.slice(1);
  const execArgv = o.execArgv ?? process.execArgv;
  const first = f.nodeRank * f.nprocPerNode;
  log(
    `bit launch: starting ${f.nprocPerNode} ${f.nprocPerNode === 1 ? 'worker' : 'workers'} (ranks ${first}..${first + f.nprocPerNode - 1} of ${world}` +
      `${f.nnodes > 1 ? `, node ${f.nodeRank} of ${f.nnodes}` : ''}), master ${f.masterAddr}:${port}, ${threads} libtorch ${threads === '1' ? 'thread' : 'threads'} each`,
  );

  const workers: Worker[] = [];
  let stopping: 'signal' | 'failure' | null = null;
  let firstFailure: Worker | null = null;
  let killTimer: NodeJS.Timeout | null = null;

  const signalAll = (sig: NodeJS.Signals) => {
    for (const w of workers) if (!w.exit) w.child.kill(sig);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping === null) stopping = 'signal';
    log(`bit launch: ${sig}: passing it on to the workers`);
    signalAll(sig === 'SIGHUP' ? 'SIGTERM' : sig);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);

  try {
    const done = new Promise<void>((resolve) => {
      let exited = 0;
      for (let local = 0; local < f.nprocPerNode; local++) {
        const rank = first + local;
        const env: NodeJS.ProcessEnv = {
          ...baseEnv,
          RANK: String(rank),
          LOCAL_RANK: String(local),
          WORLD_SIZE: String(world),
          LOCAL_WORLD_SIZE: String(f.nprocPerNode),
          GROUP_RANK: String(f.nodeRank),
          MASTER_ADDR: f.masterAddr,
          MASTER_PORT: String(port),
          BIT_THREADS: threads,
        };
        const quiet = rank !== 0;
        const child = spawn(process.execPath, [...execArgv, ...command], {
          env,
          detached: true,
          stdio: ['ignore', quiet ? 'pipe' : 'inherit', quiet ? 'pipe' : 'inherit', 'ipc'],
        });
        const w: Worker = { rank, localRank: local, child, exit: null };
        workers.push(w);
        for (const stream of [child.stdout, child.stderr]) {
          if (!stream) continue;
          const out = stream === child.stdout ? process.stdout : process.stderr;
          createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(`[rank ${rank}] ${line}\n`));
        }
        log(`bit launch: worker rank ${rank} is pid ${child.pid}`);
        const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
          if (w.exit) return;
          w.exit = { code, signal };
          const failed = code !== 0;
          if (failed && stopping !== 'signal' && firstFailure === null) {
            firstFailure = w;
            const others = workers.some((x) => !x.exit);
            log(`bit launch: worker rank ${rank} (pid ${child.pid}) ${describeExit(w)}${others ? '; stopping the other workers' : ''}`);
            stopping = 'failure';
            signalAll('SIGTERM');
            const grace = o.stopGraceMs ?? STOP_GRACE_MS;
            killTimer = setTimeout(() => {
              const left = workers.filter((x) => !x.exit);
              if (left.length > 0) log(`bit launch: ${left.map((x) => `rank ${x.rank}`).join(', ')} still running after ${grace / 1000} s: killing`);
              signalAll('SIGKILL');
            }, grace);
          }
          if (++exited === f.nprocPerNode) resolve();
        };
        child.on('exit', onExit);
        child.on('error', (err) => {
          // no process (it could not be started): counts as a failed worker
          if (child.pid !== undefined) return;
          log(`bit launch: worker rank ${rank} could not be started: ${err.message}`);
          onExit(127, null);
        });
      }
    });
    await done;
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    if (killTimer) clearTimeout(killTimer);
  }

  const bad = workers.filter((w) => w.exit!.code !== 0);
  if (bad.length === 0) return 0;
  if (stopping === 'signal') return bad.every((w) => w.exit!.code === 130) ? 130 : (bad[0].exit!.code ?? 1);
  const failure = firstFailure ?? bad[0];
  log(`bit launch: the run failed: ${bad.map((w) => `worker rank ${w.rank} ${describeExit(w)}`).join('; ')} (first: rank ${failure.rank})`);
  return failure.exit!.code && failure.exit!.code > 0 ? failure.exit!.code : 1;
}

/** In a worker started by our launcher: stop cleanly (as on SIGTERM) if the launcher goes away. */
function watchLauncher(): void {
  if (!process.channel) return;
  process.channel.unref();
  process.once('disconnect', () => {
    // output piped to the launcher has nowhere to go now: drop it rather than die of EPIPE
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
    process.stderr.write(`rank ${process.env.RANK}: the launcher went away; stopping after this step\n`);
    process.kill(process.pid, 'SIGTERM');
  });
}

/**
 * Runs `body` as a single process, as one worker of a data-parallel run
 * (when the environment says so), or launches this machine's workers (when
 * the flags ask for more than one process). Resolves to the exit code.
 */
export async function runDataParallel(
  flags: DistributedFlags,
  fingerprint: string,
  body: (collective: GlooCollective | null, place: RunPlace) => Promise<number>,
): Promise<number> {
  const env = workerEnvFrom(process.env);
  if (env) {
    watchLauncher();
    const col = await initDistributed({
      rank: env.rank,
      world: env.world,
      masterAddr: env.masterAddr,
      masterPort: env.masterPort,
      timeoutMs: flags.distTimeout * 1000,
      joinTimeoutMs: flags.joinTimeout * 1000,
      iface: flags.distIface,
      fingerprint,
    });
    let clean = false;
    try {
      const result = await body(col, { rank: env.rank, world: env.world, localWorld: env.localWorld });
      clean = true;
      return result;
    } catch (err) {
      col.abandon(err);
      throw err;
    } finally {
      col.close(clean);
    }
  }
  const world = checkFlags(flags);
  if (world > 1) return launchWorkers({ flags });
  return body(null, { rank: 0, world: 1, localWorld: 1 });
}
