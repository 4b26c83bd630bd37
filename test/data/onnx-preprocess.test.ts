// `--with-preprocessing`: the resize written as ONNX nodes (src/data/onnx-preprocess.ts),
// run by ONNX Runtime, against sharp itself (bit predict's decodeImage) on real
// photos and random sizes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { decodeImage, onnxImagePreprocessing } from '../../src/data/index.js';
import { OnnxGraph } from '../../src/io/onnx.js';
import { sampleImage } from '../../src/data/index.js';

/** An ONNX Runtime session of the preprocessing stage alone: uint8 NHWC in, the model's float input out. */
async function stageSession(resolution: number) {
  const stage = onnxImagePreprocessing(resolution);
  const g = new OnnxGraph(17);
  g.input(stage.input.name);
  const out = stage.build(g, stage.input.name);
  const session = await ort.InferenceSession.create(
    g.encode({ inputs: [stage.input], outputs: [{ name: out, type: 'float32', shape: ['batch', 3, resolution, resolution] }] }),
  );
  return {
    /** The stage's pixels (HWC, back from x / 127.5 - 1) of an image. */
    async pixels(data: Uint8Array, width: number, height: number): Promise<Uint8Array> {
      const y = (await session.run({ image: new ort.Tensor('uint8', data, [1, height, width, 3]) }))[out].data as Float32Array;
      const n = resolution * resolution;
      const px = new Uint8Array(3 * n);
      for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) px[i * 3 + c] = Math.round((y[c * n + i] + 1) * 127.5);
      return px;
    },
    release: () => session.release(),
  };
}

function mismatches(a: Uint8Array, b: Uint8Array): { count: number; max: number } {
  let count = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d) count++;
    max = Math.max(max, d);
  }
  return { count, max };
}

test("the in-graph resize gives sharp's pixels on real photos at 32-224 px", async () => {
  for (const size of [32, 128, 224]) {
    const s = await stageSession(size);
    for (const name of ['astronaut.png', 'chelsea.png', 'coffee.png', 'dog.jpg'] as const) {
      const { data, info } = await sharp(sampleImage(name), { autoOrient: true }).raw().toBuffer({ resolveWithObject: true });
      // dog.jpg: decodeImage would shrink the JPEG on load; compare with sharp's resize of the decoded pixels
      const want = name.endsWith('.jpg')
        ? await sharp(data, { raw: info }).resize(size, size, { fit: 'fill', kernel: 'linear' }).raw().toBuffer()
        : (await decodeImage(sampleImage(name), size)).data;
      assert.deepEqual(
        mismatches(await s.pixels(new Uint8Array(data), info.width, info.height), new Uint8Array(want)),
        { count: 0, max: 0 },
        `${name} at ${size}`,
      );
    }
    await s.release();
  }
});

test('the in-graph resize equals sharp on random sizes: shrinking, enlarging, and within 1 level when one axis grows and the other shrinks', async () => {
  let seed = 99;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const size = 48;
  const s = await stageSession(size);
  let mixedOff = 0;
  for (let k = 0; k < 30; k++) {
    const w = 1 + Math.floor(rnd() * size * (k % 3 === 0 ? 1 : 9));
    const h = 1 + Math.floor(rnd() * size * (k % 5 === 0 ? 1 : 9));
    const data = new Uint8Array(w * h * 3).map(() => Math.floor(rnd() * 256));
    const want = await sharp(data, { raw: { width: w, height: h, channels: 3 } })
      .resize(size, size, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
    const m = mismatches(await s.pixels(data, w, h), new Uint8Array(want));
    const mixed = w < size !== h < size;
    if (!mixed) assert.deepEqual(m, { count: 0, max: 0 }, `${w}x${h} -> ${size}`);
    else {
      assert.ok(m.max <= 1, `${w}x${h} -> ${size}: max difference ${m.max}`);
      if (m.count) mixedOff++;
    }
  }
  assert.ok(mixedOff <= 5, `${mixedOff} mixed cases off by one`);
  await s.release();
});
