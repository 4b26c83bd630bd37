// The op table (src/native/binding.ts) against the compiled addon: the addon
// exports exactly the table's names, every row with a method kind is a Tensor
// method, and the lifecycle functions check what they are given.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native, OP_NAMES, OPS, type Handle } from '../../src/native/index.js';
import * as T from '../../src/tensor/index.js';

test("the addon's exported names are the op table's rows", () => {
  const exported = Object.keys(native()).sort();
  const table = [...OP_NAMES].sort();
  const missing = table.filter((n) => !exported.includes(n));
  const unlisted = exported.filter((n) => !table.includes(n as (typeof table)[number]));
  assert.deepEqual({ missing, unlisted }, { missing: [], unlisted: [] }, 'missing: in the table, not in the addon; unlisted: in the addon, not in the table');
  for (const name of exported) assert.equal(typeof (native() as unknown as Record<string, unknown>)[name], 'function', name);
});

test('every op-table row with a method kind is a Tensor method that calls its op', () => {
  const rows = Object.entries(OPS).filter(([, row]) => row.method !== null);
  assert.ok(rows.length > 30, `only ${rows.length} pass-through methods`);
  for (const [name] of rows) assert.equal(typeof (T.Tensor.prototype as unknown as Record<string, unknown>)[name], 'function', name);
  T.tidy(() => {
    const x = T.tensor([1, -4, 9], [3]);
    // an error from the op names it: the method reached the op of its own name
    assert.deepEqual(x.abs().toArray(), [1, 4, 9]);
    assert.deepEqual(
      x
        .sub(1)
        .maximum(T.tensor([0, 0, 0]))
        .toArray(),
      [0, 0, 8],
    );
    assert.deepEqual(x.reshape([1, 3]).sum(1, true).shape, [1, 1]);
    assert.equal(x.clone().mul_(2).zero_().sum().item(), 0);
    assert.throws(() => x.mul(T.zeros([2])), /^Error: mul: /);
  });
});

test('dispose and isDisposed accept only tensor handles of this addon, live or disposed', () => {
  const t = T.ones([2]);
  const h = t.handle;
  assert.equal(native().isDisposed(h), false);
  t.dispose();
  assert.equal(native().isDisposed(h), true);
  native().dispose(h); // disposing twice is harmless
  const bogus = {} as unknown as Handle;
  assert.throws(() => native().isDisposed(bogus), /^Error: isDisposed: argument 0 must be a tensor handle$/);
  assert.throws(() => native().dispose(bogus), /^Error: dispose: argument 0 must be a tensor handle$/);
  assert.throws(() => native().isDisposed(undefined as unknown as Handle), /isDisposed: argument 0 must be a tensor handle/);
});
