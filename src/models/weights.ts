// Weight IO at the .npz boundary: the official BiT key scheme and layouts
// (HWIO conv kernels, [in, out] dense kernels) on disk, libtorch layouts
// (OIHW, [out, in]) in memory. Official files load by name; saved files use
// the same scheme, so other BiT tools read them.
import { jsonArray, withNpz, writeNpz, type NdArray, type NpzReader } from '../io/npz.js';
import { UsageError } from '../util/errors.js';
import * as T from '../tensor/index.js';
import type { ParamEntry, ParamKind } from '../nn/index.js';
import { overridesOf, type ArchitectureOverrides, type ImageClassifier } from './classifier.js';
import { findOfficialWeights, officialMeta, officialWeightsOfFile, resolveWeights } from './hub.js';
import { getModel } from './registry.js';

/** Some published files name a conv `standardized_conv2d_1` (or another `_N`): same key. */
export function normalizeKey(key: string): string {
  return key.replace(/\/standardized_conv2d_\d+\//g, '/standardized_conv2d/');
}

/** Keys under this prefix are model weights; other top-level names (optimizer/, train/) are not. */
export const MODEL_PREFIX = 'resnet/';

/** The on-disk shape of a parameter of libtorch shape `shape`. */
export function diskShape(shape: readonly number[], kind: ParamKind): number[] {
  if (kind === 'conv') return [shape[2], shape[3], shape[1], shape[0]];
  if (kind === 'dense') return [shape[1], shape[0]];
  return [...shape];
}

/** A parameter as an on-disk array (float32, official layout). */
export function toDiskArray(t: T.Tensor, kind: ParamKind): NdArray {
  return T.tidy(() => {
    let d = t.detach().float();
    if (kind === 'conv') d = d.permute([2, 3, 1, 0]);
    else if (kind === 'dense') d = d.transpose(0, 1);
    const data = d.contiguous().data() as Float32Array;
    return { dtype: 'float32', shape: diskShape(t.shape, kind), data } as NdArray;
  });
}

/** An on-disk array as a tensor of libtorch layout (float arrays only). */
export function fromDiskArray(a: NdArray, kind: ParamKind, where: string): T.Tensor {
  if (a.dtype !== 'float32' && a.dtype !== 'float64') {
    throw new Error(`${where}: expected a floating-point array, found dtype ${a.dtype}`);
  }
  return T.tidy(() => {
    let t = T.tensor(a.data as Float32Array | Float64Array, a.shape).float();
    if (kind === 'conv') t = t.permute([3, 2, 0, 1]);
    else if (kind === 'dense') t = t.transpose(0, 1);
    return t.contiguous();
  });
}

export interface LoadOptions {
  /**
   * 'load': the file's head must match the model's (same head size).
   * 'new': the head is not loaded and stays as initialized (zero for a new task).
   */
  head?: 'load' | 'new';
}

export interface LoadReport {
  loaded: number;
  /** Names in the file outside the model namespace (optimizer state, run state). */
  ignored: string[];
  headLoaded: boolean;
}

function preview(keys: string[]): string {
  return keys.slice(0, 8).join(', ') + (keys.length > 8 ? `, ... (${keys.length} in all)` : '');
}

/** A weights source as the loaders take it: an open reader, a file, or an official name (resolved through the cache). */
async function openable(source: string | NpzReader): Promise<string | NpzReader> {
  return typeof source === 'string' ? resolveWeights(source) : source;
}

/**
 * Loads model weights from an .npz by their official keys, converting layouts.
 * `source` is an open reader, a file, or an official name (`BiT-M-R50x1`:
 * taken from the cache, downloaded on first use; see hub.ts).
 * A missing key, an extra key under `resnet/`, a wrong shape or a non-float
 * array is an error naming the file and the key; nothing is changed then.
 * NaN or infinite values are an error naming the file and the first key that
 * holds them (found while loading: the keys before it are loaded by then).
 */
export async function loadWeights(model: ImageClassifier, source: string | NpzReader, opts: LoadOptions = {}): Promise<LoadReport> {
  return withNpz(await openable(source), async (reader) => {
    const file = reader.path;
    const head = opts.head ?? 'load';
    const byKey = new Map<string, string>(); // normalized -> name in the file
    const ignored: string[] = [];
    for (const k of reader.keys()) {
      const n = normalizeKey(k);
      if (!n.startsWith(MODEL_PREFIX)) ignored.push(k);
      else if (byKey.has(n)) throw new Error(`${file}: keys '${byKey.get(n)}' and '${k}' name the same parameter`);
      else byKey.set(n, k);
    }
    const isHead = (k: string) => k.startsWith(model.headPrefix);
    const wanted = model.store.entries().filter((e) => head === 'load' || !isHead(e.key));
    const missing = wanted.filter((e) => !byKey.has(e.key)).map((e) => e.key);
    if (missing.length) {
      const headOnly = missing.every(isHead);
      throw new Error(
        `${file}: ${missing.length} model key(s) missing: ${preview(missing)}` +
          (headOnly ? ' (the file has no head: load it with a new head, e.g. --head new)' : ' (is this the right model architecture?)'),
      );
    }
    const known = new Set(model.store.entries().map((e) => e.key));
    const extra = [...byKey.keys()].filter((k) => !known.has(k));
    if (extra.length) throw new Error(`${file}: ${extra.length} key(s) the model does not have: ${preview(extra)} (is this the right model architecture?)`);
    // Check every dtype and shape before changing anything.
    for (const e of wanted) {
      const info = await reader.info(byKey.get(e.key)!);
      if (info.dtype !== 'float32' && info.dtype !== 'float64') {
        throw new Error(`${file}: '${byKey.get(e.key)}': expected a floating-point array, found dtype ${info.dtype}`);
      }
      const want = diskShape(e.tensor.shape, e.kind);
      if (info.shape.join() !== want.join()) {
        if (isHead(e.key)) {
          const fileHead = info.shape[info.shape.length - 1];
          throw new Error(
            `${file}: the head has ${fileHead} outputs ('${byKey.get(e.key)}' is [${info.shape.join(', ')}]) but the model was built with head size ${model.headSize}: build it with --head-size ${fileHead}, or load the file with a new head`,
          );
        }
        throw new Error(`${file}: '${byKey.get(e.key)}' has shape [${info.shape.join(', ')}], the model expects [${want.join(', ')}]`);
      }
    }
    for (const e of wanted) await loadEntry(reader, byKey.get(e.key)!, e, file);
    return { loaded: wanted.length, ignored, headLoaded: head === 'load' };
  });
}

/** Whether every value of `t` is finite (one pass in libtorch). */
export function allFinite(t: T.Tensor): boolean {
  return T.tidy(() => t.isfinite().all().item() !== 0);
}

/** NaN or infinite values where weights are loaded: the file, and the first key that holds them. */
export class NonFiniteWeightsError extends Error {
  override name = 'NonFiniteWeightsError';
}

/**
 * Copies the on-disk array `a` (key `key` of `file`) into `target`, converting
 * its layout; NaN or infinite values are a NonFiniteWeightsError naming the
 * file and the key, and `target` is left as it was.
 */
export function copyFromDisk(target: T.Tensor, a: NdArray, kind: ParamKind, file: string, key: string): void {
  T.tidy(() =>
    T.noGrad(() => {
      const t = fromDiskArray(a, kind, `${file}: '${key}'`);
      if (!allFinite(t))
        throw new NonFiniteWeightsError(
          `${file}: '${key}' holds NaN or infinite values: the file is damaged or was saved from a diverged run (first such key)`,
        );
      target.copy_(t);
    }),
  );
}

async function loadEntry(reader: NpzReader, name: string, e: ParamEntry, file: string): Promise<void> {
  copyFromDisk(e.tensor, await reader.read(name), e.kind, file, name);
}

/** Every model parameter as [key, on-disk array], converted one at a time. */
export function* modelArrays(model: ImageClassifier): Generator<[string, NdArray]> {
  for (const e of model.store.entries()) yield [e.key, toDiskArray(e.tensor, e.kind)];
}

/**
 * Saves the model in the official BiT key scheme (plus `extra` entries, such
 * as optimizer state), atomically: a reader never sees a half-written file.
 */
export async function saveWeights(
  model: ImageClassifier,
  file: string,
  extra: Iterable<[string, NdArray]> = [],
  opts: { compress?: boolean } = {},
): Promise<void> {
  function* all(): Generator<[string, NdArray]> {
    yield* modelArrays(model);
    yield* extra;
  }
  await writeNpz(file, all(), { compress: opts.compress ?? false });
}

/**
 * What this project's weights say of themselves (`bit/meta`, stored beside
 * the weights): what they are, how to feed them, and the architecture
 * overrides they were trained with.
 */
export interface ModelMeta extends ArchitectureOverrides {
  model: string;
  headSize: number;
  classNames?: readonly string[];
  /** Input resolution the head was trained at (eval resizes to crop x crop). */
  crop?: number;
  data?: string;
}

export const META_KEY = 'bit/meta';

export function metaArray(meta: ModelMeta): [string, NdArray] {
  return [META_KEY, jsonArray(meta)];
}

/**
 * The metadata of a weights file (an open reader, a path or an official
 * name): its own, or for an official BiT file (by name, or a copy named as
 * published) what the catalogue says of it; null for other files without it.
 */
export async function readMeta(source: string | NpzReader): Promise<ModelMeta | null> {
  const official = typeof source === 'string' ? (findOfficialWeights(source) ?? officialWeightsOfFile(source)) : officialWeightsOfFile(source.path);
  return withNpz(await openable(source), async (reader) => {
    const meta = await reader.readJson<ModelMeta>(META_KEY);
    if (meta === undefined) return official ? officialMeta(official) : null;
    if (typeof meta !== 'object' || meta === null || typeof meta.model !== 'string' || typeof meta.headSize !== 'number') {
      throw new Error(`${reader.path}: '${META_KEY}' is not this project's model metadata (expected {model, headSize, ...})`);
    }
    return meta;
  });
}

/**
 * Builds the model a weights file holds and loads it (eval mode). The model
 * and head size come from the file's metadata, or from `modelName` /
 * `headSize` (needed for the official BiT files, which have no metadata).
 */
export async function loadModel(weights: string, modelName?: string, headSize?: number): Promise<{ model: ImageClassifier; meta: ModelMeta | null }> {
  const file = await resolveWeights(weights);
  return withNpz(file, async (reader) => {
    const meta = await readMeta(reader);
    const name = modelName ?? meta?.model;
    if (!name) throw new UsageError(`${weights} does not say which model it holds (official BiT files don't): pass --model NAME`);
    const entry = getModel(name);
    const model = entry.build({ headSize: headSize ?? meta?.headSize ?? entry.defaultHeadSize, ...overridesOf(meta ?? {}) }).eval();
    try {
      await loadWeights(model, reader);
    } catch (err) {
      model.dispose();
      throw err;
    }
    return { model, meta };
  });
}
