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
 * Upstream pre-training uses the Inception-style crop instead ('inception'
 * crop style; BiT's authors, big_transfer issue #26: "standard inception
 * crop resized to 224x224, random left/right flip"): a window of random area
 * and aspect ratio of the precrop image, resized to crop x crop. Its numbers
 * are big_vision's `inception_crop` (pp/ops_image.py: area_min 5, area_max
 * 100 percent) over tf.image.sample_distorted_bounding_box's defaults (aspect
 * ratio range [0.75, 1.33], 100 attempts, the whole image when none fits);
 * see INCEPTION_CROP. The window is taken from the image squashed to
 * precrop x precrop, as everywhere in this pipeline.
 *
 * Output: 8-bit RGB, HWC. Scaling to [-1, 1] is done on tensors by the
 * training layer, with the constants below (torchvision
 * Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) after ToTensor()).
 */
import type { Dataset, PixelSource } from './dataset.js';
import { decodeImage, memoryImage, resizeRaw, type RawImage } from './decode.js';
import { DataError } from './errors.js';
import { randomWords, RandomPurpose, uniformInt32, uniformUnit } from './rng.js';

/** value in [-1, 1] = pixel * PIXEL_SCALE + PIXEL_OFFSET (that is, x / 127.5 - 1). */
export const PIXEL_SCALE = 1 / 127.5;
export const PIXEL_OFFSET = -1;

/** How a training image is cropped: a crop x crop window of the precrop image (BiT fine-tuning), or an Inception-style window resized to crop x crop (BiT upstream). */
export type CropStyle = 'resize' | 'inception';
export const CROP_STYLES: readonly CropStyle[] = ['resize', 'inception'];

/**
 * The Inception-style crop's ranges: big_vision pp/ops_image.py
 * `get_inception_crop(area_min=5, area_max=100)` passes area_range (0.05, 1.0)
 * to tf.image.sample_distorted_bounding_box, whose defaults give the aspect
 * ratio range [0.75, 1.33] and 100 attempts before falling back to the whole
 * image (use_image_if_no_bounding_boxes=True). As in TF's kernel, the aspect
 * ratio (width / height) is drawn uniformly in its range; the area fraction
 * is drawn uniformly in its range (TF draws the height, torchvision's
 * RandomResizedCrop the area: the ranges, not the density, are published).
 */
export const INCEPTION_CROP: InceptionCropRanges = { minArea: 0.05, maxArea: 1, minAspect: 0.75, maxAspect: 1.33, attempts: 100 };

/** The ranges of an Inception-style crop: area fraction and aspect ratio (width / height), and the draws before the whole-image fallback. */
export interface InceptionCropRanges {
  readonly minArea: number;
  readonly maxArea: number;
  readonly minAspect: number;
  readonly maxAspect: number;
  readonly attempts: number;
}

