import sharp from 'sharp';
import * as ort from 'onnxruntime-node';
import { OnnxGraph } from './dist/src/io/onnx.js';
import { onnxImagePreprocessing, decodeFile } from './dist/src/data/index.js';
import { models, tensor as T } from './dist/src/index.js';
import { toModelInput } from './dist/src/train/batch.js';
const dir = process.env.HOME + '/.cache/bit-transfer/photos/';
const R = +process.argv[2] || 128;
const stage = onnxImagePreprocessing(R);
const g = new OnnxGraph(17); g.input(stage.input.name);
const y = stage.build(g, stage.input.name);
const s = await ort.InferenceSession.create(g.encode({ inputs: [stage.input], outputs: [{ name: y, type: 'float32', shape: ['batch', 3, R, R] }] }));
const { model } = await models.loadModel('/tmp/wx/tiny.npz');
await models.exportOnnx(model, '/tmp/wx/pre.onnx', { resolution: R, modelName: 'BiT-Tiny', preprocessing: stage });
const sm = await ort.InferenceSession.create('/tmp/wx/pre.onnx');
for (const f of ['astronaut.png', 'chelsea.png', 'coffee.png', 'dog.jpg']) {
  const raw = await sharp(dir + f, { autoOrient: true }).raw().toBuffer({ resolveWithObject: true });
  const inp = new ort.Tensor('uint8', new Uint8Array(raw.data), [1, raw.info.height, raw.info.width, 3]);
  const out = (await s.run({ image: inp }))[y].data;
  const ref = await decodeFile(dir + f, R);
  let d = 0, sum = 0;
  for (let c = 0; c < 3; c++) for (let i = 0; i < R * R; i++) { const px = Math.round((out[c * R * R + i] + 1) * 127.5); const e = Math.abs(px - ref.data[i * 3 + c]); d = Math.max(d, e); sum += e; }
  const x = T.tidy(() => toModelInput(T.tensor(ref.data, [1, R, R, 3], 'uint8')));
  const lref = T.noGrad(() => model.forward(x)).toArray();
  const l = (await sm.run({ image: inp })).logits.data;
  let dl = 0; for (let i = 0; i < lref.length; i++) dl = Math.max(dl, Math.abs(l[i] - lref[i]));
  const p = (a) => { const m = Math.max(...a); const e = a.map(v => Math.exp(v - m)); const z = e.reduce((q, w) => q + w); return e.map(v => v / z); };
  const pa = p(Array.from(l)), pb = p(lref); let dp = 0; for (let i = 0; i < pa.length; i++) dp = Math.max(dp, Math.abs(pa[i] - pb[i]));
  console.log(f, raw.info.width, raw.info.height, 'pixel max', d, 'mean', (sum / (3 * R * R)).toFixed(3), 'logit max', dl.toFixed(5), 'prob max', dp.toFixed(5));
}
