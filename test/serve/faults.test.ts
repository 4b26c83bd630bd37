// `bit serve` while long forward passes run (BiT-Tiny at 320 px, batches of
// 16): health checks and new connections are answered meanwhile, a request
// past its deadline gets 504, a flood fills the queue (503 + Retry-After) and
// the service recovers, and SIGTERM finishes what is in flight and exits 0.
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { sampleImage } from '../../src/data/index.js';
import { waitFor } from '../distributed/run-bit.js';
import { removeDir, tempDir } from '../helpers.js';
import { kill, metric, startServe, tinyWeights, type Served } from './harness.js';

const dir = tempDir('serve-faults');
let server: Served | undefined;
let photo: Buffer = Buffer.alloc(0);

before(async () => {
  photo = await sharp(sampleImage('chelsea.png')).resize(96, 96).png().toBuffer();
  const weights = await tinyWeights(dir);
  server = await startServe([
    '--weights',
    weights,
    '--resolution',
    '320',
    '--threads',
    '1',
    '--max-batch',
    '16',
    '--queue',
    '48',
    '--shutdown-timeout-ms',
    '60000',
  ]);
});

after(async () => {
  await kill(server);
  removeDir(dir);
});

const classify = (query = ''): Promise<Response> => fetch(`${server!.url}/v1/classify${query}`, { method: 'POST', body: photo });

/** A multipart request of 16 images: one full batch. */
function fullBatch(): Promise<Response> {
  const form = new FormData();
  for (let k = 0; k < 16; k++) form.append('image', new Blob([photo]), `p${k}.png`);
  return fetch(`${server!.url}/v1/classify`, { method: 'POST', body: form });
}

async function metrics(): Promise<string> {
  return (await fetch(`${server!.url}/metrics`)).text();
}

/** Waits (at most 30 s) until a forward pass is running. */
async function untilBatchRuns(): Promise<void> {
  for (let k = 0; k < 1500; k++) {
    if (metric(await metrics(), 'bit_serve_batch_running') === 1) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no forward pass started within 30 s');
}

/** Tracks whether a promise has settled. */
function watch<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => (done = true));
  return { promise, settled: () => done };
}

test('while forward passes run, /healthz and new connections are answered and a request past its deadline gets 504', async () => {
  // Three full batches (the queue holds 48 images): the worker is busy until the third is answered.
  const batches = [watch(fullBatch()), watch(fullBatch()), watch(fullBatch())];
  await untilBatchRuns();
  // a new connection, not one of fetch's pooled ones
  const fresh = new Promise<string>((resolve, reject) => {
    const url = new URL(server!.url);
    const s = net.connect(Number(url.port), url.hostname, () => s.write('GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
  const [health, readyz, late] = await Promise.all([fetch(`${server!.url}/healthz`), fresh, classify('?timeout_ms=100')]);
  assert.ok(!batches[2].settled(), 'the forward passes finished before the checks: they did not run while the worker was busy');
  assert.equal(health.status, 200);
  assert.match(readyz, /^HTTP\/1\.1 200/);
  assert.equal(late.status, 504);
  assert.match(((await late.json()) as { error: string }).error, /no answer within the deadline of 100 ms \(timeout_ms\)/);
  for (const b of batches) {
    const res = await b.promise;
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { results: unknown[] }).results.length, 16);
  }
  assert.ok(metric(await metrics(), 'bit_serve_rejected_total{reason="deadline"}') >= 1);
});

test('a flood fills the queue: 503 with Retry-After, every admitted request answered, then the service recovers', async () => {
  const answers = await Promise.all(Array.from({ length: 100 }, () => classify()));
  const codes = answers.map((r) => r.status);
  const refused = answers.filter((r) => r.status === 503);
  assert.ok(refused.length > 0, `no 503 among ${codes.join(',')}`);
  assert.ok(
    codes.every((c) => c === 200 || c === 503),
    codes.join(','),
  );
  assert.ok(codes.filter((c) => c === 200).length >= 48, `only ${codes.filter((c) => c === 200).length} admitted`);
  for (const r of refused) {
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    assert.match(((await r.json()) as { error: string }).error, /the queue is full \(\d+ of 48 images waiting\)/);
  }
  await Promise.all(answers.filter((r) => r.status === 200).map((r) => r.json()));
  const again = await classify();
  assert.equal(again.status, 200);
  const m = await metrics();
  assert.equal(metric(m, 'bit_serve_queue_depth'), 0);
  assert.equal(metric(m, 'bit_serve_requests_total{route="/v1/classify",status="503"}'), refused.length, 'a 503 the test did not see');
});

/** A classify request on a raw socket that sends its headers and half its body now, the rest on finish() (the server closes the connection after answering, as it does while shutting down). */
function halfUpload(): { finish(): void; status: Promise<number> } {
  const url = new URL(server!.url);
  const socket = net.connect(Number(url.port), url.hostname);
  const half = photo.length >> 1;
  socket.write(`POST /v1/classify HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: image/png\r\nContent-Length: ${photo.length}\r\n\r\n`);
  socket.write(photo.subarray(0, half));
  let answer = '';
  const status = new Promise<number>((resolve, reject) => {
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1] ?? NaN)));
    socket.on('error', reject);
  });
  return { finish: () => socket.write(photo.subarray(half)), status };
}

/** Whether a new connection is refused, polled every 50 ms for at most 10 s (the listener closes as shutdown begins). */
async function untilRefused(): Promise<string> {
  const url = new URL(server!.url);
  let last = '';
  for (const t0 = Date.now(); Date.now() - t0 < 10_000; await new Promise((r) => setTimeout(r, 50))) {
    last = await new Promise<string>((resolve) => {
      const s = net.connect(Number(url.port), url.hostname, () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    if (last === 'ECONNREFUSED') break;
  }
  return last;
}

test('SIGTERM: no new connections, the requests in flight are answered (one still uploading too), exit 0', async () => {
  const uploading = halfUpload();
  const inFlight = [fullBatch(), classify(), classify(), classify()];
  await untilBatchRuns();
  const t0 = Date.now();
  server!.child.kill('SIGTERM');
  await waitFor('the shutdown message', () => /SIGTERM: no new connections/.test(server!.output()), 10_000, 20);
  assert.equal(await untilRefused(), 'ECONNREFUSED');
  // the request that was still uploading when shutdown began is finished, not refused as "shutting down"
  uploading.finish();
  const codes = await Promise.all([...inFlight.map(async (p) => (await p).status), uploading.status]);
  assert.deepEqual(codes, [200, 200, 200, 200, 200], server!.output());
  const code = await server!.exited;
  assert.equal(code, 0, server!.output());
  assert.ok(Date.now() - t0 < 60_000);
  assert.match(server!.output(), /SIGTERM: no new connections; finishing the requests in flight[\s\S]*stopped/);
});
