// The data loader's throughput with BiT's training preprocessing at the
// model's resolution (resize to precrop, random crop, random flip), on two
// synthetic sources: small images held in memory (CIFAR-sized, the case the
// BiT-HyperRule trains at 128) and JPEG files (ImageNet-sized photos,
// decoded from disk every epoch).
import { mkdtempSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { Dataset, measureLoader } from '../data/index.js';

export interface LoaderResult {
  readonly source: string;
  readonly images: number;
  readonly precrop: number;
  readonly crop: number;
  readonly workers: number;
  readonly imagesPerSecond: number;
}

export interface LoaderOptions {
  readonly resolution: number;
  readonly batch: number;
  /** Worker threads; default: the loader's own default. */
  readonly workers?: number;
  /** Timed batches per source. */
  readonly batches: number;
  readonly log: (line: string) => void;
}

/** The BiT-HyperRule's precrop for small images (160 for a crop of 128), scaled to the crop. */
export function precropFor(crop: number): number {
  return Math.round((crop * 160) / 128);
}

/** Deterministic pseudo-random bytes (xorshift32): synthetic pixels without a data set. */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(n));
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

const CLASSES = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];

function labels(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i % CLASSES.length);
}

/** `count` 32x32 RGB images in memory. */
export function memoryDataset(count: number): Dataset {
  return new Dataset({
    name: 'synthetic-32px',
    classNames: CLASSES,
    source: { kind: 'memory', memory: { pixels: noise(count * 32 * 32 * 3, 12345), count, height: 32, width: 32, channels: 3 } },
    labels: labels(count),
    originalSize: { height: 32, width: 32 },
    defaultFlip: true,
  });
}

/**
 * `count` JPEG files of `width` x `height` (quality 90) in `dir`: smooth
 * colour fields with noise, so that decoding costs what a photo costs.
 */
export async function jpegDataset(dir: string, count: number, width = 500, height = 375): Promise<Dataset> {
  const paths: string[] = [];
  const grain = noise(width * height * 3, 777);
  for (let i = 0; i < count; i++) {
    const px = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const k = (y * width + x) * 3;
        px[k] = ((x * 255) / width + i * 37 + (grain[k] >> 3)) & 0xff;
        px[k + 1] = ((y * 255) / height + i * 59 + (grain[k + 1] >> 3)) & 0xff;
        px[k + 2] = (((x + y) * 128) / (width + height) + i * 11 + (grain[k + 2] >> 3)) & 0xff;
      }
    }
    const file = path.join(dir, `img${String(i).padStart(4, '0')}.jpg`);
    await fs.writeFile(
      file,
      await sharp(px, { raw: { width, height, channels: 3 } })
        .jpeg({ quality: 90 })
        .toBuffer(),
    );
    paths.push(file);
  }
  return new Dataset({
    name: `synthetic-jpeg-${width}x${height}`,
    classNames: CLASSES,
    source: { kind: 'files', paths },
    labels: labels(count),
    originalSize: { height, width },
    defaultFlip: true,
  });
}

async function measure(source: string, ds: Dataset, o: LoaderOptions): Promise<LoaderResult> {
  const precrop = precropFor(o.resolution);
  const r = await measureLoader(ds, { batchSize: o.batch, precrop, crop: o.resolution, workers: o.workers, batches: o.batches, warmupBatches: 2, seed: 0 });
  o.log(`loader ${source}: ${r.imagesPerSecond.toFixed(1)} images/s (${r.workers} worker${r.workers === 1 ? '' : 's'}, ${r.images} images)`);
  return { source, images: r.images, precrop, crop: o.resolution, workers: r.workers, imagesPerSecond: r.imagesPerSecond };
}

/** The loader's images/s on both synthetic sources. */
export async function measureLoaders(o: LoaderOptions): Promise<LoaderResult[]> {
  const out: LoaderResult[] = [];
  out.push(await measure('in-memory 32x32 RGB (CIFAR-sized)', memoryDataset(1024), o));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bit-bench-jpeg-'));
  try {
    out.push(await measure('JPEG files 500x375 (ImageNet-sized)', await jpegDataset(dir, 64), o));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
