// numpy as the independent reference: numpy (via /usr/bin/python3) must load
// what this project writes, and this project must read what numpy writes,
// including the cases the fixtures lack (big-endian data, Fortran-ordered
// 3-d arrays, version 2.0 / 3.0 headers, dtypes we refuse).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ArrayFileError, bytesOf, ndarray, zeros, type NdArray } from '../../src/io/ndarray.js';
import { encodeNpy, npyDescr, readNpy, writeNpy } from '../../src/io/npy.js';
import { NpzReader, writeNpz } from '../../src/io/npz.js';
import { pythonJson, requirePython } from '../python.js';

const requireNumpy = () => requirePython(['numpy'], 'python3-numpy');

interface Summary {
  descr: string;
  shape: number[];
  sha256: string;
}

function summary(array: NdArray): Summary {
  return {
    descr: npyDescr(array.dtype),
    shape: array.shape,
    sha256: createHash('sha256').update(bytesOf(array.data)).digest('hex'),
  };
}

const LOAD_SCRIPT = `
import hashlib, json, sys, zipfile
import numpy as np
out = {}
for path in sys.argv[1:]:
    assert zipfile.ZipFile(path).testzip() is None, path  # every CRC checks out
    with np.load(path) as z:
        out[path] = {k: {'descr': z[k].dtype.str, 'shape': list(z[k].shape),
                         'sha256': hashlib.sha256(np.ascontiguousarray(z[k]).tobytes()).hexdigest()} for k in z.files}
print(json.dumps(out))
`;

const LOAD_NPY_SCRIPT = `
import hashlib, json, sys
import numpy as np
out = {}
for path in sys.argv[1:]:
    a = np.load(path)
    out[path] = {'descr': a.dtype.str, 'shape': list(a.shape), 'sha256': hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()}
print(json.dumps(out))
`;

const WRITE_SCRIPT = `
import hashlib, json, os, sys
import numpy as np
d = sys.argv[1]
def le(a):  # the C-ordered little-endian bytes this project should decode to
    return np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<')).tobytes()
base = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 4 - 2
supported = {
    'big/f4': base.astype('>f4'),
    'big/f8': base.astype('>f8'),
    'big/i8': (base * 4 - 3e12).astype('>i8'),
    'big/i4': (base * 4).astype('>i4'),
    'big/i2': (base * 4).astype('>i2'),
    'big/u2': (base * 4 + 20).astype('>u2'),
    'big/u4': (base * 4 + 4e9).astype('>u4'),
    'big/scalar': np.array(3.5, dtype='>f8'),
    'fortran/f4': np.asfortranarray(base.astype('<f4')),
    'fortran/i8': np.asfortranarray((base * 4).astype('<i8')),
    'fortran/u1': np.asfortranarray((base * 4 + 8).astype('u1')),
    'fortran/bool': np.asfortranarray(base > 0),
    'fortran/big_f8': np.asfortranarray(base.astype('>f8')),
    'fortran/4d': np.asfortranarray(np.arange(120, dtype='<i2').reshape(2, 3, 4, 5)),
    'fortran/empty': np.asfortranarray(np.zeros((0, 3), dtype='<f4')),
    'transposed/kernel': np.arange(60, dtype='<f4').reshape(3, 4, 5).transpose(2, 0, 1),
}
unsupported = {
    'half': np.ones(3, dtype='<f2'),
    'complex': np.ones(2, dtype='<c8'),
    'text': np.array(['abc', 'de']),
    'uint64': np.arange(3, dtype='<u8'),
    'pair': np.zeros(2, dtype=[('a', '<f4'), ('b', '<i4')]),
    'object': np.array([{'a': 1}, None], dtype=object),
}
np.savez(os.path.join(d, 'tricky.npz'), **supported)
np.savez_compressed(os.path.join(d, 'tricky-compressed.npz'), **supported)
np.savez(os.path.join(d, 'unsupported.npz'), **unsupported)
for v in [(1, 0), (2, 0), (3, 0)]:
    with open(os.path.join(d, 'v%d.npy' % v[0]), 'wb') as f:
        np.lib.format.write_array(f, supported['fortran/f4'], version=v)
plain = {
    'f4': base.astype('<f4'), 'f8': base, 'i8': np.arange(-5, 5, dtype='<i8'), 'u1': np.arange(7, dtype='u1'),
    'b1': np.array([True, False, True]), 'scalar': np.float32(0.25), 'empty': np.zeros((4, 0, 2), dtype='<i4'),
    'long': np.zeros((123456789, 0), dtype='<u2'), 'i1': np.array([-1, 2], dtype='i1'), 'u4': np.array([7], dtype='<u4'),
}
for k, a in plain.items():
    np.save(os.path.join(d, 'plain-%s.npy' % k), a)
print(json.dumps({
    'supported': {k: {'descr': a.dtype.newbyteorder('<').str if a.dtype.itemsize > 1 else a.dtype.str,
                      'shape': list(a.shape), 'sha256': hashlib.sha256(le(a)).hexdigest()} for k, a in supported.items()},
    'unsupported': {k: a.dtype.str if a.dtype.fields is None else str(a.dtype.descr) for k, a in unsupported.items()},
    'plain': sorted(plain),
}))
`;

interface Written {
  supported: Record<string, Summary>;
  unsupported: Record<string, string>;
  plain: string[];
}

