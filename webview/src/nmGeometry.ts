/**
 * N:M groups in a weight's [neurons, fan-in positions] view as the editor draws it: view column d
 * is input channel d mod I at kernel position ⌊d / I⌋ (I input channels; one position for a linear
 * weight). A group is M consecutive input channels at one kernel position, so its columns are
 * adjacent: group g at position p is columns p·I + g·M … p·I + g·M + M − 1. Channels after the
 * last full group of a position form a partial group, which the N:M check leaves out.
 */
import { groupStarts as groupStartsIn } from '../../src/core/analysis/violations';
import type { ViewWindow as HeatmapWindow } from '../../src/core/neuronView';

/** The N:M axis of a view. */
export interface NmAxis {
  /** Input channels (the N:M axis). */
  readonly inDim: number;
  /** Kernel positions per input channel. */
  readonly K: number;
}

/** An N:M pattern: at most `n` non-zeros in every group of `m`. */
export interface NmCounts {
  readonly n: number;
  readonly m: number;
}

export interface ColumnGroup {
  /** Channel group ⌊channel / M⌋. */
  readonly group: number;
  /** Kernel position of the column. */
  readonly position: number;
  /** Input channel of the column. */
  readonly channel: number;
  /** The group has fewer than M channels (it is not checked). */
  readonly partial: boolean;
}

export function groupOfColumn(axis: NmAxis, m: number, col: number): ColumnGroup {
  const position = Math.floor(col / axis.inDim);
  const channel = col - position * axis.inDim;
  const group = Math.floor(channel / m);
  return { group, position, channel, partial: group >= fullGroupCount(axis, m) };
}

/** Columns of the group holding `col`, ascending. */
export function groupColumns(axis: NmAxis, m: number, col: number): number[] {
  const { group, position } = groupOfColumn(axis, m, col);
  const cols: number[] = [];
  for (let channel = group * m; channel < Math.min(axis.inDim, (group + 1) * m); channel++) cols.push(position * axis.inDim + channel);
  return cols;
}

/** A column step that keeps group starts aligned (for windows that should not cut groups): M when groups start at multiples of M. */
export function groupBlock(axis: NmAxis, m: number): number {
  return axis.K === 1 || axis.inDim % m === 0 ? m : 1;
}

/** Number of full groups per kernel position. */
export function fullGroupCount(axis: NmAxis, m: number): number {
  return Math.floor(axis.inDim / m);
}

/** The first column of every full group that starts in [from, to), ascending. */
export function groupStarts(axis: NmAxis, m: number, from: number, to: number): number[] {
  return groupStartsIn(axis.inDim, axis.K, m, from, to);
}

/** The columns of partial groups within [from, to), as [start, end) ranges (one per kernel position at most). */
export function partialRanges(axis: NmAxis, m: number, from: number, to: number): [number, number][] {
  const ranges: [number, number][] = [];
  const full = fullGroupCount(axis, m) * m;
  if (full === axis.inDim) return ranges;
  for (let p = Math.max(0, Math.floor(from / axis.inDim)); p * axis.inDim < to && p < axis.K; p++) {
    const start = Math.max(from, p * axis.inDim + full);
    const end = Math.min(to, (p + 1) * axis.inDim);
    if (start < end) ranges.push([start, end]);
  }
  return ranges;
}

/** A group with more than N non-zeros: its row and its first (lowest) column. */
export interface ViolatingGroup {
  readonly row: number;
  readonly first: number;
}

/**
 * The full groups in the rows and columns of `visible` that lie wholly inside `window` (whose
 * weights `values` holds, row-major) and have more than N non-zeros.
 */
export function violatingGroups(
  axis: NmAxis,
  nm: NmCounts,
  values: ArrayLike<number>,
  window: HeatmapWindow,
  visible: HeatmapWindow,
  isZero: (v: number) => boolean,
): ViolatingGroup[] {
  const { n, m } = nm;
  const from = Math.max(visible.colStart, window.colStart);
  const to = Math.min(visible.colEnd, window.colEnd);
  const starts = groupStarts(axis, m, from, to).filter((c) => c >= window.colStart && c + m <= window.colEnd);
  const windowCols = window.colEnd - window.colStart;
  const bad: ViolatingGroup[] = [];
  const r0 = Math.max(visible.rowStart, window.rowStart);
  const r1 = Math.min(visible.rowEnd, window.rowEnd);
  for (let r = r0; r < r1; r++) {
    const rowBase = (r - window.rowStart) * windowCols - window.colStart;
    for (const c0 of starts) {
      let nnz = 0;
      for (let j = 0; j < m; j++) if (!isZero(values[rowBase + c0 + j])) nnz++;
      if (nnz > n) bad.push({ row: r, first: c0 });
    }
  }
  return bad;
}
