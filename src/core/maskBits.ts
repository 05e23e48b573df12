/**
 * Masks packed 8 positions a byte in storage order, the first in the high bit (numpy.packbits'
 * order): how a mask crosses a process boundary. Unpacking goes 4 positions at a time through a
 * table, so that it costs far less than sending the unpacked bytes would.
 */

/** For each 4-bit nibble, the 4 mask bytes it stands for, as one little-endian uint32. */
const NIBBLE_BYTES = Uint32Array.from({ length: 16 }, (_, nibble) => {
  let word = 0;
  for (let j = 0; j < 4; j++) if (nibble & (8 >> j)) word |= 1 << (8 * j);
  return word >>> 0;
});

const littleEndian = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** `count` positions of `bits` as one byte each (1 = set). */
export function unpackBits(bits: Uint8Array, count: number): Uint8Array {
  if (bits.length !== Math.ceil(count / 8))
    throw new RangeError(`${count} packed positions take ${Math.ceil(count / 8)} bytes, not ${bits.length}`);
  const out = new Uint8Array(count);
  const whole = Math.floor(count / 8);
  let from = 0;
  if (littleEndian) {
    const words = new Uint32Array(out.buffer, 0, 2 * whole);
    for (let i = 0; i < whole; i++) {
      const b = bits[i];
      words[2 * i] = NIBBLE_BYTES[b >> 4];
      words[2 * i + 1] = NIBBLE_BYTES[b & 15];
    }
    from = 8 * whole;
  }
  for (let i = from; i < count; i++) out[i] = (bits[i >> 3] >> (7 - (i & 7))) & 1;
  return out;
}
