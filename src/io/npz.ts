// numpy `.npz` archives: a zip of `.npy` members, one per array, named
// `<key>.npy` (numpy's `np.savez` / `np.savez_compressed`). Keys are the
// member names without `.npy`, so an official BiT weight file's keys are its
// parameter names, e.g. `resnet/block1/unit01/a/standardized_conv2d/kernel`.
//
// Reading opens the archive once and decodes single arrays on demand, so a
// 3.7 GB BiT-M-R152x4.npz is never held in memory whole. Writing streams one
// array at a time into a temporary file that is renamed over the target only
// when complete.
import { ArrayFileError, type NdArray, type NdDtype } from './ndarray.js';
import { NpyDecoder, assertNdArray, checkNpyDataBytes, npyByteLength, npyChunks, npyHeaderLength, parseNpyHeader } from './npy.js';
import { ZipReader, writeZip, type ZipEntry, type ZipReaderOptions } from './zip.js';
import { messageOf } from '../util/errors.js';

export { ArrayFileError } from './ndarray.js';
export type { NdArray, NdDtype } from './ndarray.js';

const NPY_SUFFIX = '.npy';
/** Bytes read to find an array's header; most headers are 128 bytes. */
const HEADER_PROBE_BYTES = 4096;

/** What an array's header says, read without its data. */
export interface NpzArrayInfo {
  dtype: NdDtype;
  shape: number[];
}

export interface NpzWriteOptions {
  /** Deflate every member, as `np.savez_compressed` does (default false, as `np.savez`). */
  compress?: boolean;
  /** zlib level when compressing (default 6). */
  level?: number;
  /** Write zip64 records even where nothing needs them (tests of the zip64 paths). */
  forceZip64?: boolean;
}

/** Reads the arrays of an `.npz` archive on demand. Call `close()` when done. */
export class NpzReader {
  private readonly members = new Map<string, ZipEntry>();

  private constructor(private readonly zip: ZipReader) {
    for (const entry of zip.entries) {
      if (entry.name.endsWith(NPY_SUFFIX)) {
        this.members.set(entry.name.slice(0, -NPY_SUFFIX.length), entry);
      }
    }
  }

  /** Opens `path` and reads its directory (not its arrays). */
  static async open(path: string, options: ZipReaderOptions = {}): Promise<NpzReader> {
    return new NpzReader(await ZipReader.open(path, options));
  }

  /** Reads an archive held in memory; `label` names it in errors. */
  static async fromBytes(bytes: Uint8Array, label: string, options: ZipReaderOptions = {}): Promise<NpzReader> {
    return new NpzReader(await ZipReader.fromBytes(bytes, label, options));
  }

  /** The file name used in error messages. */
  get path(): string {
    return this.zip.label;
  }

  /** The array keys, in archive order (member names without `.npy`). */
  keys(): string[] {
    return [...this.members.keys()];
  }

  has(key: string): boolean {
    return this.members.has(key);
  }

  /** An array's dtype and shape, from its header only (reads a few KB even from a compressed member). */
  async info(key: string): Promise<NpzArrayInfo> {
    const entry = this.member(key);
    const context = { file: this.path, key, member: entry.name };
    let prefix = await this.zip.readPrefix(entry, HEADER_PROBE_BYTES);
    const headerBytes = npyHeaderLength(prefix, context);
    if (headerBytes === undefined || headerBytes > entry.uncompressedSize) {
      throw new ArrayFileError(
        `truncated: the member holds ${entry.uncompressedSize} bytes, too few for its .npy header (${headerBytes ?? 'at least 10'} bytes)`,
        context,
      );
    }
    if (headerBytes > prefix.length) {
      prefix = await this.zip.readPrefix(entry, headerBytes);
    }
    const header = parseNpyHeader(prefix, context);
    checkNpyDataBytes(header, entry.uncompressedSize, context);
    return { dtype: header.dtype, shape: header.shape };
  }

  /** Reads and decodes one array (native byte order, C order), checking the member's CRC. */
  async read(key: string): Promise<NdArray> {
    const entry = this.member(key);
    const decoder = new NpyDecoder(entry.uncompressedSize, { file: this.path, key, member: entry.name });
    await this.zip.readChunks(entry, (chunk) => decoder.push(chunk));
    return decoder.finish();
  }

  /** A JSON value stored as UTF-8 bytes under `key` (see `jsonArray`); undefined when there is no such key. */
  async readJson<T>(key: string): Promise<T | undefined> {
    if (!this.has(key)) return undefined;
    const a = await this.read(key);
    try {
      return JSON.parse(new TextDecoder().decode(a.data as Uint8Array)) as T;
    } catch (err) {
      throw new ArrayFileError(`not a JSON document: ${messageOf(err)}`, { file: this.path, key }, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.zip.close();
  }

  private member(key: string): ZipEntry {
    const entry = this.members.get(key);
    if (entry === undefined) {
      const keys = this.keys();
      const shown = keys.length > 8 ? `${keys.slice(0, 8).join(', ')}, ...` : keys.join(', ');
      throw new Error(`${this.path}: no array '${key}' (the archive holds ${keys.length}: ${shown})`);
    }
    return entry;
  }
}

/** A JSON value as a uint8 array of its UTF-8 bytes (metadata stored beside the arrays; `NpzReader.readJson` reads it). */
export function jsonArray(value: unknown): NdArray {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return { dtype: 'uint8', shape: [bytes.length], data: bytes };
}

/**
 * Runs `fn` on an open reader: `source` itself, or `source` opened as a path
 * (and closed afterwards), so that callers given an open reader need not
 * open the file again.
 */
export async function withNpz<T>(source: string | NpzReader, fn: (reader: NpzReader) => Promise<T>): Promise<T> {
  if (typeof source !== 'string') return fn(source);
  const reader = await NpzReader.open(source);
  try {
    return await fn(reader);
  } finally {
    await reader.close();
  }
}

/** Reads every array of an `.npz` file, in archive order. */
export async function readNpz(path: string, options: ZipReaderOptions = {}): Promise<Map<string, NdArray>> {
  const reader = await NpzReader.open(path, options);
  try {
    const out = new Map<string, NdArray>();
    for (const key of reader.keys()) {
      out.set(key, await reader.read(key));
    }
    return out;
  } finally {
    await reader.close();
  }
}

/**
 * Writes arrays to an `.npz` that numpy's `np.load` reads (member `<key>.npy`
 * per array). Streams one array at a time and writes atomically: if anything
 * fails (a malformed array, a duplicate key, a full disk), `path` is left as it
 * was and no temporary file remains.
 */
export async function writeNpz(
  path: string,
  entries: Iterable<[string, NdArray]> | ReadonlyMap<string, NdArray>,
  options: NpzWriteOptions = {},
): Promise<void> {
  await writeZip(
    path,
    async (zip) => {
      for (const [key, array] of entries) {
        if (typeof key !== 'string' || key.length === 0) {
          throw new TypeError(`${path}: array keys must be non-empty strings, got ${JSON.stringify(key)}`);
        }
        const label = `${path}: array '${key}'`;
        assertNdArray(array, label);
        await zip.add(key + NPY_SUFFIX, npyByteLength(array), npyChunks(array, label), { compress: options.compress === true });
      }
    },
    { level: options.level ?? 6, forceZip64: options.forceZip64 === true },
  );
}
