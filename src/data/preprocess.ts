/**
 * BiT preprocessing, as in the original bit_pytorch/train.py:
 *
 *   train: Resize((precrop, precrop)) -> RandomCrop((crop, crop)) -> RandomHorizontalFlip()
 *   eval:  Resize((crop, crop))
 *
 * (precrop, crop) come from the BiT-HyperRule: (160, 128) for images smaller
 * than 96x96 pixels, else (512, 480). The resize squashes to a square with
 * sharp's `linear` kernel (see decode.ts). The crop offset is uniform over
 * all valid positions (like torchvision's RandomCrop), and each image is
 * flipped with probability 0.5 independently (the TF/JAX input pipeline of
 * the BiT release flips every image, a bug not copied here). Flipping can be
 * turned off; the digit datasets (mnist, digits) default to no flip.
 *
 * The crop offset and flip of a sample depend only on (seed, position of the
 * sample in the training stream), through Philox (rng.ts).
 *
 * Output: 8-bit RGB, HWC. Scaling to [-1, 1] is done on tensors by the
 * training layer, with the constants below (torchvision
 * Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) after ToTensor()).
 */
import type { Dataset, PixelSource } from './dataset.js';
import { decodeImage, memoryImage, type RawImage } from './decode.js';
import { DataError } from './errors.js';
import { randomWords, RandomPurpose, uniformInt32 } from './rng.js';

/** value in [-1, 1] = pixel * PIXEL_SCALE + PIXEL_OFFSET (that is, x / 127.5 - 1). */
export const PIXEL_SCALE = 1 / 127.5;
export const PIXEL_OFFSET = -1;

export interface PreprocessConfig {
  /** Training (random crop and flip) or evaluation (resize only). */
  readonly train: boolean;
  /** Side of the square image before the random crop (training only). */
  readonly precrop: number;
  /** Side of the square output. */
  readonly crop: number;
  /** Random horizontal flips with probability 0.5 (training only). */
  readonly flip: boolean;
}

/** The largest image side the preprocessing makes (a 8192 x 8192 RGB image is 200 MB). */
export const MAX_IMAGE_SIDE = 8192;

function checkSide(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 1 || v > MAX_IMAGE_SIDE) throw new DataError(`${what} must be an integer in [1, ${MAX_IMAGE_SIDE}], but got ${v}`);
}

/** Training preprocessing: resize to precrop, random crop to crop, optional random flip. */
export function trainPreprocess(precrop: number, crop: number, flip: boolean): PreprocessConfig {
  checkSide(precrop, 'precrop size');
  checkSide(crop, 'crop size');
  if (crop > precrop) throw new DataError(`crop size ${crop} is larger than the precrop size ${precrop}`);
  return { train: true, precrop, crop, flip };
}

/** Evaluation preprocessing: resize to crop x crop. */
export function evalPreprocess(crop: number): PreprocessConfig {
  checkSide(crop, 'crop size');
  return { train: false, precrop: crop, crop, flip: false };
}

/** A sample's random crop offset (in the precrop image) and flip. */
export interface Augmentation {
  readonly top: number;
  readonly left: number;
  readonly flip: boolean;
}

/**
 * The augmentation of the sample at `position` in the training stream
 * (position = step * globalBatchSize + index in the global batch).
 */
export function sampleAugmentation(config: PreprocessConfig, seed: number, position: number, words = new Uint32Array(4)): Augmentation {
  if (!config.train) return { top: 0, left: 0, flip: false };
  randomWords(seed, RandomPurpose.augment, position, 0, words);
  const range = config.precrop - config.crop + 1;
  return {
    top: uniformInt32(words[0], range),
    left: uniformInt32(words[1], range),
    flip: config.flip && words[2] >= 0x80000000,
  };
}

/**
 * Writes the crop x crop window at (top, left) of `src` (channels 1 or 3) to
 * `out` at `offset` as RGB, mirrored left-right when `flip`.
 */
export function cropFlipInto(src: RawImage, top: number, left: number, crop: number, flip: boolean, out: Uint8Array, offset: number): void {
  if (top < 0 || left < 0 || top + crop > src.height || left + crop > src.width) {
    throw new DataError(`crop ${crop}x${crop} at (${top}, ${left}) does not fit in a ${src.height}x${src.width} image`);
  }
  const c = src.channels;
  const data = src.data;
  if (data.length !== src.height * src.width * c) {
    throw new DataError(`image buffer of ${data.length} bytes does not hold ${src.height}x${src.width}x${c} pixels`);
  }
  for (let y = 0; y < crop; y++) {
    const row = (top + y) * src.width;
    let o = offset + y * crop * 3;
    for (let x = 0; x < crop; x++, o += 3) {
      const sx = left + (flip ? crop - 1 - x : x);
      const s = (row + sx) * c;
      if (c === 1) {
        const v = data[s];
        out[o] = v;
        out[o + 1] = v;
        out[o + 2] = v;
      } else {
        out[o] = data[s];
        out[o + 1] = data[s + 1];
        out[o + 2] = data[s + 2];
      }
    }
  }
}

/** Item `ref` of a pixel source (an index for memory pixels, else a file path), squashed to size x size. */
export async function loadResized(source: PixelSource, ref: number, size: number): Promise<RawImage> {
  return source.kind === 'memory' ? memoryImage(source.memory, ref, size) : decodeImage(source.paths[ref], size);
}

/** Preprocesses item `ref` of `source` into `out` at `offset` (crop*crop*3 bytes). */
export async function preprocessInto(
  source: PixelSource,
  ref: number,
  config: PreprocessConfig,
  aug: Augmentation,
  out: Uint8Array,
  offset: number,
): Promise<void> {
  const resized = await loadResized(source, ref, config.train ? config.precrop : config.crop);
  cropFlipInto(resized, aug.top, aug.left, config.crop, aug.flip, out, offset);
}

/**
 * Sample i of `ds` preprocessed on this thread (for prediction, inspection
 * and tests); `aug` defaults to no crop offset and no flip.
 */
export async function preprocessSample(
  ds: Dataset,
  i: number,
  config: PreprocessConfig,
  aug: Augmentation = { top: 0, left: 0, flip: false },
): Promise<RawImage> {
  if (!Number.isInteger(i) || i < 0 || i >= ds.length) throw new DataError(`${ds.name}: sample index ${i} out of range [0, ${ds.length})`);
  const out = new Uint8Array(config.crop * config.crop * 3);
  await preprocessInto(ds.source, ds.sourceIndex[i], config, aug, out, 0);
  return { data: out, height: config.crop, width: config.crop, channels: 3 };
}
