// Builders of small real image folders for the data tests: MNIST test digits
// written as PNG, JPEG and WebP files by sharp, in the layouts the data layer
// reads. Every folder is made under a test's temp folder (helpers' tempDir).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { openMnist } from '../../src/data/builtin.js';
import type { Dataset } from '../../src/data/dataset.js';

let mnistTest: Promise<Dataset> | null = null;

/** MNIST's test split, read once per process. */
export function mnistTestSet(): Promise<Dataset> {
  mnistTest ??= openMnist('test');
  return mnistTest;
}

/** The 28x28 grey pixels of MNIST test image i. */
export async function mnistPixels(i: number): Promise<Uint8Array> {
  const ds = await mnistTestSet();
  if (ds.source.kind !== 'memory') throw new Error('MNIST is held in memory');
  return ds.source.memory.pixels.slice(i * 784, (i + 1) * 784);
}

/** The first `count` MNIST test indices whose label is `digit`. */
export async function mnistIndicesOf(digit: number, count: number): Promise<number[]> {
  const ds = await mnistTestSet();
  const out: number[] = [];
  const labels = ds.requireLabels();
  for (let i = 0; i < labels.length && out.length < count; i++) if (labels[i] === digit) out.push(i);
  return out;
}

export type ImageKind = 'grey-png' | 'rgb-png' | 'rgba-png' | 'jpeg' | 'webp';

/** The RGB colour an MNIST grey value v is tinted to in colour fixtures (reversible and distinct per channel). */
export function tint(v: number): [number, number, number] {
  return [v, 255 - v, (v * 7) % 256];
}

/**
 * Writes MNIST test image `index` to `file` in the given kind. Colour kinds
 * use tint(); 'rgba-png' has alpha varying over the image (which readers must drop).
 */
export async function writeDigit(file: string, index: number, kind: ImageKind): Promise<void> {
  const grey = Buffer.from(await mnistPixels(index));
  await fs.mkdir(path.dirname(file), { recursive: true });
  if (kind === 'grey-png') {
    await sharp(grey, { raw: { width: 28, height: 28, channels: 1 } })
      .toColourspace('b-w')
      .png()
      .toFile(file);
    return;
  }
  const channels = kind === 'rgba-png' ? 4 : 3;
  const px = Buffer.alloc(784 * channels);
  for (let i = 0; i < 784; i++) {
    const [r, g, b] = tint(grey[i]);
    px[i * channels] = r;
    px[i * channels + 1] = g;
    px[i * channels + 2] = b;
    if (channels === 4) px[i * 4 + 3] = 40 + (i % 200);
  }
  const img = sharp(px, { raw: { width: 28, height: 28, channels } });
  if (kind === 'jpeg') await img.jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toFile(file);
  else if (kind === 'webp') await img.webp({ lossless: true }).toFile(file);
  else await img.png().toFile(file);
}

/** What makeDigitFolder wrote. */
export interface DigitFolder {
  readonly root: string;
  /** split -> class name -> files (sorted) with the MNIST index and kind of each. */
  readonly files: Map<string, Map<string, { file: string; index: number; kind: ImageKind }[]>>;
}

/**
 * DIR/train/{zero,one,two}/ with `perClass` MNIST digits each, and DIR/test/
 * with `testPerClass`; kinds cycle through grey PNG, RGB PNG, RGBA PNG, JPEG, WebP.
 */
export async function makeDigitFolder(root: string, perClass = 5, testPerClass = 2): Promise<DigitFolder> {
  const classes = ['zero', 'one', 'two'];
  const kinds: ImageKind[] = ['grey-png', 'rgb-png', 'rgba-png', 'jpeg', 'webp'];
  const ext: Record<ImageKind, string> = { 'grey-png': 'png', 'rgb-png': 'png', 'rgba-png': 'png', jpeg: 'jpg', webp: 'webp' };
  const files = new Map<string, Map<string, { file: string; index: number; kind: ImageKind }[]>>();
  for (const [split, count, skip] of [
    ['train', perClass, 0],
    ['test', testPerClass, perClass],
  ] as const) {
    const bySplit = new Map<string, { file: string; index: number; kind: ImageKind }[]>();
    files.set(split, bySplit);
    for (let c = 0; c < classes.length; c++) {
      const idx = (await mnistIndicesOf(c, skip + count)).slice(skip);
      const list: { file: string; index: number; kind: ImageKind }[] = [];
      for (let k = 0; k < count; k++) {
        const kind = kinds[(k + c) % kinds.length];
        const file = path.join(root, split, classes[c], `img${String(k).padStart(3, '0')}.${ext[kind]}`);
        await writeDigit(file, idx[k], kind);
        list.push({ file, index: idx[k], kind });
      }
      bySplit.set(
        classes[c],
        list.sort((a, b) => (a.file < b.file ? -1 : 1)),
      );
    }
  }
  return { root, files };
}

/** Writes a file with a PNG name that is not an image. */
export async function writeCorrupt(file: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, 'this is not an image\n');
}

/** Writes a JPEG cut in half (the header is intact, the pixel data truncated). */
export async function writeTruncatedJpeg(file: string, index: number): Promise<void> {
  const grey = Buffer.from(await mnistPixels(index));
  const big = await sharp(grey, { raw: { width: 28, height: 28, channels: 1 } })
    .resize(112, 112)
    .jpeg()
    .toBuffer();
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, big.subarray(0, Math.floor(big.length / 2)));
}
