/**
 * Dataset spec strings, as given on the command line:
 *
 *   SOURCE[?OPTION=VALUE[&OPTION=VALUE...]]
 *
 * SOURCE is one of
 *   mnist | fashion-mnist | digits     built-in datasets (builtin.ts)
 *   folder:DIR                         DIR/{train,test,val}/<class>/<image> (folder.ts)
 *   idx:DIR                            IDX files like MNIST's (idx.ts)
 *   multilabel:DIR                     DIR/classes.txt, DIR/train.tsv, DIR/images/ (multilabel.ts)
 *   DIR                                a path (holding '/' or starting with '.' or '~'), recognised
 *                                      by its content: multilabel if it has classes.txt and
 *                                      train.tsv, idx if it has train-images-idx3-ubyte[.gz],
 *                                      else folder
 * OPTIONs (applied to the train split, in this order):
 *   val=N|F        hold out N samples (or a fraction F < 1) of train as the 'val' split,
 *                  stratified; the rest stays 'train'
 *   val-seed=S     seed of that split (default 0)
 *   fraction=F     keep a stratified fraction F of train (e.g. 0.1)
 *   shots=K        keep exactly K samples per class of train (k-shot)
 *   seed=S         seed of fraction and shots (default 0)
 *   skip-bad=1     leave out unreadable images (checked at open time) instead of failing
 *                  (1/true or 0/false; the bare key means 1)
 * Each option may be given once. A malformed spec is a DataSpecError (a usage error).
 * (val= takes precedence over a DIR/val folder, which is then not used.)
 *
 * Examples: `mnist`, `digits?shots=10&seed=3`, `folder:/data/pets?val=0.1`, `/data/flowers`.
 * A DatasetSpec is plain JSON and formats back to the same string.
 */
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openDigits, openFashionMnist, openIdxFolder, openMnist } from './builtin.js';
import type { Dataset } from './dataset.js';
import { DataError, DataSpecError, messageOf } from './errors.js';
import { openImageFolder } from './folder.js';
import { isMultiLabelFolder, openMultiLabel } from './multilabel.js';
import { checkSeed } from './rng.js';
import { fractionSubset, holdOut, kShotSubset } from './subsets.js';

export type SourceSpec =
  | { readonly kind: 'mnist' }
  | { readonly kind: 'fashion-mnist' }
  | { readonly kind: 'digits' }
  | { readonly kind: 'folder'; readonly dir: string }
  | { readonly kind: 'idx'; readonly dir: string }
  | { readonly kind: 'multilabel'; readonly dir: string };

export interface DatasetSpec {
  readonly source: SourceSpec;
  /** Hold out this many train samples (a count, or a fraction if < 1) as the val split. */
  readonly val?: number;
  readonly valSeed?: number;
  /** Keep this fraction of train. */
  readonly fraction?: number;
  /** Keep exactly this many samples per class of train. */
  readonly shots?: number;
  /** Seed of fraction and shots. */
  readonly seed?: number;
  readonly skipBadImages?: boolean;
}

export type Split = 'train' | 'val' | 'test';

const BUILTIN = { mnist: 'mnist', 'fashion-mnist': 'fashion-mnist', fashion_mnist: 'fashion-mnist', digits: 'digits' } as const;

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}

function looksLikePath(s: string): boolean {
  return s.includes('/') || s.includes(path.sep) || s.startsWith('.') || s.startsWith('~');
}

function hasIdxTrain(dir: string): boolean {
  return ['train-images-idx3-ubyte', 'train-images.idx3-ubyte'].some((n) => existsSync(path.join(dir, n)) || existsSync(path.join(dir, n + '.gz')));
}

function parseNumber(key: string, value: string, spec: string): number {
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v)) throw new DataSpecError(`dataset spec '${spec}': option ${key} must be a number, but got '${value}'`);
  return v;
}

function parseSeed(key: string, value: string, spec: string): number {
  const v = parseNumber(key, value, spec);
  try {
    checkSeed(v, key);
  } catch (err) {
    throw new DataSpecError(`dataset spec '${spec}': ${messageOf(err)}`);
  }
  return v;
}

