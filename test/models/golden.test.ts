// Exact agreement with the original BiT implementation: weights built by the
// golden README's formula, saved through the project's .npz writer and loaded
// back through its reader, reproduce the original code's logits.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { buildModel, loadWeights, saveWeights } from '../../src/models/index.js';
import * as T from '../../src/tensor/index.js';
import { assertClose, fixture } from '../helpers.js';
import { formulaInput, officialShapes, writeFormulaWeights } from './golden-formula.js';

interface GoldenCase {
  model: string;
  blockUnits: number[];
  widthFactor: number;
  headSize: number;
  resolution: number;
  batch: number;
  logits: number[][];
  preLogitsFirst8: number[][];
  preLogitsMean: number[];
}

const cases = JSON.parse(readFileSync(fixture('bit-golden', 'cases.json'), 'utf8')) as GoldenCase[];
const dir = mkdtempSync(path.join(tmpdir(), 'bit-golden-'));
after(() => rmSync(dir, { recursive: true, force: true }));
T.configureThreads();

function nchwInput(batch: number, res: number): T.Tensor {
  return T.tensor(formulaInput(batch, res), [batch, res, res, 3]).permute([0, 3, 1, 2]).contiguous();
}

for (const c of cases) {
  test(`${c.model}: logits of the original implementation within 2e-4 (formula weights through .npz)`, async () => {
    const file = path.join(dir, `${c.model}.npz`);
    await writeFormulaWeights(file, c.blockUnits, c.widthFactor, c.headSize, true);
    const model = buildModel(c.model, { headSize: c.headSize }).eval();
    try {
      const report = await loadWeights(model, file);
      assert.equal(report.loaded, officialShapes(c.blockUnits, c.widthFactor, c.headSize).size);
      const { logits, pre } = T.tidy(() =>
        T.noGrad(() => {
          const out = model.forwardBoth(nchwInput(c.batch, c.resolution));
          return { logits: out.logits.toArray(), pre: out.preLogits.toArray() };
        }),
      );
      assertClose(logits, c.logits.flat(), 2e-4, 'logits');
      const width = model.featureDim;
      for (let b = 0; b < c.batch; b++) {
        assertClose(pre.slice(b * width, b * width + 8), c.preLogitsFirst8[b], 2e-4, `pre-logits of image ${b}`);
        const mean = pre.slice(b * width, (b + 1) * width).reduce((s, v) => s + v, 0) / width;
        assertClose([mean], [c.preLogitsMean[b]], 2e-5, `pre-logit mean of image ${b}`);
      }
      // What the project saves is what it loads: a round trip gives the same logits.
      const again = path.join(dir, `${c.model}-saved.npz`);
      await saveWeights(model, again);
      const copy = buildModel(c.model, { headSize: c.headSize }).eval();
      try {
        await loadWeights(copy, again);
        const logits2 = T.tidy(() => T.noGrad(() => copy.forward(nchwInput(c.batch, c.resolution)).toArray()));
        assert.deepEqual(logits2, logits);
      } finally {
        copy.dispose();
      }
    } finally {
      model.dispose();
    }
  });
}
