// Official BiT weights by name: the catalogue of every file Google publishes
// under https://storage.googleapis.com/bit_models/ (google-research/big_transfer
// README), a cache folder, and the one function every `--weights` goes
// through (resolveWeights): a path is used as is; an official name is taken
// from the cache, or downloaded into it once (progress, resume over HTTP
// Range, the server's published MD5 checked, an atomic rename) and its
// SHA-256 recorded; every later use checks the file against that record, and
// a file that does not match is moved aside, never used.
import { existsSync, promises as fs, statSync } from 'node:fs';
import { ensureFolder } from '../io/folders.js';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../io/atomic.js';
import { downloadResumable, DownloadError, hashFile } from '../io/download.js';
import { describeHolder, isLockFile, tryLockFile } from '../io/lock-file.js';
import { NpzReader } from '../io/npz.js';
import { messageOf, UsageError } from '../util/errors.js';
import { listModels, modelParams } from './registry.js';
import type { ModelMeta } from './weights.js';

/** Where the official files are published (the `bit_models` bucket). */
export const DEFAULT_WEIGHTS_URL = 'https://storage.googleapis.com/bit_models/';

/** The dataset a published head was trained on. */
export type HeadData = 'ILSVRC-2012' | 'ImageNet-21k';

/** One published file. */
export interface OfficialWeights {
  /** The name `--weights` takes: the file's path in the bucket without `.npz`. */
  readonly name: string;
  /** Path under the base URL (and under the cache folder). */
  readonly file: string;
  /** The registry entry that builds its architecture. */
  readonly model: string;
  readonly headSize: number;
  readonly head: HeadData;
  /** Input resolution it was trained (or fine-tuned) at. */
  readonly crop: number;
  readonly description: string;
}

const UPSTREAM_HEAD: Record<string, HeadData> = { S: 'ILSVRC-2012', M: 'ImageNet-21k' };

/**
 * Every official .npz (the README of google-research/big_transfer):
 * - BiT-S-* and BiT-M-* (R50x1, R50x3, R101x1, R101x3, R152x2, R152x4):
 *   upstream models, ILSVRC-2012 (1,000 classes) or ImageNet-21k (21,843), 224 px;
 * - BiT-M-*-ILSVRC2012: BiT-M fine-tuned on ILSVRC-2012 ("adding the -ILSVRC2012
 *   postfix"), at 448 px (R152x4: 480), as timm's pretrained configs for them say;
 * - distill/R50x1_224 and distill/R50x1_160: R50x1 students distilled from
 *   BiT-M-R152x2 ("Knowledge distillation: A good teacher is patient and
 *   consistent"), ImageNet top-1 82.8 and 80.5; distill/R152x2_T_224 and
 *   distill/R152x2_T_384: the two BiT-M-R152x2 teachers.
 * The 285 VTAB fine-tuned files (vtab/BiT-M-*-run{0,1,2}-<task>.npz) are not listed.
 */
function buildCatalogue(): OfficialWeights[] {
  const bit = listModels().filter((e) => e.family === 'bit');
  const upstream = bit.map((e) => {
    const tier = e.name.split('-')[1];
    return {
      name: e.name,
      file: `${e.name}.npz`,
      model: e.name,
      headSize: e.defaultHeadSize,
      head: UPSTREAM_HEAD[tier],
      crop: 224,
      description: `upstream ${UPSTREAM_HEAD[tier]}`,
    };
  });
  const ilsvrc = bit
    .filter((e) => e.name.startsWith('BiT-M-'))
    .map((e) => ({
      name: `${e.name}-ILSVRC2012`,
      file: `${e.name}-ILSVRC2012.npz`,
      model: e.name,
      headSize: 1000,
      head: 'ILSVRC-2012' as const,
      crop: e.name.endsWith('R152x4') ? 480 : 448,
      description: `${e.name} fine-tuned on ILSVRC-2012`,
    }));
  const distilled: OfficialWeights[] = [
    { name: 'distill/R50x1_224', model: 'BiT-M-R50x1', crop: 224, description: 'R50x1 distilled from BiT-M-R152x2 (ImageNet top-1 82.8%)' },
    { name: 'distill/R50x1_160', model: 'BiT-M-R50x1', crop: 160, description: 'R50x1 distilled from BiT-M-R152x2 (ImageNet top-1 80.5%)' },
    { name: 'distill/R152x2_T_224', model: 'BiT-M-R152x2', crop: 224, description: 'the BiT-M-R152x2 teacher of the distilled models, 224 px' },
    { name: 'distill/R152x2_T_384', model: 'BiT-M-R152x2', crop: 384, description: 'the BiT-M-R152x2 teacher of the distilled models, 384 px' },
  ].map((d) => ({ ...d, file: `${d.name}.npz`, headSize: 1000, head: 'ILSVRC-2012' as const }));
  return [...upstream, ...ilsvrc, ...distilled];
}

