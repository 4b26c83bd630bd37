// The numpy-written fixtures (test/fixtures/npz, see manifest.json there):
// every array must read back with numpy's dtype, shape, sum and first values,
// from the stored archive (np.savez) and the deflated one (np.savez_compressed).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ArrayFileError, type NdArray } from '../../src/io/ndarray.js';
import { parseDescr } from '../../src/io/npy.js';
import { NpzReader, readNpz } from '../../src/io/npz.js';
import { ZipReader } from '../../src/io/zip.js';
import { fixture } from '../helpers.js';

interface ManifestEntry {
  dtype: string;
  shape: number[];
  fortranOrder: boolean;
  sum: number;
  firstValuesCOrder: number[];
}

const FIXTURES = fixture('npz');
const MANIFEST = JSON.parse(readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8')) as Record<string, ManifestEntry>;
const FILES = ['numpy-savez.npz', 'numpy-savez-compressed.npz'];

function values(array: NdArray): number[] {
  return Array.from(array.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** The manifest's dtype as ours, or undefined if this project does not support it. */
function supportedDtype(descr: string): string | undefined {
  try {
    return parseDescr(descr).dtype;
  } catch (err) {
    assert.ok(err instanceof ArrayFileError);
    return undefined;
  }
}

describe('numpy fixtures', () => {
  it('the manifest lists arrays', () => {
    assert.ok(Object.keys(MANIFEST).length >= 5);
  });

  for (const file of FILES) {
    describe(file, () => {
      const fixture = path.join(FIXTURES, file);

      it('lists the manifest keys, in order', async () => {
        const reader = await NpzReader.open(fixture);
        try {
          assert.deepEqual(reader.keys(), Object.keys(MANIFEST));
          assert.equal(reader.has('resnet/block1/unit01/a/group_norm/gamma'), true);
          assert.equal(reader.has('resnet/block1/unit01/a/group_norm/gamma.npy'), false);
        } finally {
          await reader.close();
        }
      });

      for (const [key, expected] of Object.entries(MANIFEST)) {
        it(`reads '${key}' (${expected.dtype} [${expected.shape.join(',')}]${expected.fortranOrder ? ', Fortran order' : ''})`, async () => {
          const reader = await NpzReader.open(fixture);
          try {
            const dtype = supportedDtype(expected.dtype);
            if (dtype === undefined) {
              await assert.rejects(reader.read(key), (err: unknown) => {
                assert.ok(err instanceof ArrayFileError);
                assert.match(err.message, new RegExp(`${file}.*${key}.*${expected.dtype}`));
                return true;
              });
              return;
            }
            const info = await reader.info(key);
            assert.deepEqual(info, { dtype, shape: expected.shape });
            const array = await reader.read(key);
            assert.equal(array.dtype, dtype);
            assert.deepEqual(array.shape, expected.shape);
            const all = values(array);
            assert.equal(
              all.length,
              expected.shape.reduce((a, b) => a * b, 1),
            );
            const sum = all.reduce((a, b) => a + b, 0);
            assert.ok(Math.abs(sum - expected.sum) <= 1e-6 * Math.max(1, Math.abs(expected.sum)), `sum ${sum}, manifest says ${expected.sum}`);
            // Manifest values are the stored values widened to float64, so they compare exactly.
            assert.deepEqual(all.slice(0, expected.firstValuesCOrder.length), expected.firstValuesCOrder);
          } finally {
            await reader.close();
          }
        });
      }

      it('readNpz returns every array in archive order', async () => {
        const all = await readNpz(fixture);
        assert.deepEqual([...all.keys()], Object.keys(MANIFEST));
      });

      it('reads the same through the streaming inflater', async () => {
        const streamed = await readNpz(fixture, { inflateSyncLimit: 0 });
        const direct = await readNpz(fixture);
        assert.deepEqual(streamed, direct);
      });
    });
  }

  it('both fixtures hold identical arrays', async () => {
    const [stored, deflated] = await Promise.all(FILES.map((f) => readNpz(path.join(FIXTURES, f))));
    assert.deepEqual(stored, deflated);
  });

  it('the stored fixture carries numpy zip64 extras in its local headers only', async () => {
    // np.savez opens members with force_zip64=True: each local header has a
    // 20-byte zip64 extra field; the central directory has none.
    const bytes = readFileSync(path.join(FIXTURES, 'numpy-savez.npz'));
    const zip = await ZipReader.fromBytes(bytes, 'numpy-savez.npz');
    for (const entry of zip.entries) {
      const at = entry.localHeaderOffset;
      assert.equal(bytes.readUInt16LE(at + 28), 20, entry.name);
      assert.equal(bytes.readUInt16LE(at + 30 + entry.rawName.length), 1, entry.name);
      assert.equal(entry.flags & 0x08, 0, `${entry.name} uses no data descriptor`);
    }
    await zip.close();
  });
});
