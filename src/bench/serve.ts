// `bit bench --serve`: `bit serve` under load (autocannon at several
// concurrencies for a fixed duration, on 127.0.0.1) beside the offline
// forward pass measured in the same run, and the two goals of issue 16:
// requests/s at the highest concurrency >= 0.8x the offline images/s at batch
// 8 (batching pays for the HTTP layer), and p99 latency at concurrency 1 <=
// 1.5x the batch-1 forward time.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { sampleImage } from '../data/index.js';
import { getModel, metaArray, saveWeights, type ImageClassifier } from '../models/index.js';
import { markdownTable, textTable, type Table } from '../report/index.js';
import * as T from '../tensor/index.js';
import { machineInfo, type MachineInfo } from './compare.js';
import { imagesPerSecond, median } from './stats.js';
import { timeForward } from './workload.js';

/** The goals of issue 16 (a benchmark, not a test). */
export const SERVE_GOALS = {
  /** requests/s at the highest concurrency over offline forward images/s at batch 8. */
  throughputRatio: 0.8,
  /** p99 latency at concurrency 1 over the batch-1 forward time. */
  p99Ratio: 1.5,
} as const;

export interface ServeBenchOptions {
  readonly model: string;
  readonly resolution: number;
  readonly threads: number;
  /** Concurrent connections of each load run. */
  readonly connections: readonly number[];
  /** Seconds of each measured load run (after an unmeasured warm-up of `warmupSeconds`). */
  readonly seconds: number;
  readonly warmupSeconds: number;
  /** Repetitions of the offline forward passes (after `warmup` untimed ones). */
  readonly reps: number;
  readonly warmup: number;
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  readonly log: (line: string) => void;
}

export interface ServeLoadRow {
  readonly connections: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  /** Responses other than 2xx, and connection errors or timeouts: all should be 0. */
  readonly failures: number;
  /** Images per forward pass, mean over the run (from the server's metrics). */
  readonly meanBatch: number;
  /** The offline forward around this run (mean of the measurements just before and just after it): images/s at batch 8, ms at batch 1. */
  readonly offlineBatch8: number;
  readonly offlineBatch1Ms: number;
}

export interface ServeBenchResult {
  /** What was measured (--json leaves out `log`, a function). */
  readonly options: ServeBenchOptions;
  readonly machine: MachineInfo;
  /** What each request carried. */
  readonly request: { readonly image: string; readonly bytes: number };
  readonly rows: readonly ServeLoadRow[];
  readonly throughputRatio: number;
  readonly p99Ratio: number;
}

function cliPath(): string {
  return fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../cli/main.ts' : '../cli/main.js', import.meta.url));
}

/** Offline forward images/s at batch 8 and the batch-1 forward time (ms): this process, the served weights, the same threads. */
function offlineForward(model: ImageClassifier, o: ServeBenchOptions): { batch8: number; batch1Ms: number } {
  return T.tidy(() => {
    const x8 = T.rand([8, 3, o.resolution, o.resolution]).mul(2).sub(1);
    const x1 = x8.narrow(0, 0, 1).contiguous();
    const batch8 = imagesPerSecond(8, timeForward(model, x8, { warmup: o.warmup, reps: o.reps }).seconds);
    const batch1Ms = 1000 * median(timeForward(model, x1, { warmup: o.warmup, reps: 2 * o.reps }).seconds);
    return { batch8, batch1Ms };
  });
}

/** `bit serve` in a child process (the real CLI). */
export interface ServeProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then waits for the exit; an error unless it exits 0. */
  stop(): Promise<void>;
}

/** Starts `bit serve ARGS` and waits until it says it is ready (at most `timeoutMs`; then it is killed). */
export function spawnServe(args: readonly string[], timeoutMs = 120_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, [cliPath(), 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const onData = (d: Buffer): void => void (out += d.toString());
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  // 'close', not 'exit': the output is read to its end first
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const code = await exited;
    if (code !== 0) throw new Error(`bit serve exited with code ${code}:\n${out}`);
  };
  return new Promise<ServeProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bit serve was not ready within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    child.stdout.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m !== null && /ready: /.test(out)) {
        clearTimeout(timer);
        resolve({ url: m[1], child, output: () => out, exited, stop });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`bit serve exited (code ${code}) before it was ready:\n${out}`));
    });
  });
}

async function batchStats(url: string): Promise<{ images: number; batches: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { images: value('bit_serve_batch_size_sum'), batches: value('bit_serve_batch_size_count') };
}

/**
 * Runs the whole measurement. Each load run is compared with the offline
 * forward measured just before and just after it (the server idle
 * meanwhile), so that on a shared machine each ratio compares times taken
 * seconds apart, not the start of the run with its end.
 */
