// Writes are atomic: a write that fails part way (a malformed array found
// after other members went out, a source that throws, a member that breaks
// mid-stream) leaves the old file as it was and no temporary file behind.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { ndarray, type NdArray } from '../../src/io/ndarray.js';
import { readNpz, writeNpz } from '../../src/io/npz.js';
import { writeZip } from '../../src/io/zip.js';

const root = mkdtempSync(path.join(tmpdir(), 'bit-atomic-'));
after(() => rmSync(root, { recursive: true, force: true }));

const good = (seed: number): NdArray =>
  ndarray(
    'float32',
    [64, 64],
    Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i + seed)),
  );

describe('atomic npz writes', () => {
  let dir: string;
  let target: string;
  let before: Buffer;
  beforeEach(async () => {
    dir = mkdtempSync(path.join(root, 'case-'));
    target = path.join(dir, 'checkpoint.npz');
    await writeNpz(target, [['old/weights', good(0)]]);
    before = readFileSync(target);
  });

  function unchanged(): void {
    assert.deepEqual(readFileSync(target), before, 'the previous file must be left as it was');
    assert.deepEqual(readdirSync(dir), ['checkpoint.npz'], 'no temporary file may remain');
  }

  for (const compress of [false, true]) {
    it(`a malformed array after good ones (${compress ? 'deflated' : 'stored'})`, async () => {
      const broken = { dtype: 'float32', shape: [3, 3, 64, 64], data: new Float32Array(250) } as NdArray;
      await assert.rejects(
        writeNpz(
          target,
          [
            ['a', good(1)],
            ['b', good(2)],
            ['resnet/block1/unit01/a/standardized_conv2d/kernel', broken],
          ],
          { compress },
        ),
        (err: unknown) => {
          assert.ok(err instanceof TypeError);
          assert.match(
            err.message,
            /checkpoint\.npz: array 'resnet\/block1\/unit01\/a\/standardized_conv2d\/kernel': shape \[3,3,64,64\] needs 36864 values but data holds 250/,
          );
          return true;
        },
      );
      unchanged();
      assert.deepEqual([...(await readNpz(target)).keys()], ['old/weights']);
    });
  }

  it('an entry source that throws part way', async () => {
    function* entries(): Generator<[string, NdArray]> {
      yield ['a', good(1)];
      throw new Error('the model went away');
    }
    await assert.rejects(writeNpz(target, entries(), { compress: true }), /the model went away/);
    unchanged();
  });

  for (const compress of [false, true]) {
    it(`a member whose data fails mid-stream (${compress ? 'deflated' : 'stored'})`, async () => {
      async function* pieces(): AsyncGenerator<Uint8Array> {
        yield new Uint8Array(100_000).fill(7);
        await new Promise((resolve) => setTimeout(resolve, 1));
        throw new Error('disk source failed');
      }
      await assert.rejects(
        writeZip(target, async (zip) => {
          await zip.add('first.npy', 3, [new Uint8Array(3)], { compress });
          await zip.add('second.npy', 200_000, pieces(), { compress });
        }),
        /disk source failed/,
      );
      unchanged();
    });
  }

  it('a member that delivers fewer bytes than declared', async () => {
    await assert.rejects(
      writeZip(target, async (zip) => {
        await zip.add('short.npy', 10, [new Uint8Array(4)]);
      }),
      /declared as 10 bytes but 4 arrived/,
    );
    unchanged();
  });

  it('a failed first write leaves no file at all', async () => {
    const fresh = path.join(dir, 'fresh.npz');
    await assert.rejects(writeNpz(fresh, [['x', { dtype: 'int8', shape: [2], data: new Int8Array(1) } as NdArray]]));
    assert.equal(existsSync(fresh), false);
    unchanged();
  });

  it('a successful write replaces the file', async () => {
    await writeNpz(target, [['new', good(3)]], { compress: true });
    assert.deepEqual([...(await readNpz(target)).keys()], ['new']);
    assert.deepEqual(readdirSync(dir), ['checkpoint.npz']);
  });
});
