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
