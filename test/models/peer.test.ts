// Other zoo members against an independent PyTorch implementation of BiT's
// ResNet-v2 (bench/bit_pytorch_peer.py, Debian's PyTorch 1.13) on the golden
// formula weights: the same .npz file, the same input, logits within 2e-4.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { writeNpz, type NdArray } from '../../src/io/npz.js';
import { getModel, loadWeights, type ResNetV2 } from '../../src/models/index.js';
import * as T from '../../src/tensor/index.js';
import { assertClose, repoRoot } from '../helpers.js';
import { referencePython, requirePython } from '../python.js';
import { formulaInput, formulaValues, officialShapes } from './golden-formula.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bit-peer-'));
after(() => rmSync(dir, { recursive: true, force: true }));
T.configureThreads();

const peerAvailable = () => requirePython(['torch', 'numpy'], 'python3-torch');

/** Formula weights for any width: BiT's key scheme with the base width scaled. */
function* formulaArrays(model: ResNetV2): Generator<[string, NdArray]> {
  for (const e of model.store.entries()) {
    const shape = e.kind === 'conv' ? [e.tensor.shape[2], e.tensor.shape[3], e.tensor.shape[1], e.tensor.shape[0]] : [...e.tensor.shape];
    yield [e.key, { dtype: 'float32', shape, data: formulaValues(e.key, shape) }];
  }
}

const CASES: { name: string; res: number; head: number }[] = [
  { name: 'BiT-Tiny', res: 64, head: 10 },
  { name: 'BiT-Mini', res: 64, head: 7 },
  { name: 'BiT-Small', res: 64, head: 5 },
  { name: 'BiT-S-R101x1', res: 64, head: 6 },
  { name: 'BiT-M-R50x3', res: 32, head: 4 },
];

for (const c of CASES) {
  test(`${c.name}: logits agree with the PyTorch peer within 2e-4`, async () => {
    peerAvailable();
    const model = getModel(c.name).build({ headSize: c.head }) as ResNetV2;
    try {
      model.eval();
      const cfg = model.config;
      const wf = cfg.widthFactor;
      const base = cfg.baseWidth ?? 64;
      const groups = cfg.norm?.kind === 'group' ? (cfg.norm.groups ?? 32) : 32;
      if (base === 64) {
        // full-size members: the key list is exactly the golden README's
        assert.deepEqual(
          model.store
            .entries()
            .map((e) => e.key)
            .sort(),
          [...officialShapes(cfg.blockUnits, wf, c.head).keys()].sort(),
        );
      }
      const weights = path.join(dir, `${c.name}.npz`);
      await writeNpz(weights, formulaArrays(model));
      await loadWeights(model, weights);
      const input = path.join(dir, `${c.name}-x.npy`);
      await writeNpy(input, { dtype: 'float32', shape: [2, c.res, c.res, 3], data: formulaInput(2, c.res) });
      const output = path.join(dir, `${c.name}-y.npy`);
      execFileSync(
        referencePython(),
        [
          path.join(repoRoot(), 'bench', 'bit_pytorch_peer.py'),
          'logits',
          '--weights',
          weights,
          '--input',
          input,
          '--output',
          output,
          '--units',
          cfg.blockUnits.join(','),
          '--width-factor',
          String(wf),
          '--base-width',
          String(base),
          '--groups',
          String(groups),
          '--head',
          String(c.head),
        ],
        { stdio: 'pipe' },
      );
      const expected = await readNpy(output);
      const ours = T.tidy(() =>
        T.noGrad(() => model.forward(T.tensor(formulaInput(2, c.res), [2, c.res, c.res, 3]).permute([0, 3, 1, 2]).contiguous()).toArray()),
      );
      assertClose(ours, Array.from(expected.data as Float32Array), 2e-4, `${c.name} logits`);
    } finally {
      model.dispose();
    }
  });
}
