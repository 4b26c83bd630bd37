// `bit export` end to end: BiT-S-R50x1 (the golden formula weights) through the
// CLI, run by ONNX Runtime against `bit predict`'s logits and checked by ONNX
// 1.12; the in-graph preprocessing against bit predict on real photos; bad
// input gives one clear line, the right exit code and no partial output.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describeOnnx } from '../../src/io/onnx.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { buildModel, metaArray, saveWeights } from '../../src/models/index.js';
import * as T from '../../src/tensor/index.js';
import { assertClose, cliPath, removeDir, tempDir } from '../helpers.js';
import { formulaInput, writeFormulaWeights } from '../models/golden-formula.js';
import { onnxCheck } from '../python.js';
import { sampleImage } from '../../src/data/index.js';

const dir = tempDir('export');
after(() => removeDir(dir));
const bit = (args: string[]) => spawnSync(process.execPath, [cliPath(), ...args], { encoding: 'utf8' });

test('BiT-S-R50x1 at 128 px: ONNX Runtime on the exported file gives bit predict logits within 1e-4, and ONNX 1.12 accepts the file', async () => {
  const weights = path.join(dir, 'r50.npz');
  await writeFormulaWeights(weights, [3, 4, 6, 3], 1, 10);
  const x = path.join(dir, 'x.npy');
  const y = path.join(dir, 'y.npy');
  const input = formulaInput(2, 128); // NHWC in [-1, 1]
  await writeNpy(x, { dtype: 'float32', shape: [2, 128, 128, 3], data: input });
  const p = bit(['predict', '--model', 'BiT-S-R50x1', '--head-size', '10', '--weights', weights, '--input', x, '--output', y]);
  assert.equal(p.status, 0, p.stderr);
  const file = path.join(dir, 'r50.onnx');
  const e = bit(['export', '--model', 'BiT-S-R50x1', '--head-size', '10', '--weights', weights, '--resolution', '128', '--out', file]);
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stdout, /wrote .*r50\.onnx: BiT-S-R50x1, ONNX opset 17/);
  const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'all' });
  const nchw = T.tidy(() => T.tensor(input, [2, 128, 128, 3]).permute([0, 3, 1, 2]).contiguous().data() as Float32Array);
  const out = await session.run({ input: new ort.Tensor('float32', nchw, [2, 3, 128, 128]) });
  await session.release();
  assertClose(out.logits.data as Float32Array, (await readNpy(y)).data as Float32Array, 1e-4, 'ONNX Runtime vs bit predict');
  const info = describeOnnx(readFileSync(file));
  assert.equal(info.metadata.model, 'BiT-S-R50x1');
  const checked = onnxCheck([file]);
  assert.ok(checked[0].ok, checked[0].error);
});

test("--with-preprocessing: uint8 images of any size in, bit predict's probabilities out (JPEGs that sharp shrinks on load aside)", async () => {
  T.manualSeed(5);
  const model = buildModel('BiT-Tiny', { headSize: 10, zeroHead: false });
  T.noGrad(() => void model.store.get('resnet/head/conv2d/kernel')?.tensor.mul_(10));
  const weights = path.join(dir, 'tiny.npz');
  await saveWeights(model, weights, [metaArray({ model: 'BiT-Tiny', headSize: 10, crop: 128 })]);
  model.dispose();
  const file = path.join(dir, 'pre.onnx');
  const e = bit(['export', '--weights', weights, '--with-preprocessing', '--out', file]);
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stdout, /input {2}image: uint8 \[batch, height, width, 3\]/);
  const session = await ort.InferenceSession.create(file);
  // PNGs: bit predict shrinks large JPEGs on load inside libjpeg, which no graph can (see the web test)
  const photos = (['astronaut.png', 'chelsea.png', 'coffee.png'] as const).map((p) => sampleImage(p));
  const ref = bit(['predict', '--weights', weights, '--top', '10', '--json', ...photos]);
  assert.equal(ref.status, 0, ref.stderr);
  const predicted = JSON.parse(ref.stdout) as { top: { index: number; probability: number }[] }[];
  const worst: number[] = [];
  for (const [k, f] of photos.entries()) {
    const { data, info } = await sharp(f, { autoOrient: true }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const out = await session.run({ image: new ort.Tensor('uint8', new Uint8Array(data), [1, info.height, info.width, 3]) });
    const logits = Array.from(out.logits.data as Float32Array);
    const m = Math.max(...logits);
    const z = logits.reduce((s, v) => s + Math.exp(v - m), 0);
    worst.push(Math.max(...predicted[k].top.map((t) => Math.abs(Math.exp(logits[t.index] - m) / z - t.probability))));
  }
  await session.release();
  // the graph's pixels are sharp's, so only the runtimes' float arithmetic differs
  assert.ok(Math.max(...worst) <= 1e-4, `probabilities differ by ${worst.join(', ')}`);
  assert.ok(onnxCheck([file])[0].ok);
});

test('bad input: one clear line, exit 2 for usage errors and 1 for failures, no partial output', async () => {
  T.manualSeed(6);
  const model = buildModel('BiT-Tiny', { headSize: 4 });
  const weights = path.join(dir, 'tiny4.npz');
  await saveWeights(model, weights, [metaArray({ model: 'BiT-Tiny', headSize: 4, crop: 32 })]);
  model.dispose();
  const out = path.join(dir, 'bad');
  const cases: { args: string[]; code: number; message: RegExp }[] = [
    { args: ['--model', 'BiT-Nope', '--out', `${out}.onnx`], code: 2, message: /--model: unknown model 'BiT-Nope'\. Known models: BiT-S-R50x1/ },
    { args: ['--model', 'ResNet-18', '--out', `${out}.onnx`], code: 1, message: /model key\(s\) missing: .*is this the right model architecture/ },
    { args: ['--out', path.join(dir, 'no-such-folder', 'm.onnx')], code: 2, message: /--out: the folder .*no-such-folder does not exist/ },
    {
      args: ['--format', 'tflite', '--out', `${out}.onnx`],
      code: 2,
      message: /option '--format <format>' argument 'tflite' is invalid\. Allowed choices are onnx, web/,
    },
    { args: ['--format', 'web', '--out', path.join(dir, 'no-such-folder', 'site')], code: 2, message: /--out: the folder .*no-such-folder does not exist/ },
    { args: ['--labels', path.join(dir, 'labels.txt'), '--out', `${out}.onnx`], code: 2, message: /labels\.txt has 2 class names but the model has 4 outputs/ },
  ];
  writeFileSync(path.join(dir, 'labels.txt'), 'a\nb\n');
  const before = readdirSync(dir).sort();
  for (const c of cases) {
    const r = bit(['export', '--weights', weights, ...c.args]);
    assert.equal(r.status, c.code, `${c.args.join(' ')}: exit ${r.status}, stderr ${r.stderr}`);
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('(run with --help'));
    assert.equal(lines.length, 1, `${c.args.join(' ')}: ${r.stderr}`);
    assert.match(lines[0], c.message);
    assert.deepEqual(readdirSync(dir).sort(), before, `${c.args.join(' ')} left files behind`);
  }
  assert.ok(!existsSync(`${out}.onnx`));
});
