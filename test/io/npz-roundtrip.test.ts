// writeNpz -> NpzReader round trips: every dtype, empty and 0-d arrays, BiT
// parameter names, stored, deflated and zip64 archives, large members.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { ArrayFileError, ndarray, zeros, type NdArray } from '../../src/io/ndarray.js';
import { encodeNpy, encodeNpyHeader } from '../../src/io/npy.js';
import { NpzReader, readNpz, writeNpz } from '../../src/io/npz.js';
import { ZipReader, writeZip } from '../../src/io/zip.js';

const dir = mkdtempSync(path.join(tmpdir(), 'bit-npz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function arrays(): Map<string, NdArray> {
  return new Map<string, NdArray>([
    ['resnet/block1/unit01/a/standardized_conv2d/kernel', ndarray('float32', [1, 1, 2, 3], new Float32Array([0.5, -1, 2, NaN, -Infinity, 1e-40]))],
    ['resnet/block1/unit01/a/group_norm/gamma', ndarray('float32', [3], new Float32Array([1, 1, 1]))],
    ['float64', ndarray('float64', [2, 2], new Float64Array([Math.PI, -0, 1e308, -5e-324]))],
    ['int64', ndarray('int64', [3], new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n]))],
    ['int32', ndarray('int32', [2], new Int32Array([-(2 ** 31), 2 ** 31 - 1]))],
    ['int16', ndarray('int16', [2], new Int16Array([-32768, 32767]))],
    ['int8', ndarray('int8', [2], new Int8Array([-128, 127]))],
    ['uint8', ndarray('uint8', [2, 2, 1], new Uint8Array([0, 1, 254, 255]))],
    ['uint16', ndarray('uint16', [1], new Uint16Array([65535]))],
    ['uint32', ndarray('uint32', [1], new Uint32Array([4294967295]))],
    ['bool', ndarray('bool', [2, 2], new Uint8Array([1, 0, 0, 1]))],
    ['empty/float32', zeros('float32', [0])],
    ['empty/int64', zeros('int64', [3, 0, 2])],
    ['empty/bool', zeros('bool', [0, 0])],
    ['scalar/float32', ndarray('float32', [], new Float32Array([3.25]))],
    ['scalar/int64', ndarray('int64', [], new BigInt64Array([-7n]))],
    ['scalar/bool', ndarray('bool', [], new Uint8Array([1]))],
    ['unicode/αβγ résumé', ndarray('uint8', [1], new Uint8Array([42]))],
    ['a key with spaces and .dots.', ndarray('int8', [1], new Int8Array([-1]))],
  ]);
}

const VARIANTS = [
  { name: 'stored', options: {} },
  { name: 'deflated', options: { compress: true } },
  { name: 'stored, zip64 records', options: { forceZip64: true } },
  { name: 'deflated, zip64 records', options: { compress: true, forceZip64: true } },
];