let catalogue: OfficialWeights[] | undefined;

/** Every official file, in the order `bit weights list` prints them. */
export function officialWeights(): readonly OfficialWeights[] {
  catalogue ??= buildCatalogue();
  return catalogue;
}

/** The official file named `name` (case-insensitive, `.npz` optional), or null. */
export function findOfficialWeights(name: string): OfficialWeights | null {
  const key = name.replace(/\.npz$/i, '').toLowerCase();
  return officialWeights().find((w) => w.name.toLowerCase() === key) ?? null;
}

/** The official file a weights file on disk is a copy of, judged by its file name (`.../BiT-M-R50x1.npz`), or null. */
export function officialWeightsOfFile(file: string): OfficialWeights | null {
  const base = path
    .basename(file)
    .replace(/\.npz$/i, '')
    .toLowerCase();
  return officialWeights().find((w) => path.basename(w.name).toLowerCase() === base) ?? null;
}

/**
 * The size a file has by construction (the server cannot be asked from
 * here): 4 bytes per float32 parameter plus, per array, numpy's 128-byte .npy
 * header and the zip local and central headers with the member name twice.
 */
export function sizeByConstruction(w: OfficialWeights): number {
  const key = `${w.model}:${w.headSize}`;
  let bytes = sizes.get(key);
  if (bytes === undefined) {
    const { params, keys } = modelParams(w.model, w.headSize);
    bytes = 4 * params + keys.reduce((sum, k) => sum + 128 + 30 + 20 + 46 + 2 * (k.length + '.npy'.length), 0) + 22;
    sizes.set(key, bytes);
  }
  return bytes;
}

const sizes = new Map<string, number>();

/** What the catalogue says of an official file, in the form of this project's metadata. */
export function officialMeta(w: OfficialWeights): ModelMeta {
  return { model: w.model, headSize: w.headSize, crop: w.crop, data: w.head };
}

/** The base URL files are downloaded from: $BIT_WEIGHTS_URL (a mirror), else Google's bucket. */
export function weightsBaseUrl(): string {
  const env = process.env.BIT_WEIGHTS_URL;
  const base = env !== undefined && env !== '' ? env : DEFAULT_WEIGHTS_URL;
  return base.endsWith('/') ? base : base + '/';
}

/** The cache folder: $BIT_CACHE, else $XDG_CACHE_HOME/bit, else ~/.cache/bit. */
export function weightsCacheDir(): string {
  const env = process.env.BIT_CACHE;
  if (env !== undefined && env !== '') return env;
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg !== undefined && xdg !== '' ? xdg : path.join(os.homedir(), '.cache'), 'bit');
}

/** Where an official file lives in the cache. */
export function cachedWeightsPath(w: OfficialWeights): string {
  return path.join(weightsCacheDir(), w.file);
}

/** The file recording a cached file's SHA-256 (sha256sum's format: `sha256sum -c` checks it). */
export function checksumPath(file: string): string {
  return `${file}.sha256`;
}

export interface FetchOptions {
  /** No progress line and no notes on stderr. */
  quiet?: boolean;
  /** Seconds without a byte before a stalled connection is retried (default 60). */
  idleTimeoutS?: number;
}