/** A boolean option: 1/true, 0/false, or the bare key (true). */
function parseBoolean(key: string, value: string, spec: string): boolean {
  if (value === '' || value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw new DataSpecError(`dataset spec '${spec}': option ${key} must be 1, 0, true or false, but got '${value}'`);
}

/** Parses a spec string (grammar at the top of this file). Bare paths are resolved and recognised now. */
export function parseDataSpec(text: string): DatasetSpec {
  const q = text.indexOf('?');
  const head = (q < 0 ? text : text.slice(0, q)).trim();
  const query = q < 0 ? '' : text.slice(q + 1);
  if (head === '') throw new DataSpecError(`empty dataset spec: expected mnist, fashion-mnist, digits, a folder path, folder:DIR, idx:DIR or multilabel:DIR`);
  let source: SourceSpec;
  const colon = head.indexOf(':');
  const prefix = colon > 0 ? head.slice(0, colon).toLowerCase() : '';
  if (prefix === 'folder' || prefix === 'idx' || prefix === 'multilabel') {
    const dir = path.resolve(expandHome(head.slice(colon + 1)));
    if (head.slice(colon + 1) === '') throw new DataSpecError(`dataset spec '${text}': ${prefix}: needs a folder path after the colon`);
    source = { kind: prefix, dir };
  } else if (Object.hasOwn(BUILTIN, head.toLowerCase())) {
    source = { kind: BUILTIN[head.toLowerCase() as keyof typeof BUILTIN] };
  } else if (looksLikePath(head) || existsSync(head)) {
    const dir = path.resolve(expandHome(head));
    if (!existsSync(dir)) throw new DataError(`dataset folder ${dir} does not exist (from dataset spec '${text}')`, { path: dir });
    source = isMultiLabelFolder(dir) ? { kind: 'multilabel', dir } : hasIdxTrain(dir) ? { kind: 'idx', dir } : { kind: 'folder', dir };
  } else {
    throw new DataSpecError(`unknown dataset '${head}': expected mnist, fashion-mnist, digits, a folder path, folder:DIR, idx:DIR or multilabel:DIR`);
  }
  const spec: { -readonly [K in keyof DatasetSpec]: DatasetSpec[K] } = { source };
  const given = new Set<string>();
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const value = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (given.has(key)) throw new DataSpecError(`dataset spec '${text}': option ${key} is given more than once: give it once`);
    given.add(key);
    switch (key) {
      case 'val':
        spec.val = parseNumber(key, value, text);
        break;
      case 'val-seed':
        spec.valSeed = parseSeed(key, value, text);
        break;
      case 'fraction':
        spec.fraction = parseNumber(key, value, text);
        break;
      case 'shots':
        spec.shots = parseNumber(key, value, text);
        break;
      case 'seed':
        spec.seed = parseSeed(key, value, text);
        break;
      case 'skip-bad':
        // off is the default, left unset so that the spec formats back to the same string
        if (parseBoolean(key, value, text)) spec.skipBadImages = true;
        break;
      default:
        throw new DataSpecError(`dataset spec '${text}': unknown option '${key}': expected val, val-seed, fraction, shots, seed or skip-bad`);
    }
  }
  if (spec.fraction !== undefined && !(spec.fraction > 0 && spec.fraction <= 1))
    throw new DataSpecError(`dataset spec '${text}': fraction must be in (0, 1], but got ${spec.fraction}`);
  if (spec.shots !== undefined && !(Number.isInteger(spec.shots) && spec.shots >= 1))
    throw new DataSpecError(`dataset spec '${text}': shots must be a whole number >= 1, but got ${spec.shots}`);
  if (spec.val !== undefined && !(spec.val > 0 && (spec.val < 1 || Number.isInteger(spec.val))))
    throw new DataSpecError(`dataset spec '${text}': val must be a count >= 1 or a fraction in (0, 1), but got ${spec.val}`);
  return spec;
}

