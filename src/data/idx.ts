/**
 * IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
 *
 *   offset 0: magic, big-endian uint32 = 0x0000TTNN: two zero bytes, the type
 *             code TT (0x08 = unsigned byte, the only type supported here) and
 *             the number of dimensions NN (3 for images, 1 for labels)
 *   offset 4: NN big-endian uint32 dimension sizes (images: count, rows, cols)
 *   then:     the data, prod(dims) bytes, row-major
 *
 * A file may be gzipped (detected by its first two bytes, 1f 8b), as Debian's
 * Fashion-MNIST files are. The data of an image file is placed in a
 * SharedArrayBuffer so that loader workers read it without copies.
 *
 * An `idx:DIR` dataset is a folder holding, for each split, an images file and
 * a labels file named like MNIST's: `train-images-idx3-ubyte` and
 * `train-labels-idx1-ubyte` (test split: prefix `t10k` or `test`; `.idx3-ubyte`
 * spellings and a `.gz` suffix are accepted), and optionally `classes.txt` with
 * one class name per line (otherwise the classes are 0..max label).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { DataError, messageOf } from './errors.js';

const gunzip = promisify(zlib.gunzip);

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

/** A parsed IDX file of unsigned bytes. */
export interface IdxArray {
  readonly file: string;
  readonly dims: readonly number[];
  /** prod(dims) bytes, row-major. */
  readonly data: Uint8Array;
}

function hex32(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}

/**
 * Parses the bytes of an (uncompressed) IDX file. `expectMagic` is
 * IDX_IMAGES_MAGIC or IDX_LABELS_MAGIC; `file` names the file in errors.
 * With `shared`, the data is copied into a SharedArrayBuffer.
 */
export function parseIdx(bytes: Uint8Array, file: string, expectMagic: number, shared = false): IdxArray {
  const what =
    expectMagic === IDX_IMAGES_MAGIC
      ? 'IDX images (unsigned bytes, 3 dimensions)'
      : expectMagic === IDX_LABELS_MAGIC
        ? 'IDX labels (unsigned bytes, 1 dimension)'
        : `IDX magic ${hex32(expectMagic)}`;
  if (bytes.length < 4) {
    throw new DataError(`${file}: truncated IDX file: ${bytes.length} bytes, too short for the 4-byte magic number of ${what}`, { path: file });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (magic !== expectMagic) {
    let hint = '';
    if (magic === IDX_IMAGES_MAGIC || magic === IDX_LABELS_MAGIC)
      hint = ` (this is an IDX ${magic === IDX_IMAGES_MAGIC ? 'images' : 'labels'} file: images and labels swapped?)`;
    else if (magic >>> 16 === 0 && ((magic >>> 8) & 0xff) !== 0x08)
      hint = ` (IDX type code 0x${((magic >>> 8) & 0xff).toString(16).padStart(2, '0')}; only 0x08, unsigned bytes, is supported)`;
    else hint = ' (not an IDX file, or a compressed file that is not gzip)';
    throw new DataError(`${file}: bad magic number ${hex32(magic)}: expected ${hex32(expectMagic)}, ${what}${hint}`, { path: file });
  }
  const ndim = magic & 0xff;
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) {
    throw new DataError(`${file}: truncated IDX file: ${bytes.length} bytes, shorter than its ${headerBytes}-byte header`, { path: file });
  }
  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < ndim; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    dims.push(size);
    count *= size;
  }
  const have = bytes.length - headerBytes;
  if (have < count) {
    throw new DataError(`${file}: truncated IDX file: header says [${dims.join(', ')}] = ${count} bytes of data, but only ${have} follow the header`, {
      path: file,
    });
  }
  if (have > count) {
    throw new DataError(
      `${file}: size mismatch: header says [${dims.join(', ')}] = ${count} bytes of data, but ${have} follow the header (${have - count} extra)`,
      { path: file },
    );
  }
  let data = bytes.subarray(headerBytes, headerBytes + count);
  if (shared) {
    const copy = new Uint8Array(new SharedArrayBuffer(count));
    copy.set(data);
    data = copy;
  }
  return { file, dims, data };
}

