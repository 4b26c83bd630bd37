// Weight IO errors: missing, extra, misshapen, wrong head, corrupt files; head replacement.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { readNpz, writeNpz } from '../../src/io/npz.js';
import { buildModel, loadModel, loadWeights, META_KEY, metaArray, normalizeKey, readMeta, saveWeights } from '../../src/models/index.js';
import * as T from '../../src/tensor/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bit-weights-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function savedTiny(head = 10): Promise<string> {
  T.manualSeed(1);
  const m = buildModel('BiT-Tiny', { headSize: head, zeroHead: false });
  const file = path.join(dir, `tiny-${head}.npz`);
  await saveWeights(m, file);
  m.dispose();
  return file;
}

test('standardized_conv2d_N keys normalize to standardized_conv2d', () => {
  assert.equal(normalizeKey('resnet/block1/unit01/a/standardized_conv2d_1/kernel'), 'resnet/block1/unit01/a/standardized_conv2d/kernel');
  assert.equal(normalizeKey('resnet/head/conv2d/kernel'), 'resnet/head/conv2d/kernel');
});

test('saved files hold HWIO kernels under the official keys', async () => {
  const arrays = await readNpz(await savedTiny());
  assert.deepEqual(arrays.get('resnet/root_block/standardized_conv2d/kernel')!.shape, [7, 7, 3, 16]);
  assert.deepEqual(arrays.get('resnet/block1/unit01/b/standardized_conv2d/kernel')!.shape, [3, 3, 16, 16]);
  assert.deepEqual(arrays.get('resnet/head/conv2d/kernel')!.shape, [1, 1, 512, 10]);
});

test('a head of another size is explained; a new head loads everything else and stays zero', async () => {
  const file = await savedTiny(10);
  const m = buildModel('BiT-Tiny', { headSize: 3 });
  try {
    await assert.rejects(
      loadWeights(m, file),
      /the head has 10 outputs .* but the model was built with head size 3: build it with --head-size 10, or load the file with a new head/,
    );
    const r = await loadWeights(m, file, { head: 'new' });
    assert.equal(r.headLoaded, false);
    const headAbs = T.tidy(() => m.store.get('resnet/head/conv2d/kernel')!.tensor.abs().sum().item());
    assert.equal(headAbs, 0);
  } finally {
    m.dispose();
  }
});

test('missing, extra and misshapen keys name the file and the key; the model is unchanged', async () => {
  const file = await savedTiny();
  const arrays = await readNpz(file);
  const m = buildModel('BiT-Tiny');
  const before = T.tidy(() => m.store.get('resnet/root_block/standardized_conv2d/kernel')!.tensor.sum().item());
  try {
    const missing = new Map(arrays);
    missing.delete('resnet/block2/unit01/b/group_norm/gamma');
    const f1 = path.join(dir, 'missing.npz');
    await writeNpz(f1, missing);
    await assert.rejects(
      loadWeights(m, f1),
      new RegExp(`${f1.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 1 model key\\(s\\) missing: resnet/block2/unit01/b/group_norm/gamma`),
    );
    const extra = new Map(arrays);
    extra.set('resnet/block5/unit01/a/group_norm/gamma', { dtype: 'float32', shape: [4], data: new Float32Array(4) });
    const f2 = path.join(dir, 'extra.npz');
    await writeNpz(f2, extra);
    await assert.rejects(loadWeights(m, f2), /1 key\(s\) the model does not have: resnet\/block5\/unit01\/a\/group_norm\/gamma/);
    const bad = new Map(arrays);
    bad.set('resnet/block1/unit01/a/standardized_conv2d/kernel', { dtype: 'float32', shape: [1, 1, 16, 8], data: new Float32Array(128) });
    const f3 = path.join(dir, 'shape.npz');
    await writeNpz(f3, bad);
    await assert.rejects(
      loadWeights(m, f3),
      /'resnet\/block1\/unit01\/a\/standardized_conv2d\/kernel' has shape \[1, 1, 16, 8\], the model expects \[1, 1, 16, 16\]/,
    );
    const ints = new Map(arrays);
    ints.set('resnet/group_norm/beta', { dtype: 'int64', shape: [512], data: new BigInt64Array(512) });
    const f4 = path.join(dir, 'ints.npz');
    await writeNpz(f4, ints);
    await assert.rejects(loadWeights(m, f4), /'resnet\/group_norm\/beta': expected a floating-point array, found dtype int64/);
    const after = T.tidy(() => m.store.get('resnet/root_block/standardized_conv2d/kernel')!.tensor.sum().item());
    assert.equal(after, before);
  } finally {
    m.dispose();
  }
});

test('corrupt and truncated files are clear errors, never crashes', async () => {
  const m = buildModel('BiT-Tiny');
  try {
    const junk = path.join(dir, 'junk.npz');
    writeFileSync(junk, Buffer.from('this is not a zip file at all'));
    await assert.rejects(loadWeights(m, junk), /junk\.npz/);
    await assert.rejects(loadWeights(m, path.join(dir, 'absent.npz')), /ENOENT|absent\.npz/);
  } finally {
    m.dispose();
  }
});

