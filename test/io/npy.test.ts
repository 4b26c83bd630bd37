// .npy decoding and encoding on hand-built inputs: header versions, byte
// orders, Fortran order, unsupported dtypes and malformed headers.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { ArrayFileError, ND_DTYPES, ndarray, numel, zeros, type NdArray } from '../../src/io/ndarray.js';
import { NpyDecoder, decodeNpy, encodeNpy, encodeNpyHeader, npyDescr, parseNpyHeader, readNpy, writeNpy } from '../../src/io/npy.js';

/** A .npy file with header `text` (padded like numpy) and raw `data`. */
function npy(text: string, data: Uint8Array = new Uint8Array(0), version = 1): Uint8Array {
  const field = version === 1 ? 2 : 4;
  const unpadded = 8 + field + text.length + 1;
  const padded = text + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = Buffer.alloc(8 + field + padded.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  if (version === 1) {
    out.writeUInt16LE(padded.length, 8);
  } else {
    out.writeUInt32LE(padded.length, 8);
  }
  out.write(padded, 8 + field, version === 3 ? 'utf8' : 'latin1');
  out.set(data, 8 + field + padded.length);
  return out;
}

function header(descr: string, shape: string, fortran = false): string {
  return `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
}

function be32(values: number[], float: boolean): Uint8Array {
  const out = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => (float ? out.writeFloatBE(v, i * 4) : out.writeUInt32BE(v, i * 4)));
  return out;
}

function rejects(run: () => unknown, pattern: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof ArrayFileError, `expected ArrayFileError, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

/** One array of every dtype with awkward values. */
function samples(): NdArray[] {
  return [
    ndarray('float32', [2, 3], new Float32Array([0, -0, 1.5, -3.25, Infinity, NaN])),
    ndarray('float64', [3], new Float64Array([Math.PI, -1e300, Number.MIN_VALUE])),
    ndarray('int64', [2], new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n])),
    ndarray('int32', [2, 1], new Int32Array([-(2 ** 31), 2 ** 31 - 1])),
    ndarray('int16', [2], new Int16Array([-32768, 32767])),
    ndarray('int8', [3], new Int8Array([-128, 0, 127])),
    ndarray('uint8', [1, 1, 3], new Uint8Array([0, 128, 255])),
    ndarray('uint16', [2], new Uint16Array([0, 65535])),
    ndarray('uint32', [2], new Uint32Array([0, 2 ** 32 - 1])),
    ndarray('bool', [4], new Uint8Array([1, 0, 0, 1])),
  ];
}

describe('ndarray', () => {
  it('numel', () => {
    assert.equal(numel([]), 1);
    assert.equal(numel([2, 3, 4]), 24);
    assert.equal(numel([5, 0, 2 ** 52, 2 ** 52]), 0);
    assert.throws(() => numel([-1]), RangeError);
    assert.throws(() => numel([1.5]), RangeError);
    assert.throws(() => numel([2 ** 30, 2 ** 30]), RangeError);
  });

  it('ndarray() checks the data against dtype and shape', () => {
    assert.deepEqual(ndarray('float32', [2], new Float32Array(2)).shape, [2]);
    assert.throws(() => ndarray('float32', [3], new Float32Array(2)), /needs 3 values but data holds 2/);
    assert.throws(() => ndarray('float32', [2], new Float64Array(2) as unknown as Float32Array), /needs a Float32Array, got Float64Array/);
    assert.equal(zeros('int64', [2, 2]).data.length, 4);
  });
});

