import { strict as assert } from 'node:assert';
import { isPrunedCopy, zeroPruned } from '../../../src/core/prune/signedZeros';
import { seededRandom } from '../../helpers/random';

/** The rule by hand, one byte at a time: a pruned element keeps only its sign bit (in its most significant byte). */
function oracle(bytes: Uint8Array, size: number, keep: Uint8Array, order: 'little' | 'big'): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < keep.length; i++) {
    if (keep[i]) continue;
    for (let j = 0; j < size; j++) {
      const signByte = order === 'little' ? j === size - 1 : j === 0;
      out[i * size + j] = signByte ? out[i * size + j] & 0x80 : 0;
    }
  }
  return out;
}

describe('prune: signed zeros', () => {
  const rnd = seededRandom(5);
  for (const size of [2, 4, 8]) {
    for (const order of ['little', 'big'] as const) {
      for (const offset of [0, 1]) {
        it(`${size}-byte elements, ${order}-endian, ${offset ? 'unaligned (bytes)' : 'aligned (words)'}: the pruned are ±0, the kept untouched`, () => {
          const n = 257;
          const backing = new Uint8Array(n * size + 8);
          for (let i = 0; i < backing.length; i++) backing[i] = Math.floor(rnd() * 256);
          const bytes = backing.subarray(offset, offset + n * size);
          const keep = Uint8Array.from({ length: n }, () => (rnd() < 0.5 ? 1 : 0));
          const expected = oracle(bytes, size, keep, order);
          const original = Uint8Array.from(bytes);
          assert.deepEqual(zeroPruned(bytes, size, keep, order), expected);
          if (order === 'little') {
            assert.equal(isPrunedCopy(original, bytes, size, keep), true);
            const broken = Uint8Array.from(bytes);
            const kept = keep.indexOf(1);
            broken[kept * size] ^= 1;
            assert.equal(isPrunedCopy(original, broken, size, keep), false, 'a changed kept weight is caught');
            const pruned = Uint8Array.from(bytes);
            pruned[keep.indexOf(0) * size] = 1;
            assert.equal(isPrunedCopy(original, pruned, size, keep), false, 'a pruned weight that is not ±0 is caught');
          }
        });
      }
    }
  }
});