test('a model built otherwise than its entry (plain convs) records it, and loadModel rebuilds the same function', async () => {
  T.manualSeed(3);
  const plain = buildModel('BiT-Tiny', { standardize: false, zeroHead: false });
  const file = path.join(dir, 'tiny-plain.npz');
  try {
    assert.deepEqual(plain.overrides, { standardize: false });
    await saveWeights(plain, file, [metaArray({ model: 'BiT-Tiny', headSize: plain.headSize, ...plain.overrides })]);
    assert.deepEqual((await readMeta(file))?.standardize, false);
    const x = T.tidy(() => T.keep(T.randn([2, 3, 32, 32])));
    const { model } = await loadModel(file);
    const entryDefault = buildModel('BiT-Tiny');
    try {
      plain.eval();
      const [want, got] = T.tidy(() => T.noGrad(() => [plain, model].map((m) => m.forward(x).toArray())));
      assert.deepEqual(got, want, 'the rebuilt model computes what the saved one did');
      await assert.rejects(loadWeights(entryDefault, file), /tiny-plain\.npz: 17 model key\(s\) missing: resnet\/root_block\/standardized_conv2d\/kernel/);
    } finally {
      model.dispose();
      entryDefault.dispose();
      x.dispose();
    }
  } finally {
    plain.dispose();
  }
});

test('metadata that is not JSON, or not model metadata, is an error naming the file and the key', async () => {
  const arrays = await readNpz(await savedTiny());
  const bytes = (text: string) => {
    const data = new TextEncoder().encode(text);
    return { dtype: 'uint8' as const, shape: [data.length], data };
  };
  const notJson = path.join(dir, 'meta-not-json.npz');
  await writeNpz(notJson, new Map([...arrays, [META_KEY, bytes('{"model": "BiT-Tiny", ')]]));
  await assert.rejects(readMeta(notJson), /meta-not-json\.npz.*bit\/meta.*not a JSON document/);
  await assert.rejects(loadModel(notJson), /meta-not-json\.npz.*not a JSON document/);
  const notMeta = path.join(dir, 'meta-not-meta.npz');
  await writeNpz(notMeta, new Map([...arrays, [META_KEY, bytes('[1, 2, 3]')]]));
  await assert.rejects(readMeta(notMeta), /meta-not-meta\.npz: 'bit\/meta' is not this project's model metadata/);
});

test('float64 arrays load (numpy default dtype) and other keys (optimizer state) are ignored', async () => {
  const file = await savedTiny();
  const arrays = await readNpz(file);
  const mixed = new Map<string, import('../../src/io/npz.js').NdArray>();
  for (const [k, a] of arrays)
    mixed.set(k, a.dtype === 'float32' && k.endsWith('/beta') ? { dtype: 'float64', shape: a.shape, data: Float64Array.from(a.data) } : a);
  mixed.set('optimizer/momentum/resnet/group_norm/beta', { dtype: 'float32', shape: [512], data: new Float32Array(512) });
  const f = path.join(dir, 'mixed.npz');
  await writeNpz(f, mixed);
  const m = buildModel('BiT-Tiny');
  try {
    const r = await loadWeights(m, f);
    assert.deepEqual(r.ignored, ['optimizer/momentum/resnet/group_norm/beta']);
  } finally {
    m.dispose();
  }
});

test('NaN or infinite weights are refused at load, naming the file and the first key (in loading order) that holds them', async () => {
  const arrays = await readNpz(await savedTiny());
  const m = buildModel('BiT-Tiny');
  try {
    const order = m.store.entries().map((e) => e.key);
    const first = order[5];
    const later = order[9];
    const poisoned = new Map(arrays);
    const withValue = (key: string, at: number, v: number) => {
      const a = arrays.get(key)!;
      const data = Float32Array.from(a.data as Float32Array);
      data[at] = v;
      poisoned.set(key, { dtype: 'float32', shape: a.shape, data });
    };
    withValue(later, 0, Number.POSITIVE_INFINITY);
    withValue(first, (arrays.get(first)!.data.length - 1) >> 1, Number.NaN);
    const f = path.join(dir, 'nan.npz');
    await writeNpz(f, poisoned);
    await assert.rejects(
      loadWeights(m, f),
      new RegExp(`^NonFiniteWeightsError: ${f}: '${first}' holds NaN or infinite values: the file is damaged or was saved from a diverged run`),
    );
    await assert.rejects(loadModel(f, 'BiT-Tiny'), new RegExp(`'${first}' holds NaN or infinite values`));
    // only the infinity left: that key is named
    poisoned.set(first, arrays.get(first)!);
    await writeNpz(f, poisoned);
    await assert.rejects(loadWeights(m, f), new RegExp(`${f}: '${later}' holds NaN or infinite values`));
  } finally {
    m.dispose();
  }
});

test('a weights path that is a folder, or that does not exist, is named with what it is', async () => {
  const m = buildModel('BiT-Tiny');
  try {
    await assert.rejects(loadWeights(m, dir), new RegExp(`^Error: ${dir} is a folder, not a file: expected a zip archive \\(\\.npz\\)$`));
    await assert.rejects(loadWeights(m, path.join(dir, 'absent.npz')), new RegExp(`^Error: ${path.join(dir, 'absent.npz')} does not exist$`));
  } finally {
    m.dispose();
  }
});
