// `bit serve` against `bit predict` on real photographs, and its answers to bad
// input, limits, keys, slow and vanishing clients, and a short load.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { sampleImage, type SampleImage } from '../../src/data/index.js';
import { loadModel } from '../../src/models/index.js';
import * as T from '../../src/tensor/index.js';
import { assertClose, cliPath, removeDir, tempDir } from '../helpers.js';
import { kill, metric, startServe, TINY_CLASSES, tinyWeights, type Served } from './harness.js';

const PHOTOS: SampleImage[] = ['chelsea.png', 'coffee.png', 'astronaut.png', 'rocket.jpg', 'camera.png', 'logo.png'];
const KEY = 'k3y-for-the-serve-tests-0123456789';
const dir = tempDir('serve');
let weights = '';
let server: Served | undefined;
/** Per photo: class index -> probability, from `bit predict`. */
const expected = new Map<string, Map<number, number>>();

type Body = RequestInit['body'];

interface Prediction {
  image: string;
  top: { index: number; label: string; probability: number }[];
}

const auth = { authorization: `Bearer ${KEY}` };
const post = (route: string, body: Body, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${server!.url}${route}`, { method: 'POST', body, headers: { ...auth, ...headers } });

before(async () => {
  weights = await tinyWeights(dir);
  const keyFile = path.join(dir, 'key');
  writeFileSync(keyFile, `${KEY}\n`);
  const files = PHOTOS.map((p) => sampleImage(p));
  const r = spawnSync(process.execPath, [cliPath(), 'predict', '--weights', weights, '--top', '10', '--json', ...files], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  (JSON.parse(r.stdout) as Prediction[]).forEach((p, k) => expected.set(PHOTOS[k], new Map(p.top.map((t) => [t.index, t.probability]))));
  server = await startServe([
    '--weights',
    weights,
    '--threads',
    '1',
    '--api-key-file',
    keyFile,
    '--max-body-mb',
    '1',
    '--max-images',
    '4',
    '--header-timeout-ms',
    '1000',
    '--body-timeout-ms',
    '2000',
  ]);
});

after(async () => {
  await kill(server);
  removeDir(dir);
});

/** The answer for one photo is bit predict's: every class's probability (batched forward passes sum in another order: 1e-6). */
function assertLikePredict(p: Prediction, photo: string): void {
  const want = expected.get(photo)!;
  assert.equal(p.top.length, 10);
  for (let j = 1; j < p.top.length; j++) assert.ok(p.top[j].probability <= p.top[j - 1].probability, `${photo}: not sorted`);
  for (const t of p.top) assert.equal(t.label, TINY_CLASSES[t.index]);
  const got = new Map(p.top.map((t) => [t.index, t.probability]));
  assertClose(
    Array.from({ length: 10 }, (_, i) => got.get(i)!),
    Array.from({ length: 10 }, (_, i) => want.get(i)!),
    1e-6,
    `${photo} probabilities`,
  );
}

test('classify answers what bit predict answers for the same photos, as a raw body and as multipart', async () => {
  for (const photo of PHOTOS) {
    const res = await post('/v1/classify?top=10', readFileSync(sampleImage(photo)), { 'content-type': 'application/octet-stream' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { model: string; results: Prediction[] };
    assert.equal(body.model, 'BiT-Tiny');
    assert.equal(body.results.length, 1);
    assert.equal(body.results[0].image, 'body');
    assertLikePredict(body.results[0], photo);
  }
  for (const group of [PHOTOS.slice(0, 4), PHOTOS.slice(4)]) {
    const form = new FormData();
    for (const photo of group) form.append('image', new Blob([readFileSync(sampleImage(photo))]), photo);
    const res = await post('/v1/classify?top=10', form);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { results: Prediction[] };
    assert.deepEqual(
      body.results.map((r) => r.image),
      group,
    );
    body.results.forEach((r, k) => assertLikePredict(r, group[k]));
  }
  const top3 = (await (await post('/v1/classify?top=3', readFileSync(sampleImage('chelsea.png')))).json()) as { results: Prediction[] };
  assert.deepEqual(
    top3.results[0].top.map((t) => t.index),
    [...expected.get('chelsea.png')!.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([i]) => i)
      .slice(0, 3),
  );
});

test('embed returns the pre-logit features: the head applied to them gives the classify probabilities', async () => {
  const form = new FormData();
  for (const photo of ['chelsea.png', 'camera.png']) form.append('image', new Blob([readFileSync(sampleImage(photo as SampleImage))]), photo);
  const res = await post('/v1/embed', form);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { dim: number; results: { image: string; embedding: number[] }[] };
  const before = T.memory().numTensors;
  const { model } = await loadModel(weights);
  try {
    assert.equal(body.dim, model.featureDim);
    for (const r of body.results) {
      assert.equal(r.embedding.length, model.featureDim);
      const probs = T.tidy(() => T.noGrad(() => T.softmax(model.head(T.tensor(Float32Array.from(r.embedding), [1, model.featureDim])), 1).toArray()));
      const want = expected.get(r.image)!;
      assertClose(
        probs,
        Array.from({ length: 10 }, (_, i) => want.get(i)!),
        1e-6,
        `${r.image}: softmax(head(embedding))`,
      );
    }
  } finally {
    model.dispose();
  }
  assert.equal(T.memory().numTensors, before);
});

test('healthz, readyz, metadata and metrics; /v1/* needs the key, the others do not, and the key is never printed', async () => {
  const get = (route: string, headers: Record<string, string> = {}) => fetch(`${server!.url}${route}`, { headers });
  assert.deepEqual(await (await get('/healthz')).json(), { status: 'ok' });
  assert.deepEqual(await (await get('/readyz')).json(), { ready: true, model: 'BiT-Tiny' });
  const meta = (await (await get('/v1/metadata', auth)).json()) as Record<string, unknown>;
  assert.equal(meta.model, 'BiT-Tiny');
  assert.equal(meta.resolution, 32);
  assert.deepEqual(meta.classes, TINY_CLASSES);
  assert.equal((meta.limits as Record<string, number>).maxImages, 4);
  for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong' }, { authorization: `Bearer ${KEY}x` }, { authorization: KEY }]) {
    const res = await get('/v1/metadata', headers);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.match(((await res.json()) as { error: string }).error, /API key/);
  }
  const unauthorized = await fetch(`${server!.url}/v1/classify`, { method: 'POST', body: readFileSync(sampleImage('chelsea.png')) });
  assert.equal(unauthorized.status, 401);
  const metrics = await (await get('/metrics')).text();
  assert.ok(metric(metrics, 'bit_serve_requests_total{route="/v1/metadata",status="401"}') >= 4);
  assert.ok(metric(metrics, 'process_resident_memory_bytes') > 0);
  assert.equal(metric(metrics, 'bit_serve_queue_depth'), 0);
  assert.ok(!server!.output().includes(KEY), 'the key was printed');
});

test('bad bodies get 400 with a JSON error naming the problem', async () => {
  const cases: [string, Body | undefined, RegExp, Record<string, string>?][] = [
    ['/v1/classify', Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 251)), /cannot decode image body: .*unsupported image format/],
    ['/v1/classify', readFileSync(sampleImage('truncated.jpg')), /cannot decode image body: .*(premature end|corrupt)/i],
    ['/v1/embed', '{"image": "not an image"}', /cannot decode image body/, { 'content-type': 'application/json' }],
    ['/v1/classify', undefined, /the request has no body/],
    ['/v1/classify?top=0', readFileSync(sampleImage('chelsea.png')), /'top' must be an integer in 1\.\.10, got '0'/],
    ['/v1/classify?top=11', readFileSync(sampleImage('chelsea.png')), /'top' must be an integer in 1\.\.10, got '11'/],
    ['/v1/classify?timeout_ms=soon', readFileSync(sampleImage('chelsea.png')), /'timeout_ms' must be a positive integer/],
  ];
  for (const [route, body, message, headers] of cases) {
    const res = await post(route, body as Body, headers);
    assert.equal(res.status, 400, `${route}: ${message}`);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.match(((await res.json()) as { error: string }).error, message);
  }
  const fields = new FormData();
  fields.append('note', 'no file here');
  const noFiles = await post('/v1/classify', fields);
  assert.equal(noFiles.status, 400);
  assert.match(((await noFiles.json()) as { error: string }).error, /no file parts/);
  const mixed = new FormData();
  mixed.append('image', new Blob([readFileSync(sampleImage('chelsea.png'))]), 'chelsea.png');
  mixed.append('image', new Blob([Buffer.from('definitely not a picture')]), 'notes.txt');
  const bad = await post('/v1/classify', mixed);
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /cannot decode image notes\.txt/);
  const missing = await fetch(`${server!.url}/v2/classify`, { method: 'POST', headers: auth });
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as { error: string }).error, /no route POST \/v2\/classify/);
});

test('limits: body size, images per request and a decompression bomb get 413; the bomb is refused from its header', async () => {
  const big = Buffer.alloc(1.5 * 2 ** 20, 7);
  const tooBig = await post('/v1/classify', big, { 'content-type': 'image/jpeg' });
  assert.equal(tooBig.status, 413);
  assert.match(((await tooBig.json()) as { error: string }).error, /over the limit of 1048576 bytes \(--max-body-mb\)/);
  // Refused from the declared length, before the body has arrived: the server reads and discards the rest instead of
  // closing on unread data, whose reset could destroy the 413 before the client reads it ("fetch failed": 1 in 10 at
  // 1.5 MiB, 6 in 10 at 4 MiB, before it did).
  for (const mb of [1.5, 4, 8, 8, 8, 32]) {
    const res = await post('/v1/classify', Buffer.alloc(mb * 2 ** 20, 7), { 'content-type': 'image/jpeg' });
    assert.equal(res.status, 413, `${mb} MiB`);
    await res.arrayBuffer();
  }
  // ... and keeps the connection: the next request on it is answered.
  const head = `POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${4 * 2 ** 20}\r\n\r\n`;
  const next = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';
  const kept = await rawExchange([head, Buffer.alloc(4 * 2 ** 20, 7), next], 8000);
  assert.ok(kept.closedByServer, 'the server did not answer the request after the refused one');
  assert.match(kept.reply, /^HTTP\/1\.1 413[^]*\r\n\r\n\{"error":"the request body is over the limit[^]*HTTP\/1\.1 200/);
  const bigPart = new FormData();
  bigPart.append('image', new Blob([big]), 'big.jpg');
  const partTooBig = await post('/v1/classify', bigPart);
  assert.equal(partTooBig.status, 413);
  const five = new FormData();
  for (let k = 0; k < 5; k++) five.append('image', new Blob([readFileSync(sampleImage('chelsea.png'))]), `c${k}.png`);
  const tooMany = await post('/v1/classify', five);
  assert.equal(tooMany.status, 413);
  assert.match(((await tooMany.json()) as { error: string }).error, /more than 4 images in one request/);
  // 8000 x 8000 (64 megapixels, 192 MB decoded) in a PNG of a few tens of KB; the default limit is 40 megapixels.
  const bomb = await sharp({ create: { width: 8000, height: 8000, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .toColourspace('b-w')
    .png({ compressionLevel: 9 })
    .toBuffer();
  assert.ok(bomb.length < 200_000, `the bomb is ${bomb.length} bytes`);
  // Whole, and cut after its first 2 KB: a server that decoded it would fail on the cut one with a decoding error (400).
  for (const body of [bomb, bomb.subarray(0, 2048)]) {
    const res = await post('/v1/classify', body);
    assert.equal(res.status, 413);
    assert.match(
      ((await res.json()) as { error: string }).error,
      /8000x8000 \(64\.0 megapixels\), over the limit of 40\.0 megapixels: refused before decoding/,
    );
  }
});

/** Opens a raw connection, writes `chunks`, and resolves with what the server sent before it closed the connection (at most `boundMs`). */
function rawExchange(chunks: (string | Buffer)[], boundMs: number, destroyAfterWrite = false): Promise<{ reply: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const url = new URL(server!.url);
    const socket = net.connect(Number(url.port), url.hostname);
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ reply, closedByServer: false });
    }, boundMs);
    socket.on('data', (d: Buffer) => (reply += d.toString()));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ reply, closedByServer: !destroyAfterWrite });
    });
    socket.on('connect', () => {
      for (const c of chunks) socket.write(c);
      if (destroyAfterWrite) setImmediate(() => socket.destroy());
    });
  });
}

test('slow clients: headers or a body that do not arrive in time get 408 and the connection is closed', async () => {
  const head = `POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\n`;
  const noHeaders = await rawExchange([head], 8000);
  assert.ok(noHeaders.closedByServer, 'the server kept a connection whose headers never ended');
  assert.match(noHeaders.reply, /^HTTP\/1\.1 408/);
  const noBody = await rawExchange([`${head}Content-Type: image/png\r\nContent-Length: 5000\r\n\r\n`, Buffer.alloc(100)], 8000);
  assert.ok(noBody.closedByServer, 'the server kept a connection whose body never came');
  assert.match(noBody.reply, /^HTTP\/1\.1 408/);
});

test('clients that disconnect mid-upload leave nothing behind: the server answers the next request and its queue is empty', async () => {
  const photo = readFileSync(sampleImage('coffee.png'));
  const head = (length: number, type: string) =>
    `POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: ${type}\r\nContent-Length: ${length}\r\n\r\n`;
  const boundary = 'xyzzy';
  const multipart = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="coffee.png"\r\nContent-Type: image/png\r\n\r\n`),
    photo,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const cuts = [0.1, 0.5, 0.99];
  await Promise.all([
    ...cuts.map((f) => rawExchange([head(photo.length, 'image/png'), photo.subarray(0, Math.floor(photo.length * f))], 3000, true)),
    ...cuts.map((f) =>
      rawExchange([head(multipart.length, `multipart/form-data; boundary=${boundary}`), multipart.subarray(0, Math.floor(multipart.length * f))], 3000, true),
    ),
    // whole requests whose clients leave before the answer
    ...Array.from({ length: 6 }, () => rawExchange([head(photo.length, 'image/png'), photo], 3000, true)),
  ]);
  const res = await post('/v1/classify?top=10', photo);
  assert.equal(res.status, 200);
  assertLikePredict(((await res.json()) as { results: Prediction[] }).results[0], 'coffee.png');
  // Requests whose clients left may still be decoding; within a bound, nothing is queued or running.
  let metrics = '';
  for (let k = 0; k < 50; k++) {
    metrics = await (await fetch(`${server!.url}/metrics`)).text();
    if (metric(metrics, 'bit_serve_queue_depth') === 0 && metric(metrics, 'bit_serve_batch_running') === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(metric(metrics, 'bit_serve_queue_depth'), 0);
  assert.equal(metric(metrics, 'bit_serve_batch_running'), 0);
  assert.ok(metric(metrics, 'bit_serve_rejected_total{reason="client_gone"}') >= 1, 'no request was seen abandoned');
});

