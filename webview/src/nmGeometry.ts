/**
 * N:M groups in a weight's [neurons, fan-in positions] view. View column c is input channel
 * ⌊c / K⌋ at kernel position c mod K (K = 1 for a linear weight); a group is M consecutive input
 * channels at one kernel position, so in view columns group g at position p is
 * { (g·M + j)·K + p : j < M }. Channels after the last full group form a partial group, which the
 * N:M check leaves out.
 */
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
  const channel = Math.floor(col / axis.K);
  const position = col - channel * axis.K;
  const group = Math.floor(channel / m);
  const fullGroups = Math.floor(axis.inDim / m);
  return { group, position, channel, partial: group >= fullGroups };
}

/** Columns of the group holding `col`, ascending. */
export function groupColumns(axis: NmAxis, m: number, col: number): number[] {
  const { group, position } = groupOfColumn(axis, m, col);
  const cols: number[] = [];
  for (let j = 0; j < m; j++) {
    const channel = group * m + j;
    if (channel >= axis.inDim) break;
    cols.push(channel * axis.K + position);
  }
  return cols;
}

/** View columns one channel group spans: M channels of K kernel positions each. */
export function groupBlock(axis: NmAxis, m: number): number {
  return m * axis.K;
}

/** Number of full groups per kernel position. */
export function fullGroupCount(axis: NmAxis, m: number): number {
  return Math.floor(axis.inDim / m);
}

/** First view column of the partial trailing group (the view's width when every group is full). */
export function partialGroupStart(axis: NmAxis, m: number): number {
  return fullGroupCount(axis, m) * groupBlock(axis, m);
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
  const block = groupBlock(axis, m);
  const windowCols = window.colEnd - window.colStart;
  const firstBlock = Math.floor(Math.max(visible.colStart, window.colStart) / block);
  const lastBlock = Math.min(fullGroupCount(axis, m) - 1, Math.floor((Math.min(visible.colEnd, window.colEnd) - 1) / block));
  const bad: ViolatingGroup[] = [];
  const r0 = Math.max(visible.rowStart, window.rowStart);
  const r1 = Math.min(visible.rowEnd, window.rowEnd);
  for (let r = r0; r < r1; r++) {
    const rowBase = (r - window.rowStart) * windowCols - window.colStart;
    for (let gi = firstBlock; gi <= lastBlock; gi++) {
      const c0 = gi * block;
      if (c0 < window.colStart || c0 + block > window.colEnd) continue;
      for (let p = 0; p < axis.K; p++) {
        let nnz = 0;
        for (let j = 0; j < m; j++) if (!isZero(values[rowBase + c0 + j * axis.K + p])) nnz++;
        if (nnz > n) bad.push({ row: r, first: c0 + p });
      }
    }
  }
  return bad;
}
