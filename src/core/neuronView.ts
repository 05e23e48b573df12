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
 * The [neurons, fan-in positions] view of a weight: row r is output neuron r, column c the flat
 * C-order index over every other axis. Gives the storage index of (r, c).
 */
export class NeuronView {
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

  /** Throws a RangeError unless `w` is a non-empty window inside the view. */
  checkWindow(w: ViewWindow): void {
    const ok =
      [w.rowStart, w.rowEnd, w.colStart, w.colEnd].every(Number.isInteger) &&
      w.rowStart >= 0 &&
      w.rowStart < w.rowEnd &&
      w.rowEnd <= this.rows &&
      w.colStart >= 0 &&
      w.colStart < w.colEnd &&
      w.colEnd <= this.cols;
    if (!ok) {
      throw new RangeError(
        `window rows ${w.rowStart}..${w.rowEnd}, cols ${w.colStart}..${w.colEnd} does not fit a ${this.rows}×${this.cols} weight`,
      );
    }
  }
}