describe('npz round trip', () => {
  for (const { name, options } of VARIANTS) {
    it(name, async () => {
      const file = path.join(dir, `roundtrip-${name.replace(/\W+/g, '-')}.npz`);
      const expected = arrays();
      await writeNpz(file, expected, options);
      assert.deepEqual(await readNpz(file), expected);
      assert.deepEqual(await readNpz(file, { inflateSyncLimit: 0 }), expected);
      const reader = await NpzReader.open(file);
      try {
        assert.deepEqual(reader.keys(), [...expected.keys()]);
        for (const [key, array] of expected) {
          assert.deepEqual(await reader.info(key), { dtype: array.dtype, shape: array.shape });
        }
      } finally {
        await reader.close();
      }
      // Equal input gives equal bytes (fixed timestamps).
      const again = path.join(dir, 'again.npz');
      await writeNpz(again, expected, options);
      assert.deepEqual(readFileSync(again), readFileSync(file));
    });
  }

  it('streams members larger than one 16 MiB piece', async () => {
    const n = 5_000_000; // 20 MB of float32
    const big = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      big[i] = (i % 1000) - 500.5;
    }
    const expected = new Map<string, NdArray>([
      ['before', ndarray('uint8', [1], new Uint8Array([9]))],
      ['head/conv2d/kernel', ndarray('float32', [1, 1, 5000, 1000], big)],
    ]);
    for (const compress of [false, true]) {
      const file = path.join(dir, `big-${compress}.npz`);
      await writeNpz(file, expected, { compress });
      const reader = await NpzReader.open(file);
      try {
        assert.deepEqual(await reader.info('head/conv2d/kernel'), { dtype: 'float32', shape: [1, 1, 5000, 1000] });
        const back = await reader.read('head/conv2d/kernel');
        assert.equal(back.dtype, 'float32');
        assert.ok(Buffer.from(back.data.buffer).equals(Buffer.from(big.buffer)), `compress=${compress}`);
      } finally {
        await reader.close();
      }
      if (compress) {
        assert.deepEqual(await readNpz(file, { inflateSyncLimit: 0 }), expected);
      }
    }
  });

  it('accepts any iterable of entries, including a generator', async () => {
    const file = path.join(dir, 'generated.npz');
    function* entries(): Generator<[string, NdArray]> {
      for (let i = 0; i < 3; i++) {
        yield [`layer${i}/bias`, ndarray('float32', [2], new Float32Array([i, -i]))];
      }
    }
    await writeNpz(file, entries());
    assert.deepEqual([...(await readNpz(file)).keys()], ['layer0/bias', 'layer1/bias', 'layer2/bias']);
  });

  it('refuses duplicate and empty keys', async () => {
    const file = path.join(dir, 'dup.npz');
    const a = ndarray('int8', [1], new Int8Array([1]));
    await assert.rejects(
      writeNpz(file, [
        ['x', a],
        ['x', a],
      ]),
      /member 'x\.npy' is written twice/,
    );
    await assert.rejects(writeNpz(file, [['', a]]), /non-empty strings/);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('dup') || f.endsWith('.tmp')),
      [],
    );
  });

  it('names the file, the key and the available keys for a missing array', async () => {
    const file = path.join(dir, 'keys.npz');
    await writeNpz(file, arrays());
    const reader = await NpzReader.open(file);
    try {
      await assert.rejects(reader.read('resnet/nope'), /keys\.npz: no array 'resnet\/nope' \(the archive holds 19: resnet\/block1/);
    } finally {
      await reader.close();
    }
    await assert.rejects(reader.read('int8'), /keys\.npz: the archive is closed/);
  });

  it('reports a header that disagrees with the member size, as the user sees it', async () => {
    const file = path.join(dir, 'model.npz');
    // A .npy member whose header promises a 3x3x64x64 kernel but holds only 1000 bytes of data.
    const header = encodeNpyHeader('float32', [3, 3, 64, 64]);
    const member = Buffer.concat([header, Buffer.alloc(1000)]);
    await writeZip(file, async (zip) => {
      await zip.add('resnet/block1/unit01/b/standardized_conv2d/kernel.npy', member.length, [member]);
    });
    const reader = await NpzReader.open(file);
    try {
      for (const action of [
        () => reader.info('resnet/block1/unit01/b/standardized_conv2d/kernel'),
        () => reader.read('resnet/block1/unit01/b/standardized_conv2d/kernel'),
      ]) {
        await assert.rejects(action(), (err: unknown) => {
          assert.ok(err instanceof ArrayFileError);
          assert.equal(
            err.message,
            `${file}: member 'resnet/block1/unit01/b/standardized_conv2d/kernel.npy': header says shape [3,3,64,64] float32 (147456 bytes) but the member holds 1000 bytes of data`,
          );
          assert.equal(err.key, 'resnet/block1/unit01/b/standardized_conv2d/kernel');
          assert.equal(err.file, file);
          return true;
        });
      }
    } finally {
      await reader.close();
    }
  });

  it('ignores members that are not .npy, as numpy lists only what it can load', async () => {
    const file = path.join(dir, 'mixed.npz');
    await writeZip(file, async (zip) => {
      await zip.add('README.txt', 5, [Buffer.from('hello')]);
      const bytes = encodeNpy(ndarray('int16', [1], new Int16Array([5])));
      await zip.add('a.npy', bytes.length, [bytes], { compress: true });
    });
    const reader = await NpzReader.open(file);
    try {
      assert.deepEqual(reader.keys(), ['a']);
      assert.deepEqual([...(await reader.read('a')).data], [5]);
    } finally {
      await reader.close();
    }
    const zip = await ZipReader.open(file);
    try {
      const readme = zip.entry('README.txt');
      assert.ok(readme !== undefined);
      assert.equal(Buffer.from(await zip.read(readme)).toString(), 'hello');
    } finally {
      await zip.close();
    }
  });
});
