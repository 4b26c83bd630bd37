// 10,000 requests to `bit serve`: resident memory and the live-tensor count
// stay flat (nothing is kept per request), and every request is answered.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { sampleImage } from '../../src/data/index.js';
import { removeDir, tempDir } from '../helpers.js';
import { kill, metric, rssBytes, startServe, tinyWeights, type Served } from './harness.js';

const dir = tempDir('serve-load');
let server: Served | undefined;

before(async () => {
  server = await startServe(['--weights', await tinyWeights(dir), '--threads', '1']);
});

after(async () => {
  await kill(server);
  removeDir(dir);
});

async function load(body: Buffer, amount: number): Promise<void> {
  const r = await autocannon({
    url: `${server!.url}/v1/classify`,
    method: 'POST',
    body,
    headers: { 'content-type': 'image/png' },
    connections: 16,
    amount,
    timeout: 30,
  });
  assert.equal(r.errors, 0);
  assert.equal(r.timeouts, 0);
  assert.equal(r.non2xx, 0);
  assert.equal(r['2xx'], amount);
}

async function state(): Promise<{ rss: number; tensors: number; answered: number }> {
  const m = await (await fetch(`${server!.url}/metrics`)).text();
  return {
    rss: rssBytes(server!.child.pid!),
    tensors: metric(m, 'bit_serve_live_tensors'),
    answered: metric(m, 'bit_serve_requests_total{route="/v1/classify",status="200"}'),
  };
}

test('10,000 requests: flat resident memory and live-tensor count', async () => {
  const body = await sharp(sampleImage('astronaut.png')).resize(48, 48).png().toBuffer();
  // Warm-up: allocator caches, oneDNN kernels, V8's heap and libuv's threads reach their working size
  // (measured: RSS rises by ~25 MiB over the first 3,000 requests, then stays within ~4 MiB).
  await load(body, 2500);
  const warm = await state();
  const rss: number[] = [];
  for (let k = 0; k < 4; k++) {
    await load(body, 2500);
    rss.push((await state()).rss);
  }
  const end = await state();
  assert.equal(end.answered - warm.answered, 10_000);
  assert.equal(end.tensors, warm.tensors, 'live tensors changed');
  // A leak of the decoded pixels alone (32 x 32 x 3 bytes) per request would add 30 MB; of the body, 60 MB.
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const grew = (Math.max(...rss) - warm.rss) / 2 ** 20;
  assert.ok(grew < 16, `RSS grew by ${grew.toFixed(1)} MiB over 10,000 requests: ${mib(warm.rss)} then ${rss.map(mib).join(', ')} MiB`);
});
