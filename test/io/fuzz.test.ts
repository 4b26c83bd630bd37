// Seeded fuzzing of the readers: truncated archives, flipped bytes, spliced
// and random files. Every attempt must either read exactly the original
// arrays or throw ArrayFileError; never another error, a hang or a crash.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { ArrayFileError, bytesOf, ndarray, ndarrayProblem, type NdArray } from '../../src/io/ndarray.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { NpzReader, writeNpz } from '../../src/io/npz.js';
import { fixture } from '../helpers.js';

/** mulberry32: a small seeded generator, so failures reproduce. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const below = (rng: Rng, n: number): number => Math.floor(rng() * n);

interface Snapshot {
  keys: string[];
  arrays: { dtype: string; shape: number[]; bytes: Buffer }[];
}

async function readAll(open: Promise<NpzReader>): Promise<Snapshot> {
  const reader = await open;
  try {
    const keys = reader.keys();
    const arrays: Snapshot['arrays'] = [];
    for (const key of keys) {
      const info = await reader.info(key);
      const array = await reader.read(key);
      assert.deepEqual(info, { dtype: array.dtype, shape: array.shape }, `info and read disagree on '${key}'`);
      arrays.push({ dtype: array.dtype, shape: array.shape, bytes: Buffer.from(bytesOf(array.data)) });
    }
    return { keys, arrays };
  } finally {
    await reader.close();
  }
}

/** One corrupted copy of `original`, with a description for failure messages. */
interface Mutation {
  bytes: Uint8Array;
  how: string;
  /** Whether a successful read must give the original arrays (false: random files may be valid archives of their own). */
  exact: boolean;
}

