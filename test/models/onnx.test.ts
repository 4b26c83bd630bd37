// ONNX export checked by runtimes nobody here wrote: ONNX Runtime (onnxruntime-node)
// runs the exported graphs and must give our logits; ONNX 1.12's checker
// (Debian python3-onnx) must accept every opset-17 file.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { describeOnnx } from '../../src/io/onnx.js';
import { buildModel, exportOnnx, onnxModelBytes, type ImageClassifier } from '../../src/models/index.js';
import { standardizeWeight } from '../../src/nn/index.js';
import * as T from '../../src/tensor/index.js';
import { assertClose, removeDir, tempDir } from '../helpers.js';
import { onnxCheck } from '../python.js';

T.configureThreads();
const dir = tempDir('onnx');
after(() => removeDir(dir));

/** ORT's logits of `file` for NCHW `x` (graph optimizations 'all', as deployments run it). */
async function ortLogits(file: string | Uint8Array, x: T.Tensor): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file as string, { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x.data() as Float32Array, [...x.shape]) });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

function ours(model: ImageClassifier, x: T.Tensor): number[] {
  return T.tidy(() => T.noGrad(() => model.forward(x).toArray()));
}

const RES = 64;

test('BiT-Tiny (GroupNorm + WS): ONNX Runtime gives our logits at opset 17 and 21, for any batch size; ONNX 1.12 accepts opset 17 only', async () => {
  T.manualSeed(11);
  const model = buildModel('BiT-Tiny', { headSize: 7, zeroHead: false }).eval();
  try {
    const files: string[] = [];
    for (const opset of [17, 21] as const) {
      const file = path.join(dir, `tiny-${opset}.onnx`);
      const live = T.memory().numTensors;
      const r = await exportOnnx(model, file, { resolution: RES, modelName: 'BiT-Tiny', opset });
      assert.equal(T.memory().numTensors, live, 'the export left tensors behind');
      files.push(file);
      const info = describeOnnx(readFileSync(file));
      assert.equal(info.opset, opset);
      assert.equal(info.irVersion, opset === 17 ? 8 : 10);
      assert.equal(r.opset, opset);
      assert.deepEqual(info.inputs, [{ name: 'input', shape: ['batch', 3, RES, RES] }]);
      assert.deepEqual(info.outputs, [{ name: 'logits', shape: ['batch', 7] }]);
      assert.equal(info.opTypes.includes('GroupNormalization'), opset === 21);
      assert.equal(info.opTypes.includes('InstanceNormalization'), opset === 17);
      for (const batch of [1, 3]) {
        const x = T.keep(T.tidy(() => T.rand([batch, 3, RES, RES]).mul(2).sub(1)));
        try {
          assertClose(await ortLogits(file, x), ours(model, x), 1e-4, `opset ${opset}, batch ${batch}`);
        } finally {
          x.dispose();
        }
      }
    }
    const checked = onnxCheck(files);
    assert.ok(checked[0].ok, `ONNX 1.12 rejects the opset-17 file: ${checked[0].error}`);
    assert.ok(!checked[1].ok && /ir_version|IR version|opset/i.test(checked[1].error), `the opset-21 file: ${JSON.stringify(checked[1])}`);
  } finally {
    model.dispose();
  }
});

test('the graph holds plain convolutions whose kernels are the standardized ones, and the metadata says how to feed the model', () => {
  T.manualSeed(12);
  const model = buildModel('BiT-Tiny', { headSize: 3, zeroHead: false }).eval();
  try {
    const names = ['cat', 'dog', 'bird'];
    const { bytes } = onnxModelBytes(model, { resolution: 32, modelName: 'BiT-Tiny', classNames: names });
    const decoded = onnxProto.onnx.ModelProto.decode(bytes);
    const key = 'resnet/block2/unit01/b/standardized_conv2d/kernel';
    const init = (decoded.graph?.initializer ?? []).find((t) => t.name === key);
    assert.ok(init?.rawData, `no initializer ${key}`);
    const raw = init.rawData;
    const stored = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const w = model.store.get(key)?.tensor;
    assert.ok(w);
    const standardized = T.tidy(() => T.noGrad(() => standardizeWeight(w).data() as Float32Array));
    assertClose(stored, standardized, 0, key);
    const info = describeOnnx(bytes);
    assert.deepEqual([...new Set(info.opTypes)].sort(), [
      'Add',
      'Concat',
      'Conv',
      'Flatten',
      'GlobalAveragePool',
      'Identity',
      'InstanceNormalization',
      'MaxPool',
      'Mul',
      'Relu',
      'Reshape',
      'Shape',
      'Slice',
    ]);
    assert.equal(info.metadata.model, 'BiT-Tiny');
    assert.deepEqual(JSON.parse(info.metadata.class_names), names);
    assert.equal(info.metadata.resolution, '32');
    assert.match(info.metadata.preprocessing, /x \/ 127\.5 - 1/);
  } finally {
    model.dispose();
  }
});

test('ResNet-18 with BatchNorm statistics that are not the identity: ONNX Runtime gives our logits', async () => {
  T.manualSeed(13);
  const model = buildModel('ResNet-18', { headSize: 5 });
  try {
    T.noGrad(() => {
      for (const e of model.store.entries()) {
        if (e.key.endsWith('/moving_mean')) e.tensor.uniform_(-0.5, 0.5);
        else if (e.key.endsWith('/moving_variance')) e.tensor.uniform_(0.5, 2);
        else if (e.key.endsWith('/gamma')) e.tensor.uniform_(0.5, 1.5);
        else if (e.key.endsWith('/beta')) e.tensor.uniform_(-0.3, 0.3);
      }
    });
    model.eval();
    const file = path.join(dir, 'r18.onnx');
    await exportOnnx(model, file, { resolution: RES, modelName: 'ResNet-18' });
    assert.ok(describeOnnx(readFileSync(file)).opTypes.includes('BatchNormalization'));
    const x = T.keep(T.tidy(() => T.rand([2, 3, RES, RES]).mul(2).sub(1)));
    try {
      assertClose(await ortLogits(file, x), ours(model, x), 1e-4, 'ResNet-18 logits');
    } finally {
      x.dispose();
    }
    const checked = onnxCheck([file]);
    assert.ok(checked[0].ok, checked[0].error);
  } finally {
    model.dispose();
  }
});

test('a missing folder or class names that do not fit the head are refused, and no file is left', async () => {
  const model = buildModel('BiT-Tiny', { headSize: 2 });
  try {
    const before = readdirSync(dir);
    await assert.rejects(exportOnnx(model, path.join(dir, 'missing', 'm.onnx'), { resolution: 32, modelName: 'BiT-Tiny' }), /folder .*missing does not exist/);
    await assert.rejects(
      exportOnnx(model, path.join(dir, 'm.onnx'), { resolution: 32, modelName: 'BiT-Tiny', classNames: ['a'] }),
      /1 class names given for a head of 2/,
    );
    assert.deepEqual(readdirSync(dir), before);
  } finally {
    model.dispose();
  }
});
