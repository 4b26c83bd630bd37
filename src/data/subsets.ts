// Seeded subsets of a dataset: a held-out validation slice, a fraction, and
// k-shot draws. All are stratified for single-label data (each class keeps
// its share) and reproducible: a class's samples are shuffled with the stream
// (seed, purpose, class) and the first ones taken, so for one seed a smaller
// draw is contained in a larger one (the 5-shot set is inside the 10-shot set).
// Subset samples keep the parent's order (ascending index).
import { Dataset } from './dataset.js';
import { DataError } from './errors.js';
import { checkSeed, permutation, RandomPurpose, shuffleInPlace } from './rng.js';

/** Indices of each class, ascending. */
export function indicesByClass(labels: Int32Array, numClasses: number): Int32Array[] {
  const counts = new Int32Array(numClasses);
  for (const l of labels) counts[l]++;
  const out = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(numClasses);
  for (let i = 0; i < labels.length; i++) out[labels[i]][fill[labels[i]]++] = i;
  return out;
}

/**
 * Splits `total` over classes in proportion to their sizes: floor of each
 * share, then the remaining units to the largest remainders (ties: lower
 * class index first).
 */
export function proportionalCounts(classSizes: Int32Array, total: number): Int32Array {
  const n = classSizes.reduce((a, b) => a + b, 0);
  const out = new Int32Array(classSizes.length);
  if (n === 0) return out;
  const rem: { c: number; r: number }[] = [];
  let assigned = 0;
  for (let c = 0; c < classSizes.length; c++) {
    const exact = (total * classSizes[c]) / n;
    out[c] = Math.floor(exact);
    assigned += out[c];
    rem.push({ c, r: exact - out[c] });
  }
  rem.sort((a, b) => b.r - a.r || a.c - b.c);
  for (let k = 0; k < total - assigned; k++) out[rem[k].c]++;
  return out;
}

/**
 * Draws `perClass[c]` samples of each class c with the stream (seed, purpose,
 * c); returns the chosen indices and the rest, both ascending.
 */
export function stratifiedDraw(
  labels: Int32Array,
  numClasses: number,
  perClass: Int32Array,
  seed: number,
  purpose: RandomPurpose,
): { chosen: Int32Array; rest: Int32Array } {
  const byClass = indicesByClass(labels, numClasses);
  const mark = new Uint8Array(labels.length);
  let k = 0;
  for (let c = 0; c < numClasses; c++) {
    const idx = shuffleInPlace(byClass[c].slice(), seed, purpose, c);
    for (let j = 0; j < perClass[c]; j++) mark[idx[j]] = 1;
    k += perClass[c];
  }
  return splitByMark(mark, k);
}

function splitByMark(mark: Uint8Array, k: number): { chosen: Int32Array; rest: Int32Array } {
  const chosen = new Int32Array(k);
  const rest = new Int32Array(mark.length - k);
  let a = 0;
  let b = 0;
  for (let i = 0; i < mark.length; i++) {
    if (mark[i] === 1) chosen[a++] = i;
    else rest[b++] = i;
  }
  return { chosen, rest };
}

/** Draws `count` samples: stratified for single-label data, uniformly for multi-label data. */
function drawCount(ds: Dataset, count: number, seed: number, purpose: RandomPurpose): { chosen: Int32Array; rest: Int32Array } {
  if (ds.labels !== null) {
    const counts = proportionalCounts(ds.classCounts(), count);
    return stratifiedDraw(ds.labels, ds.numClasses, counts, seed, purpose);
  }
  const perm = permutation(ds.length, seed, purpose, 0);
  const mark = new Uint8Array(ds.length);
  for (let j = 0; j < count; j++) mark[perm[j]] = 1;
  return splitByMark(mark, count);
}

/** How many samples `size` asks for: a count (integer >= 1) or a fraction (0 < size < 1). */
export function resolveSize(size: number, n: number, what: string): number {
  if (!(size > 0) || !Number.isFinite(size)) throw new DataError(`${what} must be a count >= 1 or a fraction in (0, 1), but got ${size}`);
  if (size < 1) return Math.max(1, Math.round(size * n));
  if (!Number.isInteger(size)) throw new DataError(`${what} must be a whole count when >= 1, but got ${size}`);
  return size;
}

/**
 * Carves a validation slice from `ds` (usually the train split): `size`
 * samples (a count, or a fraction if < 1), stratified by class, seeded.
 * Returns the remaining training samples and the validation slice.
 */
export function holdOut(ds: Dataset, size: number, seed: number): { train: Dataset; val: Dataset } {
  checkSeed(seed, 'validation seed');
  const count = resolveSize(size, ds.length, 'validation size');
  if (count >= ds.length) {
    throw new DataError(`${ds.name}: cannot hold out ${count} validation samples from ${ds.length}: at least one must stay for training`);
  }
  const { chosen, rest } = drawCount(ds, count, seed, RandomPurpose.holdout);
  return {
    train: ds.subset(rest, `${ds.name}[minus val ${count} seed ${seed}]`),
    val: ds.subset(chosen, `${ds.name}[val ${count} seed ${seed}]`),
  };
}

/**
 * A seeded, stratified fraction of `ds` (e.g. 0.1 for "10% of the upstream
 * data"): round(fraction * length) samples, at least 1.
 */
export function fractionSubset(ds: Dataset, fraction: number, seed: number): Dataset {
  checkSeed(seed);
  if (!(fraction > 0 && fraction <= 1)) throw new DataError(`fraction must be in (0, 1], but got ${fraction}`);
  if (fraction === 1) return ds;
  const count = Math.max(1, Math.round(fraction * ds.length));
  return ds.subset(drawCount(ds, count, seed, RandomPurpose.fraction).chosen, `${ds.name}[${fraction * 100}% seed ${seed}]`);
}

/**
 * Exactly `k` samples of every class, drawn with `seed` (single-label data).
 * Errors naming the class when one has fewer than k samples.
 */
export function kShotSubset(ds: Dataset, k: number, seed: number): Dataset {
  return ds.subset(kShotIndices(ds, k, seed), `${ds.name}[${k}-shot seed ${seed}]`);
}

/** The indices (ascending) of the k-shot draw `kShotSubset` makes. */
export function kShotIndices(ds: Dataset, k: number, seed: number): Int32Array {
  checkSeed(seed);
  if (!Number.isInteger(k) || k < 1) throw new DataError(`k-shot needs a whole k >= 1, but got ${k}`);
  const labels = ds.requireLabels('a k-shot subset');
  const counts = ds.classCounts();
  const short: string[] = [];
  for (let c = 0; c < ds.numClasses; c++) {
    if (counts[c] < k) short.push(`'${ds.classNames[c]}' (class ${c}) has ${counts[c]}`);
  }
  if (short.length > 0) {
    throw new DataError(`${ds.name}: ${k}-shot needs ${k} examples of every class, but ${short.join(', ')}`);
  }
  const perClass = new Int32Array(ds.numClasses).fill(k);
  return stratifiedDraw(labels, ds.numClasses, perClass, seed, RandomPurpose.kShot).chosen;
}