function mutate(original: Uint8Array, rng: Rng): Mutation {
  const kind = below(rng, 5);
  if (kind === 0) {
    const length = below(rng, original.length);
    return { bytes: original.slice(0, length), how: `truncated to ${length} bytes`, exact: true };
  }
  if (kind === 1 || kind === 2) {
    const bytes = Uint8Array.from(original);
    const flips = 1 + below(rng, kind === 1 ? 1 : 8);
    const where: string[] = [];
    for (let i = 0; i < flips; i++) {
      const at = below(rng, bytes.length);
      if (rng() < 0.5) {
        bytes[at] = (bytes[at] as number) ^ (1 << below(rng, 8));
      } else {
        bytes[at] = below(rng, 256);
      }
      where.push(String(at));
    }
    return { bytes, how: `bytes changed at ${where.join(', ')}`, exact: true };
  }
  if (kind === 3) {
    // Cut a slice out of the middle, or duplicate one.
    const from = below(rng, original.length);
    const to = from + below(rng, Math.min(200, original.length - from) + 1);
    const bytes =
      rng() < 0.5 ? Buffer.concat([original.subarray(0, from), original.subarray(to)]) : Buffer.concat([original.subarray(0, to), original.subarray(from)]);
    return { bytes, how: `slice ${from}..${to} cut or repeated`, exact: true };
  }
  // The tail of the file (its directory) over random bytes, or random bytes with a
  // plausible end record, so the parsers get past the first signature checks.
  const garbage = Buffer.from(Array.from({ length: below(rng, 3000) }, () => below(rng, 256)));
  if (rng() < 0.5) {
    const tail = original.subarray(original.length - below(rng, Math.min(original.length, 1200)));
    return { bytes: Buffer.concat([garbage, tail]), how: `${garbage.length} random bytes + last ${tail.length} bytes`, exact: false };
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(below(rng, 5), 10);
  end.writeUInt32LE(below(rng, garbage.length + 1), 12);
  end.writeUInt32LE(below(rng, garbage.length + 1), 16);
  return { bytes: Buffer.concat([garbage, end]), how: `${garbage.length} random bytes + an end record`, exact: false };
}

const dir = mkdtempSync(path.join(tmpdir(), 'bit-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function ours(options: { compress?: boolean; forceZip64?: boolean }): Promise<Uint8Array> {
  const file = path.join(dir, 'ours.npz');
  await writeNpz(
    file,
    [
      [
        'resnet/block1/unit01/a/standardized_conv2d/kernel',
        ndarray(
          'float32',
          [3, 3, 2, 2],
          Float32Array.from({ length: 36 }, (_, i) => i / 7),
        ),
      ],
      ['steps', ndarray('int64', [], new BigInt64Array([123n]))],
      ['mask', ndarray('bool', [5], new Uint8Array([1, 0, 1, 1, 0]))],
      ['empty', ndarray('uint16', [0, 4], new Uint16Array(0))],
    ],
    options,
  );
  return readFileSync(file);
}

const mutatedFile = path.join(dir, 'mutated.npz');
const fixtures = fixture('npz');
/** Attempts per archive and the seed; raise BIT_FUZZ_ATTEMPTS / change BIT_FUZZ_SEED for a longer hunt. */
const ATTEMPTS = Number(process.env['BIT_FUZZ_ATTEMPTS'] ?? 1000);
const SEED = Number(process.env['BIT_FUZZ_SEED'] ?? 0x5eed);

describe('fuzzing the npz reader', () => {
  const cases: [string, () => Promise<Uint8Array>][] = [
    ['numpy-savez.npz', () => Promise.resolve(readFileSync(path.join(fixtures, 'numpy-savez.npz')))],
    ['numpy-savez-compressed.npz', () => Promise.resolve(readFileSync(path.join(fixtures, 'numpy-savez-compressed.npz')))],
    ['ours, deflated, zip64 records', () => ours({ compress: true, forceZip64: true })],
    ['ours, stored', () => ours({})],
  ];
  cases.forEach(([name, load], index) => {
    it(`${name}: ${ATTEMPTS} corrupted copies read correctly or throw ArrayFileError`, async () => {
      const original = await load();
      const expected = await readAll(NpzReader.fromBytes(original, name));
      const rng = random(SEED + index);
      const outcomes = { correct: 0, refused: 0 };
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        const { bytes, how, exact } = mutate(original, rng);
        // Some attempts go through the streaming inflater and through a real file.
        const streaming = attempt % 10 === 0 ? 0 : 1 << 24;
        try {
          let got: Snapshot;
          if (attempt % 50 === 0) {
            writeFileSync(mutatedFile, bytes);
            got = await readAll(NpzReader.open(mutatedFile, { inflateSyncLimit: streaming }));
          } else {
            got = await readAll(NpzReader.fromBytes(bytes, name, { inflateSyncLimit: streaming }));
          }
          if (exact) {
            assert.deepEqual(got, expected, `attempt ${attempt} (${how}) read without error but differently`);
          }
          outcomes.correct++;
        } catch (err) {
          if (!(err instanceof ArrayFileError)) {
            assert.fail(`attempt ${attempt} (${how}) threw ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`);
          }
          assert.ok(err.message.startsWith(`${name}: `) || err.message.startsWith(`${mutatedFile}: `), err.message);
          outcomes.refused++;
        }
      }
      assert.equal(outcomes.correct + outcomes.refused, ATTEMPTS);
      assert.ok(outcomes.refused > ATTEMPTS / 2, `only ${outcomes.refused} of ${ATTEMPTS} corrupted copies were refused`);
    });
  });
});

describe('fuzzing the npy decoder', () => {
  it('corrupted .npy bytes decode to a well-formed array or throw ArrayFileError', () => {
    const sources = [
      encodeNpy(ndarray('float32', [2, 3], new Float32Array([1, 2, 3, 4, 5, 6]))),
      encodeNpy(ndarray('int64', [], new BigInt64Array([5n]))),
      encodeNpy(ndarray('bool', [0], new Uint8Array(0))),
      readFileSync(path.join(fixtures, 'numpy-savez.npz')).subarray(0x62, 0x62 + 4832), // numpy's own member
    ];
    const rng = random(SEED ^ 0xbeef);
    let refused = 0;
    const attempts = 3 * ATTEMPTS;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const source = sources[attempt % sources.length] as Uint8Array;
      const bytes = Uint8Array.from(source);
      let length = bytes.length;
      const flips = below(rng, 4);
      for (let i = 0; i < flips; i++) {
        // Aim mostly at the header, where the parsing is.
        const at = rng() < 0.8 ? below(rng, Math.min(128, bytes.length)) : below(rng, bytes.length);
        bytes[at] = rng() < 0.5 ? below(rng, 256) : " (),:'0123456789TrueFalse<>|f4i8".charCodeAt(below(rng, 32));
      }
      if (flips === 0 || rng() < 0.3) {
        length = below(rng, bytes.length + 1);
      }
      try {
        const array: NdArray = decodeNpy(bytes.subarray(0, length), { file: 'fuzz.npy' });
        assert.equal(ndarrayProblem(array), undefined);
      } catch (err) {
        if (!(err instanceof ArrayFileError)) {
          assert.fail(`attempt ${attempt} threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
        }
        refused++;
      }
    }
    assert.ok(refused > attempts / 4);
  });
});
