import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSeed, permutation, philox4x32, RandomPurpose, randomWords, uniformInt, uniformInt32 } from '../../src/data/rng.js';

const hex = (a: Uint32Array): string => Array.from(a, (x) => x.toString(16).padStart(8, '0')).join(' ');

test('Philox4x32-10 matches the Random123 known-answer vectors', () => {
  assert.equal(hex(philox4x32(0, 0, 0, 0, 0, 0)), '6627e8d5 e169c58d bc57ac4c 9b00dbd8');
  assert.equal(hex(philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)), '408f276d 41c83b0e a20bc7c6 6d5451fd');
  assert.equal(hex(philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0)), 'd16cfe09 94fdcceb 5001e420 24126ea1');
});

test('random words depend on seed, purpose and counter, including positions above 2^32', () => {
  const a = hex(randomWords(1, RandomPurpose.augment, 5, 0));
  assert.equal(hex(randomWords(1, RandomPurpose.augment, 5, 0)), a);
  assert.notEqual(hex(randomWords(2, RandomPurpose.augment, 5, 0)), a);
  assert.notEqual(hex(randomWords(1, RandomPurpose.kShot, 5, 0)), a);
  assert.notEqual(hex(randomWords(1, RandomPurpose.augment, 5 + 2 ** 32, 0)), a);
  assert.notEqual(hex(randomWords(2 ** 32 + 1, RandomPurpose.augment, 5, 0)), a);
});

test('uniform integers stay in range and cover it', () => {
  const seen = new Set<number>();
  const w = new Uint32Array(4);
  for (let i = 0; i < 2000; i++) {
    randomWords(7, RandomPurpose.augment, i, 0, w);
    const a = uniformInt(w[0], w[1], 33);
    const b = uniformInt32(w[2], 33);
    assert.ok(a >= 0 && a < 33 && b >= 0 && b < 33);
    seen.add(a);
  }
  assert.equal(seen.size, 33);
  assert.equal(uniformInt32(0xffffffff, 33), 32);
  assert.equal(uniformInt(0xffffffff, 0xffffffff, 33), 32);
});

test('permutations are permutations, reproducible, different per stream', () => {
  const p = permutation(1000, 3, RandomPurpose.epochPermutation, 0);
  assert.deepEqual(
    [...p].sort((a, b) => a - b),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.deepEqual(permutation(1000, 3, RandomPurpose.epochPermutation, 0), p);
  assert.notDeepEqual(permutation(1000, 3, RandomPurpose.epochPermutation, 1), p);
  assert.notDeepEqual(permutation(1000, 4, RandomPurpose.epochPermutation, 0), p);
  // Position of element 0 is roughly uniform over many streams.
  let firstHalf = 0;
  for (let s = 0; s < 400; s++) if (permutation(10, s, RandomPurpose.epochPermutation, 0).indexOf(0) < 5) firstHalf++;
  assert.ok(firstHalf > 150 && firstHalf < 250, `element 0 in the first half ${firstHalf}/400 times`);
});

test('seeds are checked', () => {
  assert.throws(() => checkSeed(-1), /seed must be an integer in \[0, 2\^53\), but got -1/);
  assert.throws(() => checkSeed(1.5), /but got 1.5/);
  checkSeed(2 ** 53 - 1);
});