export interface PreprocessConfig {
  /** Training (random crop and flip) or evaluation (resize only). */
  readonly train: boolean;
  /** Training: the crop style (evaluation always resizes). */
  readonly cropStyle: CropStyle;
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

/** Training preprocessing: resize to precrop, random crop to crop (or an Inception-style window resized to crop), optional random flip. */
export function trainPreprocess(precrop: number, crop: number, flip: boolean, cropStyle: CropStyle = 'resize'): PreprocessConfig {
  checkSide(precrop, 'precrop size');
  checkSide(crop, 'crop size');
  if (crop > precrop) throw new DataError(`crop size ${crop} is larger than the precrop size ${precrop}`);
  if (!CROP_STYLES.includes(cropStyle)) throw new DataError(`crop style must be one of ${CROP_STYLES.join(', ')}, but got '${String(cropStyle)}'`);
  return { train: true, cropStyle, precrop, crop, flip };
}

/** Evaluation preprocessing: resize to crop x crop. */
export function evalPreprocess(crop: number): PreprocessConfig {
  checkSide(crop, 'crop size');
  return { train: false, cropStyle: 'resize', precrop: crop, crop, flip: false };
}

/** A sample's random crop window (in the precrop image; crop x crop unless Inception-style) and flip. */
export interface Augmentation {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
  readonly flip: boolean;
}

/** Int32 values per sample of a batch's packed augmentation (loader -> worker). */
export const AUGMENT_STRIDE = 5;

export function packAugmentation(a: Augmentation, out: Int32Array, k: number): void {
  out.set([a.top, a.left, a.height, a.width, a.flip ? 1 : 0], AUGMENT_STRIDE * k);
}

export function unpackAugmentation(packed: Int32Array, k: number): Augmentation {
  const o = AUGMENT_STRIDE * k;
  return { top: packed[o], left: packed[o + 1], height: packed[o + 2], width: packed[o + 3], flip: packed[o + 4] === 1 };
}

/**
 * An Inception-style window of a side x side image (INCEPTION_CROP): up to
 * `attempts` draws of (area fraction, aspect ratio), the first that fits, at a
 * uniform offset; the whole image when none does. Draw i uses the words of
 * (seed, augment, position, i + 1) (draw 0's words are the flip's).
 */
export function inceptionWindow(
  side: number,
  seed: number,
  position: number,
  words = new Uint32Array(4),
  c: InceptionCropRanges = INCEPTION_CROP,
): { top: number; left: number; height: number; width: number } {
  const area = side * side;
  for (let i = 0; i < c.attempts; i++) {
    randomWords(seed, RandomPurpose.augment, position, i + 1, words);
    const target = area * (c.minArea + (c.maxArea - c.minArea) * uniformUnit(words[0]));
    const aspect = c.minAspect + (c.maxAspect - c.minAspect) * uniformUnit(words[1]);
    const width = Math.round(Math.sqrt(target * aspect));
    const height = Math.round(Math.sqrt(target / aspect));
    if (width >= 1 && height >= 1 && width <= side && height <= side) {
      return { top: uniformInt32(words[2], side - height + 1), left: uniformInt32(words[3], side - width + 1), height, width };
    }
  }
  return { top: 0, left: 0, height: side, width: side };
}
/**
 * The augmentation of the sample at `position` in the training stream
 * (position = step * globalBatchSize + index in the global batch).
 */
export function sampleAugmentation(config: PreprocessConfig, seed: number, position: number, words = new Uint32Array(4)): Augmentation {
  if (!config.train) return { top: 0, left: 0, height: config.crop, width: config.crop, flip: false };
  randomWords(seed, RandomPurpose.augment, position, 0, words);
  const flip = config.flip && words[2] >= 0x80000000;
  if (config.cropStyle === 'inception') return { ...inceptionWindow(config.precrop, seed, position, words), flip };
  const range = config.precrop - config.crop + 1;
  return { top: uniformInt32(words[0], range), left: uniformInt32(words[1], range), height: config.crop, width: config.crop, flip };
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
  if (config.train && config.cropStyle === 'inception') {
    // the window, resized to crop x crop, then flipped
    const window = await resizeRaw(resized, config.crop, aug, 'the Inception-style crop window');
    cropFlipInto(window, 0, 0, config.crop, aug.flip, out, offset);
  } else cropFlipInto(resized, aug.top, aug.left, config.crop, aug.flip, out, offset);
}

/**
 * Sample i of `ds` preprocessed on this thread (for prediction, inspection
 * and tests); `aug` defaults to no crop offset and no flip.
 */
export async function preprocessSample(
  ds: Dataset,
  i: number,
  config: PreprocessConfig,
  aug: Augmentation = { top: 0, left: 0, height: config.crop, width: config.crop, flip: false },
): Promise<RawImage> {
  if (!Number.isInteger(i) || i < 0 || i >= ds.length) throw new DataError(`${ds.name}: sample index ${i} out of range [0, ${ds.length})`);
  const out = new Uint8Array(config.crop * config.crop * 3);
  await preprocessInto(ds.source, ds.sourceIndex[i], config, aug, out, 0);
  return { data: out, height: config.crop, width: config.crop, channels: 3 };
}
