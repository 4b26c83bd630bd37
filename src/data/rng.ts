// Counter-based randomness for the data layer: every random decision (an
// epoch's shuffle, a sample's crop and flip, a k-shot draw) is a pure function
// of (seed, purpose, counter), so results do not depend on the order in which
// workers run, on how many there are, or on where a run was resumed.
//
// The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers: as
// easy as 1, 2, 3", SC 2011), checked against the known-answer vectors of the
// Random123 library in test/data/rng.test.ts.
import { DataError } from './errors.js';

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9;
const PHILOX_W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32 values. */
function mulhi32(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 0x10000)) >>> 0;
}

/**
 * Philox4x32 with 10 rounds: 4 uint32 counter words and 2 uint32 key words in,
 * 4 uniformly distributed uint32 words out (written to `out`, also returned).
 */
export function philox4x32(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array = new Uint32Array(4)): Uint32Array {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let key0 = k0 >>> 0;
  let key1 = k1 >>> 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      key0 = (key0 + PHILOX_W0) >>> 0;
      key1 = (key1 + PHILOX_W1) >>> 0;
    }
    const hi0 = mulhi32(PHILOX_M0, x0);
    const lo0 = Math.imul(PHILOX_M0, x0) >>> 0;
    const hi1 = mulhi32(PHILOX_M1, x2);
    const lo1 = Math.imul(PHILOX_M1, x2) >>> 0;
    x0 = (hi1 ^ x1 ^ key0) >>> 0;
    x1 = lo1;
    x2 = (hi0 ^ x3 ^ key1) >>> 0;
    x3 = lo0;
  }
  out[0] = x0;
  out[1] = x1;
  out[2] = x2;
  out[3] = x3;
  return out;
}

/**
 * What a random stream is used for. Each purpose is a separate stream, so
 * e.g. changing the k-shot draw never changes the augmentation. The values are
 * part of the reproducibility contract: never renumber them.
 */
export const RandomPurpose = {
  epochPermutation: 1,
  augment: 2,
  kShot: 3,
  fraction: 4,
  holdout: 5,
  digitsSplit: 6,
  mixup: 7,
  mixupPermutation: 8,
} as const;
export type RandomPurpose = (typeof RandomPurpose)[keyof typeof RandomPurpose];

/** Throws unless `seed` is an integer in [0, 2^53). */
export function checkSeed(seed: number, what = 'seed'): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new DataError(`${what} must be an integer in [0, 2^53), but got ${seed}`);
  }
}

/**
 * The 4 random words for (seed, purpose, a, b): Philox with key = the seed's
 * low and high 32 bits and counter = (a mod 2^32, floor(a / 2^32), b, purpose).
 * `a` may be any safe non-negative integer (e.g. a position in a stream of
 * samples that spans many epochs).
 */
export function randomWords(seed: number, purpose: RandomPurpose, a: number, b: number, out?: Uint32Array): Uint32Array {
  return philox4x32(a >>> 0, Math.floor(a / 0x100000000) >>> 0, b >>> 0, purpose, seed >>> 0, Math.floor(seed / 0x100000000) >>> 0, out);
}

/** An integer uniform in [0, m) from two random words (53 bits of resolution). */
export function uniformInt(hi: number, lo: number, m: number): number {
  const u = ((hi >>> 5) * 67108864 + (lo >>> 6)) / 9007199254740992;
  return Math.floor(u * m);
}

/** A float uniform in [0, 1) from one random word (32 bits of resolution). */
export function uniformUnit(word: number): number {
  return (word >>> 0) / 4294967296;
}

/** An integer uniform in [0, m) from one random word; exact for m <= 2^21. */
export function uniformInt32(word: number, m: number): number {
  return Math.floor(((word >>> 0) * m) / 4294967296);
}

/**
 * Shuffles `values` in place (Fisher-Yates, from the last element down), with
 * the random stream (seed, purpose, stream). Deterministic for a given input.
 */
export function shuffleInPlace(values: Int32Array, seed: number, purpose: RandomPurpose, stream: number): Int32Array {
  const words = new Uint32Array(4);
  let draw = 0;
  for (let i = values.length - 1; i > 0; i--, draw++) {
    if ((draw & 1) === 0) randomWords(seed, purpose, draw >>> 1, stream, words);
    const base = (draw & 1) * 2;
    const j = uniformInt(words[base], words[base + 1], i + 1);
    const t = values[i];
    values[i] = values[j];
    values[j] = t;
  }
  return values;
}

/** A permutation of 0..n-1 drawn from the stream (seed, purpose, stream). */
export function permutation(n: number, seed: number, purpose: RandomPurpose, stream: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return shuffleInPlace(p, seed, purpose, stream);
}