/** The spec string of a spec (parseDataSpec(formatDataSpec(s)) equals s). */
export function formatDataSpec(spec: DatasetSpec): string {
  const s = spec.source;
  let out = s.kind === 'mnist' || s.kind === 'fashion-mnist' || s.kind === 'digits' ? s.kind : `${s.kind}:${s.dir}`;
  const opts: string[] = [];
  if (spec.val !== undefined) opts.push(`val=${spec.val}`);
  if (spec.valSeed !== undefined) opts.push(`val-seed=${spec.valSeed}`);
  if (spec.fraction !== undefined) opts.push(`fraction=${spec.fraction}`);
  if (spec.shots !== undefined) opts.push(`shots=${spec.shots}`);
  if (spec.seed !== undefined) opts.push(`seed=${spec.seed}`);
  if (spec.skipBadImages === true) opts.push('skip-bad=1');
  if (opts.length > 0) out += '?' + opts.join('&');
  return out;
}

/** A split as the source ships it (no options applied). 'val' only where the source has one. */
async function openSourceSplit(spec: DatasetSpec, split: Split): Promise<Dataset> {
  const s = spec.source;
  const skipBadImages = spec.skipBadImages === true;
  if (split === 'val' && (s.kind === 'mnist' || s.kind === 'fashion-mnist' || s.kind === 'digits' || s.kind === 'idx')) {
    throw new DataError(
      `${formatDataSpec(spec)} has no val split: carve one from train with the option val=N (a count) or val=F (a fraction), e.g. '${formatDataSpec({ ...spec, val: 0.1 })}'`,
    );
  }
  const fixed = split === 'val' ? 'test' : split;
  switch (s.kind) {
    case 'mnist':
      return openMnist(fixed);
    case 'fashion-mnist':
      return openFashionMnist(fixed);
    case 'digits':
      return openDigits(fixed);
    case 'idx':
      return openIdxFolder(s.dir, fixed);
    case 'folder':
      return openImageFolder(s.dir, split, { skipBadImages });
    case 'multilabel':
      return openMultiLabel(s.dir, split, { skipBadImages });
  }
}

/**
 * Opens a split of a dataset spec. 'train' has the options applied (val
 * held out, then fraction, then shots); 'val' is the held-out slice when the
 * spec asks for one, else the source's own val split; 'test' is the source's
 * test split.
 */
export async function openDataset(spec: DatasetSpec, split: Split): Promise<Dataset> {
  if (split !== 'train' && split !== 'val' && split !== 'test') throw new DataError(`unknown split '${String(split)}': expected train, val or test`);
  if (split === 'test') return openSourceSplit(spec, 'test');
  if (split === 'val' && spec.val === undefined) return openSourceSplit(spec, 'val');
  let ds = await openSourceSplit(spec, 'train');
  if (spec.val !== undefined) {
    const parts = holdOut(ds, spec.val, spec.valSeed ?? 0);
    if (split === 'val') return parts.val;
    ds = parts.train;
  }
  return trainSubsets(ds, spec);
}

/** The spec's fraction, then its k-shot draw, of a training set. */
function trainSubsets(ds: Dataset, spec: DatasetSpec): Dataset {
  if (spec.fraction !== undefined) ds = fractionSubset(ds, spec.fraction, spec.seed ?? 0);
  if (spec.shots !== undefined) ds = kShotSubset(ds, spec.shots, spec.seed ?? 0);
  return ds;
}

/**
 * What a training run opens: the 'train' split now, and its evaluation split
 * ('none': null) when asked. A val slice held out of the training split comes
 * from the same read of the source (`openDataset` twice would read it twice).
 */
export async function openForTraining(spec: DatasetSpec, evalSplit: Split | 'none'): Promise<{ train: Dataset; openEval: () => Promise<Dataset | null> }> {
  if (evalSplit === 'val' && spec.val !== undefined) {
    const parts = holdOut(await openSourceSplit(spec, 'train'), spec.val, spec.valSeed ?? 0);
    return { train: trainSubsets(parts.train, spec), openEval: () => Promise.resolve(parts.val) };
  }
  const train = await openDataset(spec, 'train');
  return { train, openEval: () => (evalSplit === 'none' ? Promise.resolve(null) : openDataset(spec, evalSplit)) };
}