async function readRecord(file: string): Promise<string | null> {
  try {
    const m = /^([0-9a-f]{64})\b/.exec(await fs.readFile(checksumPath(file), 'utf8'));
    return m ? m[1] : null;
  } catch {
    return null;
  }
}

async function writeRecord(file: string, sha256: string): Promise<void> {
  await writeFileAtomic(checksumPath(file), `${sha256}  ${path.basename(file)}\n`);
}

/** Moves a file that failed a check out of the way (never used again, kept for inspection); returns where. */
async function moveAside(file: string, why: string): Promise<string> {
  const aside = `${file}.bad-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  await fs.rename(file, aside);
  await fs.writeFile(`${aside}.why`, why + '\n').catch(() => undefined);
  return aside;
}

/** Files whose checksum was checked in this process, with the size and time they had then. */
const verified = new Map<string, string>();

function stamp(file: string): string {
  const st = statSync(file);
  return `${st.size}:${st.mtimeMs}`;
}

/** A BiT .npz opens and holds model arrays: catches an HTML error page or a garbled file served as the weights. */
async function checkNpz(file: string): Promise<string | null> {
  try {
    const reader = await NpzReader.open(file);
    try {
      return reader.keys().some((k) => k.startsWith('resnet/')) ? null : 'it holds no resnet/ arrays';
    } finally {
      await reader.close();
    }
  } catch (err) {
    return messageOf(err);
  }
}

/**
 * Checks a cached file against its recorded SHA-256 (once per process while
 * the file is unchanged). A file without a record (put there by hand) must be
 * a readable BiT .npz; its checksum is recorded then. A mismatch moves the
 * file aside and returns false.
 */
async function verifyCached(w: OfficialWeights, file: string, opts: FetchOptions): Promise<boolean> {
  if (verified.get(file) === stamp(file)) return true;
  const record = await readRecord(file);
  const { sha256 } = await hashFile(file);
  let problem: string | null = null;
  if (record !== null && record !== sha256) problem = `SHA-256 ${sha256} does not match the one recorded when it was downloaded (${record})`;
  else if (record === null) problem = await checkNpz(file);
  if (problem !== null) {
    const aside = await moveAside(file, problem);
    if (!opts.quiet) process.stderr.write(`${w.name}: ${file}: ${problem}; moved aside to ${aside}, not used\n`);
    return false;
  }
  if (record === null) {
    // a read-only cache still serves its files; their checksum is recorded once it can be written
    await writeRecord(file, sha256).catch((err: unknown) => {
      if (!opts.quiet) process.stderr.write(`${w.name}: cannot record the SHA-256 of ${file} (${messageOf(err)}); it is checked again next time\n`);
    });
  }
  verified.set(file, stamp(file));
  return true;
}

/** Creates the cache folder for `file` and checks that it can be written, with an error saying what to do. */
async function prepareCache(file: string): Promise<void> {
  const dir = path.dirname(file);
  try {
    await ensureFolder(dir);
    await fs.access(dir, fs.constants.W_OK);
  } catch (err) {
    throw new UsageError(
      `cannot write to the weights cache ${dir} (${(err as NodeJS.ErrnoException).code ?? messageOf(err)}): set BIT_CACHE to a folder you can write, or pass the path of a downloaded file to --weights`,
      { cause: err },
    );
  }
}

/** A lock file held while this process downloads `file` (io/lock-file.ts); waits while another live process holds it. */
async function withDownloadLock<T>(file: string, fn: () => Promise<T>, opts: FetchOptions): Promise<T> {
  let told = false;
  for (;;) {
    const taken = await tryLockFile(`${file}.lock`);
    if (isLockFile(taken)) {
      try {
        return await fn();
      } finally {
        taken.release();
      }
    }
    if (!told && !opts.quiet) {
      const where = taken.state === 'elsewhere' ? ` on ${taken.record.host} (delete ${file}.lock if it has ended)` : '';
      process.stderr.write(`${file}: ${describeHolder(taken.record)}${where} is downloading it; waiting\n`);
    }
    told = true;
    await sleep(500);
  }
}

/** Downloads `w` into the cache (resuming a partial file), checks it and renames it into place. */
async function download(w: OfficialWeights, file: string, opts: FetchOptions): Promise<void> {
  const url = weightsBaseUrl() + w.file;
  const part = `${file}.part`;
  let result;
  try {
    result = await downloadResumable(url, part, {
      label: `download ${w.name}`,
      quiet: opts.quiet,
      idleTimeoutS: opts.idleTimeoutS,
      expectedBytes: sizeByConstruction(w),
    });
  } catch (err) {
    if (err instanceof DownloadError && err.failure === 'unreachable') {
      throw new DownloadError(
        `${err.message}; put the file at ${file} (or set BIT_WEIGHTS_URL to a mirror that has ${w.file})${existsSync(part) ? `; the partial download in ${part} is kept for a later run` : ''}`,
        'unreachable',
        { cause: err },
      );
    }
    if (err instanceof DownloadError && err.failure === 'http') {
      throw new DownloadError(`${err.message}: is ${w.file} on ${weightsBaseUrl()}? (set BIT_WEIGHTS_URL for a mirror)`, 'http', { cause: err });
    }
    throw err;
  }
  const { sha256, md5 } = await hashFile(part);
  const problem =
    result.publishedMd5 !== null && result.publishedMd5 !== md5
      ? `MD5 ${md5} differs from the ${result.publishedMd5} the server publishes for ${url}`
      : await checkNpz(part);
  if (problem !== null) {
    const aside = await moveAside(part, problem);
    throw new Error(`${w.name}: the downloaded file is damaged: ${problem}; moved aside to ${aside}, nothing was installed. Run again to download it anew.`);
  }
  await writeRecord(file, sha256);
  await fs.rename(part, file);
  verified.set(file, stamp(file));
  if (!opts.quiet) process.stderr.write(`${w.name}: ${result.bytes} bytes, SHA-256 ${sha256} -> ${file}\n`);
}

/** The fetches under way in this process, by cache path. */
const fetching = new Map<string, Promise<string>>();

/** The cached copy of an official file, downloaded first when missing or damaged. */
export async function fetchOfficialWeights(w: OfficialWeights, opts: FetchOptions = {}): Promise<string> {
  const file = cachedWeightsPath(w);
  if (existsSync(file) && (await verifyCached(w, file, opts))) return file;
  // callers in this process share one fetch of a file; other processes wait for its lock
  let pending = fetching.get(file);
  if (pending === undefined) {
    pending = (async () => {
      await prepareCache(file);
      return withDownloadLock(
        file,
        async () => {
          // another process may have finished it while this one waited for the lock
          if (!(existsSync(file) && (await verifyCached(w, file, opts)))) await download(w, file, opts);
          return file;
        },
        opts,
      );
    })().finally(() => fetching.delete(file));
    fetching.set(file, pending);
  }
  return pending;
}

/**
 * The one resolution of a `--weights` value, used by every loader: an
 * existing file is used as is; otherwise an official name (`BiT-M-R50x1`,
 * `distill/R50x1_224`, with or without `.npz`) gives its cached copy,
 * downloaded on first use. Anything else is a UsageError.
 */
export async function resolveWeights(spec: string, opts: FetchOptions = {}): Promise<string> {
  // Anything on disk, or a spec written as a path, goes to the loader, which
  // names what it is (a folder, a missing file, not an archive).
  if (existsSync(spec)) return spec;
  const w = findOfficialWeights(spec);
  if (w === null) {
    if (spec.includes('/') || spec.includes(path.sep) || spec.toLowerCase().endsWith('.npz')) return spec;
    throw new UsageError(`${spec}: no such weights file, and not the name of an official BiT file (run \`bit weights list\` for the names, e.g. BiT-M-R50x1)`);
  }
  return fetchOfficialWeights(w, opts);
}
