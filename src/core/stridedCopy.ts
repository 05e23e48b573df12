import { numelOf } from './checkpoint';

/**
 * Copies a strided view (strides relative to `span[0]`) into C order. The trailing axes that
 * are contiguous among themselves form runs copied in one piece; an odometer walks the others.
 */
export function gatherStrided(span: Uint8Array, itemSize: number, size: readonly number[], stride: readonly number[]): Uint8Array {
  const numel = numelOf(size);
  const out = new Uint8Array(numel * itemSize);
  if (numel === 0) return out;
  let outer = size.length;
  let run = 1;
  while (outer > 0 && (size[outer - 1] === 1 || stride[outer - 1] === run)) run *= size[--outer];
  const runBytes = run * itemSize;
  const index = new Array<number>(outer).fill(0);
  let from = 0;
  for (let to = 0; to < out.length; to += runBytes) {
    const at = from * itemSize;
    if (runBytes <= 16) for (let b = 0; b < runBytes; b++) out[to + b] = span[at + b];
    else out.set(span.subarray(at, at + runBytes), to);
    // Odometer step: advance the last outer axis, carrying into earlier ones.
    for (let d = outer - 1; d >= 0; d--) {
      if (++index[d] < size[d]) {
        from += stride[d];
        break;
      }
      from -= (size[d] - 1) * stride[d];
      index[d] = 0;
    }
  }
  return out;
}

/** Element strides of Fortran (column-major) order: the first axis varies fastest. */
export function fortranStrides(shape: readonly number[]): number[] {
  const strides: number[] = [];
  for (let k = 0, s = 1; k < shape.length; k++) {
    strides.push(s);
    s *= shape[k];
  }
  return strides;
}

/**
 * The C-order copy of a strided view (as gatherStrided) in pieces of at most about `pieceBytes`,
 * in order: a large view is produced without ever holding its whole copy. Pieces are whole
 * slabs of one axis: that axis is the first whose inner block (the axes after it) fits in a piece.
 */
export function* gatherStridedPieces(
  span: Uint8Array,
  itemSize: number,
  size: readonly number[],
  stride: readonly number[],
  pieceBytes: number,
): Generator<Uint8Array> {
  if (size.length === 0 || numelOf(size) === 0) {
    yield gatherStrided(span, itemSize, size, stride);
    return;
  }
  let axis = 0;
  let inner = numelOf(size.slice(1)) * itemSize;
  while (axis < size.length - 1 && inner > pieceBytes) inner /= size[++axis];
  const perPiece = Math.max(1, Math.floor(pieceBytes / inner));
  const innerSize = size.slice(axis + 1);
  const innerStride = stride.slice(axis);
  // Odometer over the axes before `axis`; each position is split into slabs along `axis`.
  const index = new Array<number>(axis).fill(0);
  for (let base = 0; ;) {
    for (let i = 0; i < size[axis]; i += perPiece) {
      const count = Math.min(perPiece, size[axis] - i);
      yield gatherStrided(span.subarray((base + i * stride[axis]) * itemSize), itemSize, [count, ...innerSize], innerStride);
    }
    let d = axis - 1;
    for (; d >= 0; d--) {
      if (++index[d] < size[d]) {
        base += stride[d];
        break;
      }
      base -= (size[d] - 1) * stride[d];
      index[d] = 0;
    }
    if (d < 0) return;
  }
}
