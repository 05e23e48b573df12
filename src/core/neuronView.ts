import { numelOf, type WeightLayout } from './checkpoint';

/** Row-major strides of `shape`, in elements. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Storage offsets of a weight's kernel positions: every index of the axes other than output and input, in C order. */
export function kernelPositionOffsets(shape: readonly number[], outAxis: number, inAxis: number): number[] {
  const strides = stridesOf(shape);
  let offsets = [0];
  shape.forEach((size, axis) => {
    if (axis === outAxis || axis === inAxis) return;
    offsets = offsets.flatMap((o) => Array.from({ length: size }, (_, i) => o + i * strides[axis]));
  });
  return offsets;
}

/** A rectangle of a [neurons, fan-in positions] view; ends are exclusive. */
export interface ViewWindow {
  readonly rowStart: number;
  readonly rowEnd: number;
  readonly colStart: number;
  readonly colEnd: number;
}

/** The shape of a weight's [neurons, fan-in positions] view, and how its columns map to input channels. */
export interface NeuronGeometry {
  /** Output neurons. */
  readonly rows: number;
  /** Weights per neuron: the fan-in of a dense neuron. */
  readonly cols: number;
  /** Input channels: the N:M axis. */
  readonly inDim: number;
  /** View columns per input channel (a conv's kernel positions): column c is channel ⌊c / K⌋ at position c mod K. */
  readonly kernelPositions: number;
}

export function neuronGeometry(shape: readonly number[], layout: WeightLayout): NeuronGeometry {
  const rows = shape[layout.outAxis];
  const cols = rows === 0 ? 0 : numelOf(shape) / rows;
  const inDim = shape[layout.inAxis];
  return { rows, cols, inDim, kernelPositions: inDim > 0 ? Math.max(1, Math.round(cols / inDim)) : 1 };
}

/**
 * How a view orders a weight's fan-in positions: as stored (the flat C-order index over every
 * axis but the output one), or kernel position first, input channel second, so that the M input
 * channels of one N:M group are M adjacent columns (column d = channel d mod I at kernel position
 * ⌊d / I⌋) — how the editor draws conv weights.
 */
export type ColumnOrder = 'stored' | 'position-major';

/** Rows and columns of a weight mapped to storage indices. */
export interface WeightView {
  readonly rows: number;
  readonly cols: number;
  index(row: number, col: number): number;
  /** The (row, col) of storage index `i`, inverse of index(). */
  position(i: number): { row: number; col: number };
  /** The lowest and highest storage index of the weights of `w`. */
  span(w: ViewWindow): { first: number; last: number };
  /** Throws a RangeError unless `w` is a non-empty window inside the view. */
  checkWindow(w: ViewWindow): void;
}

export function viewOf(shape: readonly number[], layout: WeightLayout, order: ColumnOrder = 'stored'): WeightView {
  return order === 'position-major' ? new PositionMajorView(shape, layout) : new NeuronView(shape, layout);
}

/**
 * The [neurons, fan-in positions] view of a weight: row r is output neuron r, column c the flat
 * C-order index over every other axis. Gives the storage index of (r, c).
 */
export class NeuronView implements WeightView {
  readonly rows: number;
  readonly cols: number;
  private readonly outStride: number;

  constructor(shape: readonly number[], layout: WeightLayout) {
    this.rows = shape[layout.outAxis];
    this.cols = this.rows === 0 ? 0 : numelOf(shape) / this.rows;
    this.outStride = stridesOf(shape)[layout.outAxis];
  }

  index(row: number, col: number): number {
    const hi = Math.floor(col / this.outStride);
    const lo = col - hi * this.outStride;
    return hi * this.rows * this.outStride + row * this.outStride + lo;
  }

  /** The (row, col) of storage index `i`, inverse of index(). */
  position(i: number): { row: number; col: number } {
    const block = this.rows * this.outStride;
    const hi = Math.floor(i / block);
    const rest = i - hi * block;
    const row = Math.floor(rest / this.outStride);
    return { row, col: hi * this.outStride + (rest - row * this.outStride) };
  }

