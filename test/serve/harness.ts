// Helpers of the `bit serve` tests: the real CLI in a child process on
// 127.0.0.1 (any free port), weights to serve, metrics and RSS read back.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { buildModel, metaArray, saveWeights } from '../../src/models/index.js';
import * as T from '../../src/tensor/index.js';
import { spawnServe, type ServeProcess } from '../../src/bench/serve.js';

export const TINY_CLASSES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

/** BiT-Tiny with a seeded, non-zero head and its metadata (class names, 32 px), saved in `dir`. */
export async function tinyWeights(dir: string, crop = 32): Promise<string> {
  T.manualSeed(3);
  const model = buildModel('BiT-Tiny', { headSize: 10, zeroHead: false });
  const file = path.join(dir, `tiny-${crop}.npz`);
  try {
    await saveWeights(model, file, [metaArray({ model: 'BiT-Tiny', headSize: 10, classNames: TINY_CLASSES, crop })]);
  } finally {
    model.dispose();
  }
  return file;
}

export type Served = ServeProcess;

/** Starts `bit serve ARGS --port 0` (the real CLI, 127.0.0.1) and waits until it is ready. */
export function startServe(args: readonly string[], timeoutMs = 60_000): Promise<Served> {
  return spawnServe(['--port', '0', ...args], timeoutMs);
}

/** Stops a server that may still run (test clean-up). */
export async function kill(s: Served | undefined): Promise<void> {
  if (s === undefined || s.child.exitCode !== null || s.child.signalCode !== null) return;
  s.child.kill('SIGKILL');
  await s.exited;
}

/** The resident set size of a process, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** The value of one sample of a Prometheus text exposition (`name{labels}`, labels as written by prom-client), or NaN. */
export function metric(text: string, sample: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(sample + ' ')) return Number(line.slice(sample.length + 1));
  }
  return NaN;
}
