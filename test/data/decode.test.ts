// decodeImage: a file and its bytes in memory decode to the same pixels, and
// a pixel limit refuses an image from its header.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import sharp from 'sharp';
import { DataError, PixelLimitError, SAMPLE_IMAGES, decodeImage, sampleImage } from '../../src/data/index.js';

test('decodeImage gives the same pixels for a file and for its bytes (real photos: RGB, grey, alpha, JPEG)', async () => {
  for (const name of SAMPLE_IMAGES.filter((n) => n !== 'truncated.jpg')) {
    const file = sampleImage(name);
    for (const size of [null, 48]) {
      const a = await decodeImage(file, size);
      const b = await decodeImage(readFileSync(file), size, { name });
      assert.equal(a.channels, 3);
      assert.deepEqual([b.height, b.width, b.channels], [a.height, a.width, a.channels]);
      assert.ok(Buffer.from(a.data).equals(Buffer.from(b.data)), `${name} at ${size}: pixels differ`);
    }
  }
});

test('decodeImage errors name the image; a pixel limit refuses from the header, before decoding', async () => {
  await assert.rejects(decodeImage(readFileSync(sampleImage('truncated.jpg')), 32, { name: 'upload.jpg' }), (err: unknown) => {
    assert.ok(err instanceof DataError && !(err instanceof PixelLimitError));
    assert.match((err as Error).message, /^cannot decode image upload\.jpg: /);
    return true;
  });
  const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 9, g: 9, b: 9 } } })
    .png()
    .toBuffer();
  // Only the first 100 bytes: the header is there, the pixels are not.
  await assert.rejects(decodeImage(png.subarray(0, 100), 32, { name: 'big.png', maxPixels: 59_999 }), (err: unknown) => {
    assert.ok(err instanceof PixelLimitError);
    assert.match((err as Error).message, /image big\.png is 300x200 \(0\.1 megapixels\), over the limit of 0\.1 megapixels: refused before decoding/);
    return true;
  });
  assert.equal((await decodeImage(png, 32, { maxPixels: 60_000 })).data.length, 32 * 32 * 3);
});