  /** Whether storage order is row order (the output axis first): then index(r, c) = r · cols + c. */
  get rowMajor(): boolean {
    return this.outStride * this.rows === this.rows * this.cols || this.rows <= 1;
  }

  /** index() grows with the row and with the column: the window's corners bound it. */
  span(w: ViewWindow): { first: number; last: number } {
    return { first: this.index(w.rowStart, w.colStart), last: this.index(w.rowEnd - 1, w.colEnd - 1) };
  }

  checkWindow(w: ViewWindow): void {
    checkWindowOf(this, w);
  }
}

/** The view with columns in kernel-position-major order (see ColumnOrder), for any layout. */
export class PositionMajorView implements WeightView {
  readonly rows: number;
  readonly cols: number;
  private readonly inDim: number;
  private readonly outStride: number;
  private readonly inStride: number;
  /** Storage offset of each kernel position (a flat C-order index over the axes other than out and in). */
  private readonly positionOffset: Float64Array;
  /** The kernel axes' sizes and strides, for the inverse. */
  private readonly kernelAxes: { size: number; stride: number }[];

  constructor(shape: readonly number[], layout: WeightLayout) {
    const strides = stridesOf(shape);
    this.rows = shape[layout.outAxis];
    this.cols = this.rows === 0 ? 0 : numelOf(shape) / this.rows;
    this.inDim = shape[layout.inAxis];
    this.outStride = strides[layout.outAxis];
    this.inStride = strides[layout.inAxis];
    this.kernelAxes = shape.flatMap((size, a) => (a === layout.outAxis || a === layout.inAxis ? [] : [{ size, stride: strides[a] }]));
    const positions = this.inDim === 0 ? 0 : this.cols / this.inDim;
    this.positionOffset = new Float64Array(positions);
    for (let p = 0; p < positions; p++) {
      let rest = p;
      let offset = 0;
      for (let k = this.kernelAxes.length - 1; k >= 0; k--) {
        const { size, stride } = this.kernelAxes[k];
        offset += (rest % size) * stride;
        rest = Math.floor(rest / size);
      }
      this.positionOffset[p] = offset;
    }
  }

  index(row: number, col: number): number {
    const position = Math.floor(col / this.inDim);
    return row * this.outStride + (col - position * this.inDim) * this.inStride + this.positionOffset[position];
  }

  position(i: number): { row: number; col: number } {
    const row = Math.floor(i / this.outStride) % this.rows;
    const channel = Math.floor(i / this.inStride) % this.inDim;
    let position = 0;
    for (const { size, stride } of this.kernelAxes) position = position * size + (Math.floor(i / stride) % size);
    return { row, col: position * this.inDim + channel };
  }

  /** Within one kernel position index() grows with the row and the channel: bound each position's part. */
  span(w: ViewWindow): { first: number; last: number } {
    let first = Infinity;
    let last = -Infinity;
    for (let p = Math.floor(w.colStart / this.inDim); p * this.inDim < w.colEnd; p++) {
      const lo = Math.max(w.colStart, p * this.inDim);
      const hi = Math.min(w.colEnd, (p + 1) * this.inDim) - 1;
      first = Math.min(first, this.index(w.rowStart, lo));
      last = Math.max(last, this.index(w.rowEnd - 1, hi));
    }
    return { first, last };
  }

  checkWindow(w: ViewWindow): void {
    checkWindowOf(this, w);
  }
}

function checkWindowOf(view: { readonly rows: number; readonly cols: number }, w: ViewWindow): void {
  const ok =
    [w.rowStart, w.rowEnd, w.colStart, w.colEnd].every(Number.isInteger) &&
    w.rowStart >= 0 &&
    w.rowStart < w.rowEnd &&
    w.rowEnd <= view.rows &&
    w.colStart >= 0 &&
    w.colStart < w.colEnd &&
    w.colEnd <= view.cols;
  if (!ok) {
    throw new RangeError(
      `window rows ${w.rowStart}..${w.rowEnd}, cols ${w.colStart}..${w.colEnd} does not fit a ${view.rows}×${view.cols} weight`,
    );
  }
}
