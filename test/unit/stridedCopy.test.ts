import { strict as assert } from 'node:assert';
import { gatherStrided, gatherStridedPieces } from '../../src/core/stridedCopy';

/** The view's element at each C-order index, computed one index at a time (the definition). */
function naiveGather(span: Uint8Array, itemSize: number, size: number[], stride: number[]): Uint8Array {
  const numel = size.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(numel * itemSize);
  for (let flat = 0; flat < numel; flat++) {
    let rest = flat;
    let from = 0;
    for (let d = size.length - 1; d >= 0; d--) {
      from += (rest % size[d]) * stride[d];
      rest = Math.floor(rest / size[d]);
    }
    out.set(span.subarray(from * itemSize, (from + 1) * itemSize), flat * itemSize);
  }
  return out;
}

function spanFor(size: number[], stride: number[], itemSize: number): Uint8Array {
  const last = size.reduce((at, d, i) => at + (d - 1) * stride[i], 0);
  return Uint8Array.from({ length: (last + 1) * itemSize }, (_, i) => (i * 31 + 7) % 251);
}

const VIEWS: [number[], number[]][] = [
  [
    [4, 3],
    [1, 4],
  ], // a transpose
  [
    [5, 6],
    [1, 1],
  ], // overlapping rows
  [
    [3, 4, 5],
    [1, 3, 12],
  ], // Fortran order
  [
    [2, 3, 4],
    [24, 8, 2],
  ], // every other element
  [[7], [3]], // one axis
  [
    [2, 1, 9],
    [9, 100, 1],
  ], // a size-1 axis with any stride
];

describe('strided views gathered into C order', () => {
  for (const [size, stride] of VIEWS) {
    it(`[${size}] with strides [${stride}] equals the definition, whole and in pieces of every size`, () => {
      const itemSize = 2;
      const span = spanFor(size, stride, itemSize);
      const expected = naiveGather(span, itemSize, size, stride);
      assert.deepEqual(gatherStrided(span, itemSize, size, stride), expected);
      for (const pieceBytes of [1, 2, 6, 10, 64, 1 << 20]) {
        const pieces = [...gatherStridedPieces(span, itemSize, size, stride, pieceBytes)];
        assert.deepEqual(Buffer.concat(pieces), Buffer.from(expected), `pieces of ${pieceBytes} bytes`);
        // A piece is one slab: as small as the piece size allows, never less than one element.
        for (const piece of pieces) assert.ok(piece.length <= Math.max(pieceBytes, itemSize * size[size.length - 1]));
      }
    });
  }

  it('an empty view gives one empty piece', () => {
    assert.deepEqual(
      [...gatherStridedPieces(new Uint8Array(0), 4, [0, 3], [3, 1], 16)].map((p) => p.length),
      [0],
    );
  });
});