export async function measureServe(o: ServeBenchOptions): Promise<ServeBenchResult> {
  const loadStart = os.loadavg()[0];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bit-bench-serve-'));
  T.manualSeed(0);
  const model = getModel(o.model).build({ zeroHead: false });
  try {
    const weights = path.join(dir, 'weights.npz');
    await saveWeights(model, weights, [metaArray({ model: o.model, headSize: model.headSize, crop: o.resolution })]);
    // What a client that resizes before sending posts: the photo as a JPEG at the model's resolution.
    const body = await sharp(sampleImage('chelsea.png')).resize(o.resolution, o.resolution, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
    const server = await spawnServe([
      '--weights',
      weights,
      '--port',
      '0',
      '--threads',
      String(o.threads),
      '--max-batch',
      String(o.maxBatch),
      '--max-wait-ms',
      String(o.maxWaitMs),
    ]);
    const rows: ServeLoadRow[] = [];
    try {
      // The offline forward before each load run and after the last: each run's reference is the mean of the
      // measurements on either side of it (the machine's load drifts; the server is idle meanwhile).
      const measureOffline = () => {
        const r = offlineForward(model, o);
        o.log(`offline forward: ${r.batch8.toFixed(2)} images/s at batch 8, ${r.batch1Ms.toFixed(1)} ms at batch 1`);
        return r;
      };
      let offline = measureOffline();
      for (const connections of o.connections) {
        const load = (seconds: number) =>
          autocannon({
            url: `${server.url}/v1/classify`,
            method: 'POST',
            body,
            headers: { 'content-type': 'image/jpeg' },
            connections,
            duration: seconds,
            timeout: 60,
          });
        if (o.warmupSeconds > 0) await load(o.warmupSeconds);
        const before = await batchStats(server.url);
        const r = await load(o.seconds);
        const after = await batchStats(server.url);
        const next = measureOffline();
        const row: ServeLoadRow = {
          connections,
          requestsPerSecond: r['2xx'] / o.seconds,
          p50Ms: r.latency.p50,
          p99Ms: r.latency.p99,
          requests: r.requests.total,
          failures: r.non2xx + r.errors + r.timeouts,
          meanBatch: (after.images - before.images) / (after.batches - before.batches),
          offlineBatch8: (offline.batch8 + next.batch8) / 2,
          offlineBatch1Ms: (offline.batch1Ms + next.batch1Ms) / 2,
        };
        offline = next;
        rows.push(row);
        o.log(
          `serve, ${connections} connection${connections === 1 ? '' : 's'}: ${row.requestsPerSecond.toFixed(2)} requests/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ${row.meanBatch.toFixed(1)} images per forward pass, ${row.failures} failures`,
        );
      }
    } finally {
      await server.stop();
    }
    const most = rows.reduce((a, b) => (b.connections > a.connections ? b : a));
    const one = rows.reduce((a, b) => (b.connections < a.connections ? b : a));
    return {
      options: o,
      machine: machineInfo(null, loadStart),
      request: { image: `skimage chelsea.png as a ${o.resolution}x${o.resolution} JPEG`, bytes: body.length },
      rows,
      throughputRatio: most.requestsPerSecond / most.offlineBatch8,
      p99Ratio: one.p99Ms / one.offlineBatch1Ms,
    };
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The serve table, the offline references and the two goals. */
export function formatServe(r: ServeBenchResult, format: 'text' | 'markdown'): string {
  const o = r.options;
  const table: Table = {
    columns: [
      { header: 'connections', align: 'right' },
      { header: 'requests/s', align: 'right' },
      { header: 'p50 ms', align: 'right' },
      { header: 'p99 ms', align: 'right' },
      { header: 'images per forward pass', align: 'right' },
      { header: 'failures', align: 'right' },
      { header: 'offline forward around it: images/s at batch 8', align: 'right' },
      { header: 'ms at batch 1', align: 'right' },
    ],
    rows: r.rows.map((row) => [
      String(row.connections),
      row.requestsPerSecond.toFixed(1),
      row.p50Ms.toFixed(0),
      row.p99Ms.toFixed(0),
      row.meanBatch.toFixed(1),
      `${row.failures} of ${row.requests}`,
      row.offlineBatch8.toFixed(1),
      row.offlineBatch1Ms.toFixed(1),
    ]),
  };
  const most = Math.max(...r.rows.map((row) => row.connections));
  const m = r.machine;
  const verdict = (ok: boolean): string => (ok ? 'met' : 'missed');
  return [
    `bit serve: ${o.model} at ${o.resolution} px, ${o.threads} libtorch threads, --max-batch ${o.maxBatch} --max-wait-ms ${o.maxWaitMs}; each request ${r.request.image} (${r.request.bytes} bytes); autocannon on 127.0.0.1, ${o.seconds} s per row after ${o.warmupSeconds} s of warm-up.`,
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.date.slice(0, 16).replace('T', ' ')} UTC; 1-min load average ${m.loadStart.toFixed(1)} at the start, ${m.loadEnd.toFixed(1)} at the end. The client runs on the same cores as the server.`,
    '',
    format === 'markdown' ? markdownTable(table) : textTable(table),
    '',
    `throughput at ${most} connections / the offline images/s at batch 8 around it: ${r.throughputRatio.toFixed(2)}x (goal >= ${SERVE_GOALS.throughputRatio}x: ${verdict(r.throughputRatio >= SERVE_GOALS.throughputRatio)})`,
    `p99 latency at 1 connection / the batch-1 forward time around it: ${r.p99Ratio.toFixed(2)}x (goal <= ${SERVE_GOALS.p99Ratio}x: ${verdict(r.p99Ratio <= SERVE_GOALS.p99Ratio)})`,
    '',
  ].join('\n');
}
