// Runs the compiled `bit` command line as a child process (what users run),
// with helpers for the data-parallel tests: free ports, waiting for output
// or files, and comparing the weights of two .npz files.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { cliPath } from '../helpers.js';
import { NpzReader } from '../../src/io/npz.js';

/** The compiled CLI of the same output folder as this compiled test. */
export const BIT_MAIN = cliPath();

/** A small, fast pre-training command: BiT-Tiny at 32 px on 120 MNIST images. */
export function tinyPretrain(out: string, extra: readonly string[] = []): string[] {
  return [
    'pretrain',
    '--model',
    'BiT-Tiny',
    '--data',
    'mnist?fraction=0.002',
    '--out',
    out,
    '--resolution',
    '32',
    '--precrop',
    '36',
    '--eval-split',
    'none',
    ...extra,
  ];
}

/** A small, fast fine-tuning command: BiT-Tiny on `data` (digits) at 16 px, batch 16, one libtorch and one loader thread. */
export function tinyFinetune(out: string, extra: readonly string[] = [], data = 'digits'): string[] {
  return [
    'finetune',
    '--model',
    'BiT-Tiny',
    '--data',
    data,
    '--out',
    out,
    '--resolution',
    '16',
    '--precrop',
    '18',
    '--batch',
    '16',
    '--threads',
    '1',
    '--workers',
    '1',
    ...extra,
  ];
}

/** Runs `bit ARGS` to the end (synchronously); SIGKILL after `timeout` ms, since a process blocked in a synchronous call never runs its SIGTERM handler. */
export function runBitSync(args: readonly string[], timeout = 300_000) {
  return spawnSync(process.execPath, [BIT_MAIN, ...args], { encoding: 'utf8', timeout, killSignal: 'SIGKILL', env: { ...process.env, BIT_NO_TTY: '1' } });
}

export interface BitRun {
  child: ChildProcess;
  /** Everything written so far (stdout and stderr). */
  output(): string;
  /** Resolves when the process exits. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string; ms: number }>;
}

/** Starts `bit ARGS`; c10d's glog lines are kept (they are part of what users see). */
export function startBit(args: readonly string[], env: NodeJS.ProcessEnv = {}): BitRun {
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIT_MAIN, ...args], {
    env: { ...process.env, BIT_NO_TTY: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string; ms: number }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, output: text, ms: Date.now() - t0 })),
  );
  return { child, output: () => text, done };
}

export function runBit(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  return startBit(args, env).done;
}

/** Polls `test` every `intervalMs` until it holds; fails after `timeoutMs`. */
export async function waitFor(what: string, test: () => boolean, timeoutMs: number, intervalMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function waitForFile(file: string, timeoutMs: number): Promise<void> {
  await waitFor(file, () => existsSync(file), timeoutMs);
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

/** The largest |a - b| over the model arrays of two .npz files whose keys pass `keep`, and where it is. */
export async function maxWeightDiff(
  a: string,
  b: string,
  keep: (key: string) => boolean = () => true,
): Promise<{ diff: number; key: string; compared: number }> {
  const ra = await NpzReader.open(a);
  const rb = await NpzReader.open(b);
  try {
    let diff = 0;
    let key = '';
    let compared = 0;
    for (const k of ra.keys()) {
      if (!k.startsWith('resnet/') || !keep(k)) continue;
      const x = (await ra.read(k)).data as Float32Array;
      const y = (await rb.read(k)).data as Float32Array;
      if (x.length !== y.length) throw new Error(`${k}: ${x.length} vs ${y.length} values`);
      compared++;
      for (let i = 0; i < x.length; i++) {
        const d = Math.abs(x[i] - y[i]);
        if (!(d <= diff)) {
          diff = d;
          key = k;
        }
      }
    }
    return { diff, key, compared };
  } finally {
    await ra.close();
    await rb.close();
  }
}