test('a short load (autocannon, 8 connections, 400 requests): no error responses, every answer right, images batched together', async () => {
  const bodies = await Promise.all(PHOTOS.slice(0, 4).map((p) => sharp(sampleImage(p)).resize(96, 96).png().toBuffer()));
  // What predict answers for these (smaller) files.
  const files = bodies.map((b, k) => {
    const f = path.join(dir, `small${k}.png`);
    writeFileSync(f, b);
    return f;
  });
  const r = spawnSync(process.execPath, [cliPath(), 'predict', '--weights', weights, '--top', '1', '--json', ...files], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const want = (JSON.parse(r.stdout) as Prediction[]).map((p) => p.top[0]);
  const before = await (await fetch(`${server!.url}/metrics`)).text();
  let checked = 0;
  const wrong: string[] = [];
  const result = await autocannon({
    url: `${server!.url}/v1/classify?top=1`,
    connections: 8,
    amount: 400,
    timeout: 30,
    requests: bodies.map((body, k) => ({
      method: 'POST' as const,
      body,
      headers: { ...auth, 'content-type': 'image/png' },
      onResponse: (status: number, text: string) => {
        checked++;
        const top = status === 200 ? (JSON.parse(text) as { results: Prediction[] }).results[0].top[0] : null;
        if (top === null || top.index !== want[k].index || Math.abs(top.probability - want[k].probability) > 1e-6)
          wrong.push(`${status} ${text.slice(0, 200)}`);
      },
    })),
  });
  assert.equal(result.errors, 0);
  assert.equal(result.timeouts, 0);
  assert.equal(result.non2xx, 0);
  assert.equal(checked, 400);
  assert.deepEqual(wrong, []);
  const after = await (await fetch(`${server!.url}/metrics`)).text();
  const batches = metric(after, 'bit_serve_batch_size_count') - metric(before, 'bit_serve_batch_size_count');
  const images = metric(after, 'bit_serve_batch_size_sum') - metric(before, 'bit_serve_batch_size_sum');
  assert.equal(images, 400);
  assert.ok(batches < images, `${images} images in ${batches} forward passes: no batching happened`);
});

test('--labels replaces the class names of the weights; a file with the wrong count stops the server (exit 2)', async () => {
  const names = TINY_CLASSES.map((n) => n.toUpperCase());
  const good = path.join(dir, 'labels.txt');
  writeFileSync(good, names.join('\n') + '\n');
  const labelled = await startServe(['--weights', weights, '--threads', '1', '--labels', good]);
  try {
    const meta = (await (await fetch(`${labelled.url}/v1/metadata`)).json()) as { classes: string[] };
    assert.deepEqual(meta.classes, names);
    const res = (await (await fetch(`${labelled.url}/v1/classify?top=10`, { method: 'POST', body: readFileSync(sampleImage('rocket.jpg')) })).json()) as {
      results: Prediction[];
    };
    for (const t of res.results[0].top) assert.equal(t.label, names[t.index]);
  } finally {
    await labelled.stop();
  }
  const bad = path.join(dir, 'three.txt');
  writeFileSync(bad, 'a\nb\nc\n');
  await assert.rejects(
    startServe(['--weights', weights, '--threads', '1', '--labels', bad]),
    /exited \(code 2\)[\s\S]*--labels has 3 class names but the model has 10 outputs/,
  );
});
