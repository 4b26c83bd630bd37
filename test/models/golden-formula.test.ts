// The formula implementation reproduces the README's check values.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fnv1a, formulaInput, formulaValues, uniform } from './golden-formula.js';
import { assertClose } from '../helpers.js';

test('fnv1a and uniform match the check values of the golden README', () => {
  assert.equal(fnv1a('resnet/root_block/standardized_conv2d/kernel'), 2407980356);
  assertClose(Array.from(uniform(2407980356, 5)), [-0.54151446, -0.21962605, -0.74255621, 0.62239635, -0.54241836], 1e-7);
  assert.equal(fnv1a('resnet/head/conv2d/bias'), 1666465836);
  assertClose(Array.from(formulaValues('resnet/head/conv2d/bias', [2])), [-0.02883377, 0.01452801], 1e-8);
  assert.equal(fnv1a('resnet/block1/unit01/a/group_norm/gamma'), 2568829668);
  assertClose(Array.from(formulaValues('resnet/block1/unit01/a/group_norm/gamma', [2])), [0.94257277, 0.86840641], 1e-7);
  assert.equal(fnv1a('input'), 4191711099);
  assertClose(Array.from(formulaInput(1, 1)), [0.59806627, -0.77675939, -0.87496376], 1e-7);
});
