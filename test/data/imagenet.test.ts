// Class names of the ImageNet heads: the shipped ILSVRC-2012 list (OpenCV's)
// and the ImageNet-21k order rebuilt from Debian darknet's lists, checked
// against sources nobody here wrote: darknet's WordNet id -> name pairs, the
// index -> WordNet id pairs of Keras' imagenet_class_index.json (ILSVRC-2012)
// and of timm's imagenet21k_goog_synsets.txt (Google's ImageNet-21k, BiT-M).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { darknetListFiles, headClassNames, ilsvrc2012ClassNames, imagenet21kClasses } from '../../src/data/index.js';
import { buildModel, findOfficialWeights, officialMeta, saveWeights } from '../../src/models/index.js';
import * as T from '../../src/tensor/index.js';
import { cliPath, removeDir, tempDir } from '../helpers.js';

const tmp = tempDir('imagenet');
after(() => removeDir(tmp));

/** darknet's lists: WordNet id -> short name, in darknet's order (its first 1,000 are the ILSVRC-2012 classes). */
function darknet(): { ids: string[]; names: string[] } {
  const f = darknetListFiles();
  const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);
  return { ids: lines(f.ids), names: lines(f.names) };
}

// index -> WordNet id of the ILSVRC-2012 heads, from Keras' imagenet_class_index.json
const KERAS_PAIRS: [number, string, string][] = [
  [0, 'n01440764', 'tench'],
  [281, 'n02123045', 'tabby'],
  [283, 'n02123394', 'Persian cat'],
  [284, 'n02123597', 'Siamese cat'],
  [999, 'n15075141', 'toilet tissue'],
];

test('ILSVRC-2012: 1,000 names in WordNet id order, line for line what darknet names the sorted ids', async () => {
  const names = await ilsvrc2012ClassNames();
  assert.equal(names.length, 1000);
  const d = darknet();
  const byId = new Map(d.ids.map((id, i) => [id, d.names[i]]));
  const sorted = d.ids.slice(0, 1000).sort();
  // every line's first synonym is darknet's name of the i-th smallest WordNet id
  const mismatches = sorted.filter((id, i) => names[i].split(',')[0].trim().toLowerCase() !== byId.get(id)!.toLowerCase());
  assert.deepEqual(mismatches, []);
  for (const [i, id, name] of KERAS_PAIRS) {
    assert.equal(sorted[i], id, `index ${i}`);
    assert.equal(names[i].split(',')[0], name, `index ${i}`);
  }
});

// index -> WordNet id of the BiT-M heads, from timm's imagenet21k_goog_synsets.txt (lines 1, 360, 2168, 2389, 9206, 15028, 21843)
const TIMM_GOOG_PAIRS: [number, string, string][] = [
  [0, 'n00004475', 'organism'],
  [359, 'n01440764', 'tench'],
  [2167, 'n02084071', 'dog'],
  [2388, 'n02121808', 'domestic cat'],
  [9205, 'n03931044', 'picture'],
  [15027, 'n09859684', 'bleacher'],
  [21842, 'n15102894', 'knothole'],
];

test("ImageNet-21k: 21,843 synsets in BiT-M's order, rebuilt from darknet's lists", async () => {
  const c = await imagenet21kClasses();
  assert.ok(c, `darknet's lists are missing (${darknetListFiles().ids}): run scripts/fetch-debian-data.sh`);
  assert.equal(c.ids.length, 21843);
  assert.equal(c.names.length, 21843);
  assert.ok(
    c.ids.every((id, i) => i === 0 || c.ids[i - 1] < id),
    'ids strictly increasing',
  );
  for (const [i, id, name] of TIMM_GOOG_PAIRS) assert.deepEqual([c.ids[i], c.names[i]], [id, name], `index ${i}`);
  assert.ok(!c.ids.includes('n04399382'));
  // darknet's order is not BiT's: its first line is ILSVRC-2012's kit fox, not the smallest id
  assert.equal(darknet().ids[0], 'n02119789');
});

test('which names a head gets: its own, ILSVRC-2012 for 1,000-way official heads, ImageNet-21k for BiT-M, else none with the reason', async () => {
  const own = await headClassNames({ classNames: ['a', 'b'] }, 2);
  assert.deepEqual(own.names, ['a', 'b']);
  const s = await headClassNames(officialMeta(findOfficialWeights('distill/R50x1_224')!), 1000);
  assert.equal(s.names?.[281], 'tabby, tabby cat');
  assert.equal((await headClassNames(null, 1000)).names?.[0], 'tench, Tinca tinca');
  const m = await headClassNames(officialMeta(findOfficialWeights('BiT-M-R152x2')!), 21843);
  assert.equal(m.names?.[2388], 'domestic cat');
  assert.deepEqual(await headClassNames({ data: 'digits' }, 1000), { names: null, source: 'the weights file names no classes' });
  const saved = process.env.BIT_DATA_DIR;
  process.env.BIT_DATA_DIR = path.join(tmp, 'empty');
  try {
    const none = await headClassNames(null, 21843);
    assert.equal(none.names, null);
    assert.match(none.source, /no names for the 21,843 ImageNet-21k classes: run `sh .*fetch-debian-data\.sh` to fetch them from Debian's darknet package/);
  } finally {
    if (saved === undefined) delete process.env.BIT_DATA_DIR;
    else process.env.BIT_DATA_DIR = saved;
  }
});

test('bit predict names the classes of a 1,000-way head of a file without names', async () => {
  // a BiT-Tiny with a 1,000-way head whose bias makes class 283 win on any image, saved like an official file (no metadata)
  const model = buildModel('BiT-Tiny', { headSize: 1000 });
  const bias = model.store.entries().find((e) => e.key === 'resnet/head/conv2d/bias')!.tensor;
  T.noGrad(() =>
    T.tidy(
      () =>
        void bias.copy_(
          T.oneHot(T.tensor(Int32Array.from([283]), [1]).to('int64'), 1000)
            .reshape([1000])
            .float()
            .mul(50),
        ),
    ),
  );
  const weights = path.join(tmp, 'tiny-1000.npz');
  await saveWeights(model, weights);
  model.dispose();
  const img = path.join(tmp, 'grey.png');
  await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 120, g: 120, b: 120 } } })
    .png()
    .toFile(img);
  const r = await promisify(execFile)(process.execPath, [
    cliPath(),
    'predict',
    '--model',
    'BiT-Tiny',
    '--head-size',
    '1000',
    '--weights',
    weights,
    '--top',
    '2',
    '--json',
    img,
  ]);
  const out = JSON.parse(r.stdout) as { top: { index: number; label: string }[] }[];
  assert.deepEqual(out[0].top[0], { ...out[0].top[0], index: 283, label: 'Persian cat' });
});
