// The browser's copy of bit predict's preprocessing (src/data/browser-preprocess.ts,
// shipped by `bit export --format web`) against sharp / libvips itself: bit for
// bit on random images and sizes, on real photos, and with every EXIF orientation.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { browserPreprocess, decodeImage, exifOrientation, resizeLinear, scaleToModelInput, type Pixels } from '../../src/data/index.js';
import * as T from '../../src/tensor/index.js';
import { toModelInput } from '../../src/train/batch.js';
import { removeDir, tempDir } from '../helpers.js';
import { sampleImage } from '../../src/data/index.js';

const dir = tempDir('browser-pre');
after(() => removeDir(dir));

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Decoded pixels as a browser shows them: EXIF orientation applied, nothing else. */
async function shown(file: string): Promise<Pixels> {
  const { data, info } = await sharp(file, { autoOrient: true }).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

test('resizeLinear equals sharp resize(w, h, {fit: fill, kernel: linear}) bit for bit on 150 random images and sizes', async () => {
  let seed = 2024;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  let shrinks = 0;
  let enlargements = 0;
  for (let k = 0; k < 150; k++) {
    const big = k % 10 === 0;
    const w = 1 + Math.floor(rnd() * (big ? 1500 : 300));
    const h = 1 + Math.floor(rnd() * (big ? 1500 : 300));
    const tw = 1 + Math.floor(rnd() * (k % 7 === 0 ? 500 : 160));
    const th = 1 + Math.floor(rnd() * (k % 5 === 0 ? 500 : 160));
    const data = new Uint8Array(w * h * 3);
    const fx = rnd() * 0.5;
    const fy = rnd() * 0.5;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let b = 0; b < 3; b++)
          data[(y * w + x) * 3 + b] = Math.max(0, Math.min(255, Math.round(128 + 100 * Math.sin(fx * x + fy * y + b) + 60 * (rnd() - 0.5))));
      }
    }
    const ref = await sharp(data, { raw: { width: w, height: h, channels: 3 } })
      .resize(tw, th, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const got = resizeLinear({ data, width: w, height: h, channels: 3 }, tw, th);
    assert.deepEqual([got.width, got.height], [ref.info.width, ref.info.height]);
    assert.equal(maxDiff(got.data, ref.data), 0, `${w}x${h} -> ${tw}x${th}`);
    if (w > 4 * tw || h > 4 * th) shrinks++;
    if (w < tw || h < th) enlargements++;
  }
  assert.ok(shrinks > 20 && enlargements > 20, `${shrinks} large reductions, ${enlargements} enlargements`);
});

test("vertical kernel phases follow libvips's 16-row regions (sizes where accumulating over the whole image moves a phase)", async () => {
  let seed = 9;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (const [w, h, size] of [
    [426, 643, 64],
    [1666, 1179, 224],
  ]) {
    const data = new Uint8Array(w * h * 3).map(() => Math.floor(rnd() * 256));
    const ref = await sharp(data, { raw: { width: w, height: h, channels: 3 } })
      .resize(size, size, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
    assert.equal(maxDiff(resizeLinear({ data, width: w, height: h, channels: 3 }, size, size).data, ref), 0, `${w}x${h} -> ${size}`);
  }
});

test('on real photos, preprocess equals decodeImage (bit predict) bit for bit; large JPEGs differ where sharp shrinks on load', async () => {
  for (const name of ['astronaut.png', 'chelsea.png', 'coffee.png'] as const) {
    const p = await shown(sampleImage(name));
    for (const size of [32, 128, 224, 600]) {
      const ref = await decodeImage(sampleImage(name), size);
      assert.equal(maxDiff(browserPreprocess(p, size, 1).data, ref.data), 0, `${name} at ${size}`);
    }
  }
  // dog.jpg (768x576): no shrink-on-load below a factor of 3, so the same pixels;
  // at 128 px libjpeg decodes it at half size (sharp's fastShrinkOnLoad), which a browser cannot
  const dog = await shown(sampleImage('dog.jpg'));
  for (const size of [224, 288])
    assert.equal(maxDiff(browserPreprocess(dog, size, 1).data, (await decodeImage(sampleImage('dog.jpg'), size)).data), 0, `dog.jpg at ${size}`);
  const d128 = maxDiff(browserPreprocess(dog, 128, 1).data, (await decodeImage(sampleImage('dog.jpg'), 128)).data);
  assert.ok(d128 > 0 && d128 <= 12, `dog.jpg at 128: max difference ${d128} (measured 11)`);
});

test('every EXIF orientation, PNG and JPEG: found in the file, undone before resizing and redone after, as sharp does', async () => {
  const base = await sharp(sampleImage('chelsea.png')).resize(90, 60).raw().toBuffer({ resolveWithObject: true });
  for (let o = 1; o <= 8; o++) {
    for (const format of ['png', 'jpeg'] as const) {
      const file = path.join(dir, `o${o}.${format}`);
      const img = sharp(base.data, { raw: { width: 90, height: 60, channels: 3 } });
      await (format === 'png' ? img.png() : img.jpeg()).withMetadata({ orientation: o }).toFile(file);
      assert.equal(exifOrientation(readFileSync(file)), o, `${file}`);
      const p = await shown(file);
      for (const size of [40, 75])
        assert.equal(maxDiff(browserPreprocess(p, size, o).data, (await decodeImage(file, size)).data), 0, `orientation ${o}, ${format}, ${size}`);
    }
  }
  assert.equal(exifOrientation(new Uint8Array([1, 2, 3])), 1);
});

test('scaleToModelInput gives the float32 values of toModelInput (x / 127.5 - 1), NCHW', () => {
  const data = Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => (i * 37) % 256);
  const got = scaleToModelInput({ data, width: 4, height: 3, channels: 3 });
  const want = T.tidy(() => toModelInput(T.tensor(data, [1, 3, 4, 3], 'uint8')).data() as Float32Array);
  assert.deepEqual(Array.from(got), Array.from(want));
});