const dir = mkdtempSync(path.join(tmpdir(), 'bit-numpy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('numpy reads what we write', () => {
  before(requireNumpy);

  const arrays = new Map<string, NdArray>([
    [
      'resnet/root_block/standardized_conv2d/kernel',
      ndarray(
        'float32',
        [2, 2, 3, 4],
        Float32Array.from({ length: 48 }, (_, i) => Math.sin(i) * 3),
      ),
    ],
    ['resnet/block4/unit03/c/group_norm/beta', ndarray('float32', [4], new Float32Array([-0, NaN, Infinity, 1e-45]))],
    ['head/conv2d/bias', zeros('float32', [0])],
    ['f8', ndarray('float64', [3], new Float64Array([Math.E, -1e-310, 1e300]))],
    ['i8', ndarray('int64', [2, 1], new BigInt64Array([-(2n ** 62n), 12345678901234n]))],
    ['i4', ndarray('int32', [2], new Int32Array([-7, 7]))],
    ['i2', ndarray('int16', [2], new Int16Array([-300, 300]))],
    ['i1', ndarray('int8', [2], new Int8Array([-3, 3]))],
    ['u1', ndarray('uint8', [2, 2], new Uint8Array([0, 50, 200, 255]))],
    ['u2', ndarray('uint16', [1], new Uint16Array([60000]))],
    ['u4', ndarray('uint32', [1], new Uint32Array([4e9]))],
    ['b1', ndarray('bool', [3], new Uint8Array([1, 0, 1]))],
    ['step', ndarray('int64', [], new BigInt64Array([1000n]))],
    ['scalar', ndarray('float32', [], new Float32Array([0.1]))],
    ['empty3d', zeros('uint8', [2, 0, 3])],
    ['ünïcode/ключ', ndarray('float32', [1], new Float32Array([1]))],
  ]);

  it('np.load reads the .npy files writeNpy writes (bit predict --output), every dtype', async () => {
    const files: string[] = [];
    for (const array of arrays.values()) {
      const file = path.join(dir, `single-${files.length}.npy`);
      await writeNpy(file, array);
      files.push(file);
    }
    const loaded = pythonJson(LOAD_NPY_SCRIPT, files) as Record<string, Summary>;
    [...arrays.values()].forEach((array, i) => assert.deepEqual(loaded[files[i]], summary(array), [...arrays.keys()][i]));
  });

  it('np.load gives the same dtype, shape and bytes for stored, deflated and zip64 archives', async () => {
    const files: string[] = [];
    for (const [name, options] of [
      ['stored', {}],
      ['deflated', { compress: true }],
      ['zip64', { forceZip64: true }],
      ['zip64-deflated', { compress: true, forceZip64: true }],
    ] as const) {
      const file = path.join(dir, `ours-${name}.npz`);
      await writeNpz(file, arrays, options);
      files.push(file);
    }
    const loaded = pythonJson(LOAD_SCRIPT, files) as Record<string, Record<string, Summary>>;
    const expected = Object.fromEntries([...arrays].map(([k, a]) => [k, summary(a)]));
    for (const file of files) {
      assert.deepEqual(loaded[file], expected, file);
    }
  });
});

describe('we read what numpy writes', () => {
  let written: Written;
  before(() => {
    requireNumpy();
    written = pythonJson(WRITE_SCRIPT, [dir]) as Written;
  });

  for (const file of ['tricky.npz', 'tricky-compressed.npz']) {
    it(`${file}: big-endian, Fortran-ordered and transposed arrays`, async () => {
      const reader = await NpzReader.open(path.join(dir, file));
      try {
        assert.deepEqual(reader.keys(), Object.keys(written.supported));
        for (const [key, expected] of Object.entries(written.supported)) {
          assert.deepEqual(summary(await reader.read(key)), expected, key);
        }
      } finally {
        await reader.close();
      }
    });
  }

  it('refuses dtypes it does not support, naming the key and the dtype', async () => {
    const file = path.join(dir, 'unsupported.npz');
    const reader = await NpzReader.open(file);
    try {
      for (const [key, descr] of Object.entries(written.unsupported)) {
        for (const action of [() => reader.info(key), () => reader.read(key)]) {
          await assert.rejects(action(), (err: unknown) => {
            assert.ok(err instanceof ArrayFileError, String(err));
            assert.ok(err.message.startsWith(`${file}: member '${key}.npy': unsupported dtype `), err.message);
            assert.ok(err.message.includes(descr), `${err.message} should name ${descr}`);
            return true;
          });
        }
      }
    } finally {
      await reader.close();
    }
  });

  it('reads version 1.0, 2.0 and 3.0 .npy files', async () => {
    const expected = written.supported['fortran/f4'];
    for (const v of [1, 2, 3]) {
      const bytes = readFileSync(path.join(dir, `v${v}.npy`));
      assert.equal(bytes[6], v);
      assert.deepEqual(summary(await readNpy(path.join(dir, `v${v}.npy`))), expected, `version ${v}.0`);
    }
  });

  it('encodes exactly the bytes np.save writes', async () => {
    for (const name of written.plain) {
      const file = path.join(dir, `plain-${name}.npy`);
      const array = await readNpy(file);
      assert.deepEqual(Buffer.from(encodeNpy(array)), readFileSync(file), name);
    }
  });
});