describe('npy decoding', () => {
  it('reads version 1.0, 2.0 and 3.0 headers', () => {
    for (const version of [1, 2, 3]) {
      const array = decodeNpy(npy(header('<f4', '(2,)'), new Uint8Array(new Float32Array([1, 2]).buffer), version));
      assert.deepEqual(array, { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) }, `version ${version}`);
    }
  });

  it('accepts the literal spellings numpy and Python 2 produce', () => {
    const data = new Uint8Array(new Int32Array([7, 8, 9, 10, 11, 12]).buffer);
    for (const text of [
      "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
      '{"shape": (2L, 3L), "fortran_order": False, "descr": "<i4"}',
      "{'descr':'<i4','fortran_order':False,'shape':(2,3)}",
    ]) {
      const array = decodeNpy(npy(text, data));
      assert.deepEqual(array.shape, [2, 3], text);
      assert.deepEqual([...array.data], [7, 8, 9, 10, 11, 12], text);
    }
  });

  it('reads 0-d scalars and empty arrays', () => {
    assert.deepEqual(decodeNpy(npy(header('<f8', '()'), new Uint8Array(new Float64Array([2.5]).buffer))), {
      dtype: 'float64',
      shape: [],
      data: new Float64Array([2.5]),
    });
    assert.deepEqual(decodeNpy(npy(header('<f4', '(0, 5)'))), { dtype: 'float32', shape: [0, 5], data: new Float32Array(0) });
  });

  it('byte-swaps big-endian data to native order', () => {
    assert.deepEqual([...decodeNpy(npy(header('>f4', '(3,)'), be32([1.5, -2, 1e-3], true))).data], [1.5, -2, Math.fround(1e-3)]);
    assert.deepEqual([...decodeNpy(npy(header('>u4', '(2,)'), be32([1, 0xdeadbeef], false))).data], [1, 0xdeadbeef]);
    const i8 = Buffer.alloc(16);
    i8.writeBigInt64BE(-5n, 0);
    i8.writeBigInt64BE(2n ** 40n + 3n, 8);
    assert.deepEqual([...decodeNpy(npy(header('>i8', '(2,)'), i8)).data], [-5n, 2n ** 40n + 3n]);
    const f8 = Buffer.alloc(8);
    f8.writeDoubleBE(-Math.E);
    assert.deepEqual([...decodeNpy(npy(header('>f8', '()'), f8)).data], [-Math.E]);
    const i2 = Buffer.from([0xff, 0xfe, 0x01, 0x00]);
    assert.deepEqual([...decodeNpy(npy(header('>i2', '(2,)'), i2)).data], [-2, 256]);
    // 1-byte types carry any byte order mark.
    assert.deepEqual([...decodeNpy(npy(header('<u1', '(2,)'), Buffer.from([3, 4]))).data], [3, 4]);
  });

  it('converts Fortran order to C order for every item size', () => {
    // A 2x3x4 array whose C-order values are 0..23; in Fortran order the first axis varies fastest.
    const shape = [2, 3, 4];
    const fortran: number[] = [];
    for (let k = 0; k < 4; k++) {
      for (let j = 0; j < 3; j++) {
        for (let i = 0; i < 2; i++) {
          fortran.push(i * 12 + j * 4 + k);
        }
      }
    }
    const expected = Array.from({ length: 24 }, (_, i) => i);
    const cases: [string, Uint8Array, (v: number | bigint) => number][] = [
      ['|u1', new Uint8Array(fortran), Number],
      ['<i2', new Uint8Array(new Int16Array(fortran).buffer), Number],
      ['<f4', new Uint8Array(new Float32Array(fortran).buffer), Number],
      ['<i8', new Uint8Array(new BigInt64Array(fortran.map(BigInt)).buffer), Number],
      ['<f8', new Uint8Array(new Float64Array(fortran).buffer), Number],
    ];
    for (const [descr, data, toNumber] of cases) {
      const array = decodeNpy(npy(header(descr, '(2, 3, 4)', true), data));
      assert.deepEqual(array.shape, shape);
      assert.deepEqual(Array.from(array.data as ArrayLike<number | bigint>, toNumber), expected, descr);
    }
    // Fortran order and big-endian together.
    const both = decodeNpy(npy(header('>f4', '(2, 2)', true), be32([1, 3, 2, 4], true)));
    assert.deepEqual([...both.data], [1, 2, 3, 4]);
  });

  it('normalises bool bytes to 0/1', () => {
    assert.deepEqual([...decodeNpy(npy(header('|b1', '(3,)'), Buffer.from([0, 2, 255]))).data], [0, 1, 1]);
  });

  it('refuses unsupported dtypes, naming the key and the dtype', () => {
    const context = { file: 'model.npz', key: 'head/kernel', member: 'head/kernel.npy' };
    for (const descr of ['<f2', '<c8', '<c16', '|O', '<U3', '|S4', '<M8[ns]', '<u8', '|V8', '>f16']) {
      const bytes = npy(header(descr, '(2,)'), new Uint8Array(16));
      rejects(
        () => new NpyDecoder(bytes.length, context).push(bytes),
        new RegExp(`^model\\.npz: member 'head/kernel\\.npy': unsupported dtype '${descr.replace(/[[\]]/g, '\\$&')}'`),
      );
    }
    rejects(
      () => decodeNpy(npy("{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,), }", new Uint8Array(16))),
      /unsupported dtype \[\('a', '<f4'\), \('b', '<i4'\)\]/,
    );
    rejects(() => decodeNpy(npy(header('|f4', '(1,)'), new Uint8Array(4))), /no byte order/);
  });

  it('refuses malformed headers with ArrayFileError', () => {
    const ok = npy(header('<f4', '(2,)'), new Uint8Array(8));
    rejects(() => decodeNpy(new Uint8Array(0)), /truncated/);
    rejects(() => decodeNpy(ok.subarray(0, 9)), /truncated/);
    rejects(() => decodeNpy(ok.subarray(0, 70)), /truncated/);
    rejects(() => decodeNpy(ok.subarray(0, ok.length - 1)), /header says shape \[2\] float32 \(8 bytes\) but the input holds 7 bytes/);
    rejects(() => decodeNpy(Buffer.from('PK\x03\x04 definitely not numpy')), /magic/);
    const v4 = Uint8Array.from(ok);
    v4[6] = 4;
    rejects(() => decodeNpy(v4), /version 4\.0/);
    const long = Uint8Array.from(ok);
    long[6] = 2;
    long.set([0xff, 0xff, 0xff, 0x7f], 8);
    rejects(() => decodeNpy(long), /claims \d+ bytes of text/);
    const bad: [string, RegExp][] = [
      ["{'descr': '<f4', 'fortran_order': False, }", /exactly the keys/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", /exactly the keys/],
      ["{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", /fortran_order/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", /tuple of non-negative integers/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", /tuple of non-negative integers/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': ('2',), }", /tuple of non-negative integers/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", /too large/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", /more than 2\^53/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk", /after the header dict/],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", /not a valid Python literal/],
      ["{'descr: '<f4'}", /not a valid Python literal/],
      ['[1, 2]', /not a dict/],
      [`{'descr': ${'('.repeat(5000)}`, /nested too deeply/],
      [`{'descr': '<f4', 'fortran_order': False, 'shape': (${Array(100).fill(1).join(', ')}), }`, /100 dimensions/],
    ];
    for (const [text, pattern] of bad) {
      rejects(() => decodeNpy(npy(text, new Uint8Array(8))), pattern);
    }
  });

  it('decodes the same when fed one byte at a time', () => {
    for (const array of samples()) {
      const bytes = encodeNpy(array);
      const decoder = new NpyDecoder(bytes.length);
      for (let i = 0; i < bytes.length; i++) {
        decoder.push(bytes.subarray(i, i + 1));
      }
      assert.deepEqual(decoder.finish(), array);
    }
  });

  it('never allocates for a shape the stream cannot hold', () => {
    const bytes = npy(header('<f8', '(1000000000000,)'), new Uint8Array(8));
    rejects(() => decodeNpy(bytes), /\(8000000000000 bytes\) but the input holds 8 bytes/);
  });
});

describe('npy encoding', () => {
  it("writes numpy's header layout", () => {
    for (const shape of [[], [3], [7, 7, 3, 8], [123456789, 0]]) {
      const bytes = encodeNpyHeader('float32', shape);
      assert.equal(bytes.length % 64, 0);
      assert.equal(bytes[6], 1);
      assert.equal(bytes[bytes.length - 1], 0x0a);
      const parsed = parseNpyHeader(bytes);
      assert.deepEqual(parsed.shape, shape);
      assert.equal(parsed.headerBytes, bytes.length);
    }
    assert.equal(
      Buffer.from(encodeNpyHeader('float32', [7, 7, 3, 8]))
        .toString('latin1')
        .trimEnd(),
      "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (7, 7, 3, 8), }",
    );
    assert.deepEqual(ND_DTYPES.map(npyDescr), ['<f4', '<f8', '<i8', '<i4', '<i2', '|i1', '|u1', '<u2', '<u4', '|b1']);
  });

  it('switches to a version 2.0 header when the text outgrows 65535 bytes', () => {
    const bytes = encodeNpyHeader('uint8', new Array<number>(25000).fill(1));
    assert.equal(bytes[6], 2);
    assert.equal(bytes.length % 64, 0);
    assert.equal(Buffer.from(bytes).readUInt32LE(8), bytes.length - 12);
    rejects(() => parseNpyHeader(bytes), /25000 dimensions/); // parses, but more axes than numpy allows
  });

  it('round-trips every dtype', () => {
    for (const array of samples()) {
      assert.deepEqual(decodeNpy(encodeNpy(array)), array, array.dtype);
    }
  });

  it('writes bool values as 0/1', () => {
    const decoded = decodeNpy(encodeNpy(ndarray('bool', [3], new Uint8Array([0, 7, 1]))));
    assert.deepEqual([...decoded.data], [0, 1, 1]);
  });

  it('refuses to encode malformed arrays', () => {
    const broken = { dtype: 'float32', shape: [4], data: new Float32Array(3) } as NdArray;
    assert.throws(() => encodeNpy(broken), /needs 4 values but data holds 3/);
    const wrong = { dtype: 'complex64', shape: [1], data: new Float32Array(2) } as unknown as NdArray;
    assert.throws(() => encodeNpy(wrong), /dtype "complex64" is not one of/);
  });
});

describe('npy files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bit-npy-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writeNpy / readNpy round-trip, atomically', async () => {
    const file = path.join(dir, 'a.npy');
    for (const array of samples()) {
      await writeNpy(file, array);
      assert.deepEqual(await readNpy(file), array);
    }
    assert.deepEqual(readdirSync(dir), ['a.npy']);
  });

  it('names the file in errors', async () => {
    const file = path.join(dir, 'a.npy');
    await writeNpy(file, ndarray('float32', [2], new Float32Array([1, 2])));
    rmSync(file);
    await assert.rejects(readNpy(file), /ENOENT/);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, npy(header('<f4', '(3,)'), new Uint8Array(8)));
    await assert.rejects(readNpy(file), (err: unknown) => err instanceof ArrayFileError && err.message.startsWith(`${file}: `));
  });
});