/** Reads an IDX file, plain or gzipped. */
export async function readIdxFile(file: string, expectMagic: number, shared = false): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    throw new DataError(`cannot read IDX file ${file}: ${messageOf(err)}`, { path: file, cause: err });
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = await gunzip(bytes);
    } catch (err) {
      throw new DataError(`${file}: corrupt or truncated gzip data: ${messageOf(err)}`, { path: file, cause: err });
    }
  }
  return parseIdx(bytes, file, expectMagic, shared);
}

/** Images and labels read from a pair of IDX files. */
export interface IdxImagesAndLabels {
  /** count*rows*cols bytes in a SharedArrayBuffer. */
  readonly pixels: Uint8Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly labels: Int32Array;
}

/**
 * Reads an images file and a labels file and checks that they agree. With
 * `numClasses`, every label must be in [0, numClasses).
 */
export async function readIdxPair(imagesFile: string, labelsFile: string, numClasses?: number): Promise<IdxImagesAndLabels> {
  // Both files are read concurrently; the images file's error, if any, is
  // reported first so the message does not depend on which read ends first.
  const [imagesResult, labelsResult] = await Promise.allSettled([readIdxFile(imagesFile, IDX_IMAGES_MAGIC, true), readIdxFile(labelsFile, IDX_LABELS_MAGIC)]);
  if (imagesResult.status === 'rejected') throw imagesResult.reason;
  if (labelsResult.status === 'rejected') throw labelsResult.reason;
  const images = imagesResult.value;
  const labels = labelsResult.value;
  const [count, height, width] = images.dims;
  if (count === 0) throw new DataError(`${imagesFile} holds no images (its header says 0): a split needs at least one`, { path: imagesFile });
  if (height === 0 || width === 0)
    throw new DataError(`${imagesFile}: its header says the images are ${height}x${width} pixels: expected at least 1x1`, { path: imagesFile });
  if (labels.dims[0] !== count) {
    throw new DataError(`mismatched IDX files: ${imagesFile} holds ${count} images but ${labelsFile} holds ${labels.dims[0]} labels`, { path: labelsFile });
  }
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = labels.data[i];
    if (numClasses !== undefined && v >= numClasses) {
      throw new DataError(`${labelsFile}: label ${v} of item ${i} is out of range: expected 0..${numClasses - 1} (${numClasses} classes)`, {
        path: labelsFile,
      });
    }
    out[i] = v;
  }
  return { pixels: images.data, count, height, width, labels: out };
}

/** The images and labels files of `split` in an IDX folder (see the layout at the top of this file). */
export async function findIdxSplit(dir: string, split: 'train' | 'test'): Promise<{ images: string; labels: string } | null> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    throw new DataError(`cannot read IDX folder ${dir}: ${messageOf(err)}`, { path: dir, cause: err });
  }
  const have = new Set(names);
  const prefixes = split === 'train' ? ['train'] : ['t10k', 'test'];
  const pick = (kind: 'images' | 'labels', rank: 3 | 1): string | null => {
    for (const p of prefixes) {
      for (const sep of ['-', '.']) {
        for (const gz of ['', '.gz']) {
          const name = `${p}-${kind}${sep}idx${rank}-ubyte${gz}`;
          if (have.has(name)) return path.join(dir, name);
        }
      }
    }
    return null;
  };
  const images = pick('images', 3);
  const labels = pick('labels', 1);
  if (images === null && labels === null) return null;
  if (images === null || labels === null) {
    const missing = images === null ? `${prefixes[0]}-images-idx3-ubyte[.gz]` : `${prefixes[0]}-labels-idx1-ubyte[.gz]`;
    throw new DataError(`IDX folder ${dir} has ${images ?? labels} but no ${missing} beside it`, { path: dir });
  }
  return { images, labels };
}
