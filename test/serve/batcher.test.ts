// The dynamic batcher on its own: which images go into which forward pass,
// the queue bound, requests that give up, and draining. The forward pass is
// the test's: it records each batch and finishes when the test says so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Batcher } from '../../src/serve/batcher.js';
import type { BatchResult } from '../../src/serve/engine.js';

const BYTES = 3; // a 1x1 RGB image

interface Run {
  readonly images: number[];
  readonly want: { probabilities: boolean; features: boolean };
  finish(): void;
}

/** A batcher whose forward pass answers image value v with the row [v, 10v] and waits for finish(). */
function harness(maxBatch: number, maxWaitMs: number, queueLimit: number) {
  const runs: Run[] = [];
  const batcher = new Batcher({
    maxBatch,
    maxWaitMs,
    queueLimit,
    imageBytes: BYTES,
    run: (pixels, n, want) =>
      new Promise<BatchResult>((resolve) => {
        const images = Array.from({ length: n }, (_, k) => pixels[k * BYTES]);
        const rows = Float32Array.from(images.flatMap((v) => [v, 10 * v]));
        runs.push({
          images,
          want,
          finish: () => resolve({ probabilities: want.probabilities ? rows : null, features: want.features ? rows.map((x) => -x) : null, seconds: 0.01 }),
        });
      }),
  });
  return { batcher, runs };
}

const image = (v: number): Uint8Array => new Uint8Array([v, v, v]);
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('images that arrive while a pass runs are coalesced into the next one, at most maxBatch, each answered with its own row', async () => {
  const { batcher, runs } = harness(4, 60_000, 100);
  const first = batcher.reserve(1)!.submit([image(1)], 'classify');
  await tick();
  assert.deepEqual(
    runs.map((r) => r.images),
    [[1]],
    'a lone image leaves at once (nothing else is on its way)',
  );
  const tickets = [2, 3, 4, 5, 6].map(() => batcher.reserve(1)!);
  const rest = tickets.map((t, k) => t.submit([image(k + 2)], k === 4 ? 'embed' : 'classify')[0]);
  await tick();
  assert.equal(runs.length, 1, 'a second pass started while the first ran');
  runs[0].finish();
  assert.deepEqual(await first[0], Float32Array.from([1, 10]));
  await tick();
  assert.deepEqual(runs[1].images, [2, 3, 4, 5]);
  assert.deepEqual(runs[1].want, { probabilities: true, features: false });
  runs[1].finish();
  await tick();
  assert.deepEqual(runs[2].images, [6]);
  assert.deepEqual(runs[2].want, { probabilities: false, features: true });
  runs[2].finish();
  const rows = await Promise.all(rest);
  assert.deepEqual(
    rows.map((r) => Array.from(r)),
    [
      [2, 20],
      [3, 30],
      [4, 40],
      [5, 50],
      [-6, -60],
    ],
  );
  assert.equal(batcher.depth, 0);
});

test('an image waits for others still being decoded, but no longer than maxWaitMs', async () => {
  const { batcher, runs } = harness(8, 300, 100);
  const a = batcher.reserve(1)!;
  const b = batcher.reserve(1)!; // admitted, still "decoding"
  const out = a.submit([image(7)], 'classify')[0];
  await tick();
  assert.equal(runs.length, 0, 'left without waiting for the image being decoded');
  for (let k = 0; k < 500 && runs.length === 0; k++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(
    runs.map((r) => r.images),
    [[7]],
  );
  runs[0].finish();
  assert.deepEqual(Array.from(await out), [7, 70]);
  b.abandon();
  assert.equal(batcher.depth, 0);
});

test('the queue bound counts admitted images; requests that give up free their room and are never run', async () => {
  const { batcher, runs } = harness(2, 60_000, 3);
  const running = batcher.reserve(1)!.submit([image(1)], 'classify')[0];
  await tick();
  assert.equal(runs.length, 1);
  const two = batcher.reserve(2)!;
  assert.equal(batcher.reserve(2), null, 'admitted past the bound');
  const one = batcher.reserve(1)!;
  assert.equal(batcher.depth, 3);
  assert.ok(batcher.retryAfterSeconds() >= 1);
  const gone = two.submit([image(2), image(3)], 'classify');
  const kept = one.submit([image(4)], 'classify')[0];
  two.abandon();
  for (const p of gone) await assert.rejects(p, /abandoned/);
  assert.equal(batcher.depth, 1);
  assert.throws(() => two.submit([image(5)], 'classify'), /abandoned/);
  runs[0].finish();
  await running;
  await tick();
  assert.deepEqual(runs[1].images, [4], 'an abandoned image was run');
  runs[1].finish();
  assert.deepEqual(Array.from(await kept), [4, 40]);
});

test('drain refuses new work (not the requests already in flight), sends what is queued without waiting, and resolves once all is answered', async () => {
  const { batcher, runs } = harness(4, 60_000, 10);
  const a = batcher.reserve(1)!;
  const pending = batcher.reserve(1)!; // never submitted: drain waits for it to be given up or submitted
  const out = a.submit([image(9)], 'classify')[0];
  await tick();
  assert.equal(runs.length, 0);
  let drained = false;
  const done = batcher.drain().then(() => (drained = true));
  await tick();
  assert.deepEqual(
    runs.map((r) => r.images),
    [[9]],
  );
  assert.equal(batcher.reserve(1), null, 'admitted while draining');
  // a request that arrived before draining began (still uploading then) is finished, not refused
  const late = batcher.reserve(1, true);
  assert.ok(late !== null, 'a request in flight refused while draining');
  late.abandon();
  runs[0].finish();
  await out;
  await tick();
  assert.equal(drained, false, 'drained with an admitted request still decoding');
  pending.abandon();
  await done;
});
