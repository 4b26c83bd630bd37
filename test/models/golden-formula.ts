// The weight and input formula of test/fixtures/bit-golden/README.md, written
// from that README alone (independent of the project's model code): official
// BiT keys and HWIO shapes for any block units, width and head size.
import { writeNpz, type NdArray } from '../../src/io/npz.js';

/** FNV-1a over the UTF-8 bytes of s, 32-bit. */
export function fnv1a(s: string): number {
  let h = 2166136261;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h >>> 0;
}

/** n values in [-1, 1): the README's counter hash, rounded to float32. */
export function uniform(seed: number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let h = (Math.imul(i, 0x9e3779b1) + seed) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
    out[i] = ((h >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** The official key -> HWIO shape list of a BiT ResNet-v2. */
export function officialShapes(blockUnits: readonly number[], wf: number, head: number): Map<string, number[]> {
  const m = new Map<string, number[]>();
  m.set('resnet/root_block/standardized_conv2d/kernel', [7, 7, 3, 64 * wf]);
  let cin = 64 * wf;
  blockUnits.forEach((units, b) => {
    const cmid = [64, 128, 256, 512][b] * wf;
    const cout = 4 * cmid;
    for (let u = 1; u <= units; u++) {
      const p = `resnet/block${b + 1}/unit${String(u).padStart(2, '0')}/`;
      m.set(p + 'a/group_norm/gamma', [cin]);
      m.set(p + 'a/group_norm/beta', [cin]);
      m.set(p + 'a/standardized_conv2d/kernel', [1, 1, cin, cmid]);
      m.set(p + 'b/group_norm/gamma', [cmid]);
      m.set(p + 'b/group_norm/beta', [cmid]);
      m.set(p + 'b/standardized_conv2d/kernel', [3, 3, cmid, cmid]);
      m.set(p + 'c/group_norm/gamma', [cmid]);
      m.set(p + 'c/group_norm/beta', [cmid]);
      m.set(p + 'c/standardized_conv2d/kernel', [1, 1, cmid, cout]);
      if (u === 1) m.set(p + 'a/proj/standardized_conv2d/kernel', [1, 1, cin, cout]);
      cin = cout;
    }
  });
  m.set('resnet/group_norm/gamma', [2048 * wf]);
  m.set('resnet/group_norm/beta', [2048 * wf]);
  m.set('resnet/head/conv2d/kernel', [1, 1, 2048 * wf, head]);
  m.set('resnet/head/conv2d/bias', [head]);
  return m;
}

/** The value array of one key, by the README's rules. */
export function formulaValues(key: string, shape: readonly number[]): Float32Array {
  const u = uniform(
    fnv1a(key),
    shape.reduce((a, b) => a * b, 1),
  );
  if (key.endsWith('/gamma')) return u.map((v) => 1 + 0.25 * v);
  if (key.endsWith('/beta')) return u.map((v) => 0.25 * v);
  if (key.includes('/head/')) return u.map((v) => 0.05 * v);
  return u;
}

/** The input batch, NHWC, already in [-1, 1]. */
export function formulaInput(batch: number, res: number): Float32Array {
  return uniform(fnv1a('input'), batch * res * res * 3);
}

/** Writes the formula weights of an architecture as an official-style .npz (HWIO kernels). */
export async function writeFormulaWeights(file: string, blockUnits: number[], wf: number, head: number, rename = false): Promise<void> {
  function* arrays(): Generator<[string, NdArray]> {
    for (const [key, shape] of officialShapes(blockUnits, wf, head)) {
      // Some published files name convs standardized_conv2d_N: the loader must accept them.
      const name = rename ? key.replace('/a/standardized_conv2d/', '/a/standardized_conv2d_1/') : key;
      yield [name, { dtype: 'float32', shape, data: formulaValues(key, shape) }];
    }
  }
  await writeNpz(file, arrays());
}
