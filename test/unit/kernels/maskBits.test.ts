import { strict as assert } from 'node:assert';
import { unpackBits } from '../../../src/core/maskBits';
import { seededRandom } from '../../helpers/random';

describe('masks packed 8 positions a byte (how masks cross the process boundary)', () => {
  it('unpacks the first position from the high bit, as numpy.packbits packs', () => {
    // np.packbits([1,0,1,1,0,0,0,1, 0,1,1]) == [0b10110001, 0b01100000]
    assert.deepEqual([...unpackBits(Uint8Array.of(0b10110001, 0b01100000), 11)], [1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1]);
    assert.deepEqual([...unpackBits(new Uint8Array(0), 0)], []);
    assert.throws(() => unpackBits(new Uint8Array(2), 17), /17 packed positions take 3 bytes, not 2/);
  });

  it('equals a bit-by-bit unpacking on random masks of every length modulo 8', () => {
    const rnd = seededRandom(5);
    for (let count = 1; count < 300; count += 7) {
      const mask = Uint8Array.from({ length: count }, () => (rnd() < 0.5 ? 1 : 0));
      const bits = new Uint8Array(Math.ceil(count / 8));
      mask.forEach((m, i) => (bits[i >> 3] |= m << (7 - (i % 8))));
      const out = unpackBits(bits, count);
      assert.equal(out.buffer.byteLength, count, 'no padding past the mask');
      assert.deepEqual(out, mask, `count ${count}`);
    }
  });
});
