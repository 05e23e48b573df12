/**
 * Finding the next N:M group that holds more than N non-zeros, in the order the editor shows a
 * weight: row by row, and within a row by column, where a conv weight's columns are kernel
 * position first (ColumnOrder 'position-major'), so group g at position p starts at p·I + g·M.
 */
import type { NmPattern } from '../nmPattern';
import type { ViewWindow } from '../neuronView';

/** Most weights read at once. */
const STRIP_WEIGHTS = 1 << 16;

export interface ViewShape {
  readonly rows: number;
  readonly cols: number;
  /** Input channels: a kernel position's columns. */
  readonly inDim: number;
}

/**
 * The first column of every full group that starts in [from, to) of a row of `positions` kernel
 * positions of `inDim` channels each, ascending.
 */
export function groupStarts(inDim: number, positions: number, m: number, from: number, to: number): number[] {
  const starts: number[] = [];
  const full = Math.floor(inDim / m);
  for (let p = Math.max(0, Math.floor(from / inDim)); p * inDim < to && p < positions; p++) {
    for (let g = 0; g < full; g++) {
      const c = p * inDim + g * m;
      if (c >= from && c < to) starts.push(c);
    }
  }
  return starts;
}

/**
 * The violating group after (`direction` 1) or before (−1) position (row, col), wrapping around
 * the weight; null when no group violates. `read` gives the weights of a window, row-major.
 */
export async function nextViolation(
  shape: ViewShape,
  nm: NmPattern,
  from: { readonly row: number; readonly col: number },
  direction: 1 | -1,
  isZero: (v: number) => boolean,
  read: (window: ViewWindow) => Promise<Float32Array>,
  signal?: AbortSignal,
): Promise<{ row: number; col: number } | null> {
  const starts = groupStarts(shape.inDim, shape.cols / shape.inDim, nm.m, 0, shape.cols);
  if (starts.length === 0 || shape.rows === 0) return null;
  const stripRows = Math.max(1, Math.floor(STRIP_WEIGHTS / Math.max(1, shape.cols)));
  // Rows in search order: from's row (its later groups), the rest, then from's row again (its earlier groups).
  const order: number[] = [];
  for (let k = 0; k <= shape.rows; k++) order.push((((from.row + direction * k) % shape.rows) + shape.rows) % shape.rows);
  for (let i = 0; i < order.length; i += stripRows) {
    signal?.throwIfAborted();
    const rows = order.slice(i, i + stripRows);
    // A strip's rows are consecutive (or the one wrap point splits them): read each run once.
    const values = new Map<number, Float32Array>();
    for (const [start, end] of runs(rows)) {
      const block = await read({ rowStart: start, rowEnd: end + 1, colStart: 0, colEnd: shape.cols });
      for (let r = start; r <= end; r++) values.set(r, block.subarray((r - start) * shape.cols, (r - start + 1) * shape.cols));
    }
    for (let k = 0; k < rows.length; k++) {
      const row = rows[k];
      const first = i + k === 0;
      const last = i + k === order.length - 1;
      const v = values.get(row)!;
      const candidates = direction === 1 ? starts : [...starts].reverse();
      for (const c of candidates) {
        // The starting row: after `from` first, before it (or at it) last.
        if (first && (direction === 1 ? c <= from.col : c >= from.col)) continue;
        if (last && (direction === 1 ? c > from.col : c < from.col)) continue;
        let nnz = 0;
        for (let j = 0; j < nm.m; j++) if (!isZero(v[c + j])) nnz++;
        if (nnz > nm.n) return { row, col: c };
      }
    }
  }
  return null;
}

/** Runs of consecutive row numbers in `rows` (ascending or descending), as [low, high] pairs. */
function runs(rows: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  let lo = rows[0];
  let hi = rows[0];
  for (let k = 1; k < rows.length; k++) {
    const r = rows[k];
    if (r === hi + 1) hi = r;
    else if (r === lo - 1) lo = r;
    else {
      out.push([lo, hi]);
      lo = hi = r;
    }
  }
  out.push([lo, hi]);
  return out;
}
