import { numelOf, type WeightLayout } from '../../core/checkpoint';
import { decodeToFloat64 } from '../../core/dtype';
import type { TensorRef } from '../kernels';
import { tensorChunks } from '../tensorBytes';

export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Every element of a tensor decoded to float64, in storage order (the reference reads it whole). */
export async function readValues(tensor: TensorRef, signal?: AbortSignal): Promise<Float64Array> {
  const numel = numelOf(tensor.shape);
  const values = new Float64Array(numel);
  for await (const chunk of tensorChunks(tensor.source, tensor.dtype, numel, undefined, signal)) {
    values.set(decodeToFloat64(tensor.dtype, chunk.bytes, chunk.count), chunk.first);
  }
  return values;
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
}

/**
 * Ranks weights for pruning: larger |w| first, NaN above everything, ties broken by the lower
 * storage index, so masks are deterministic.
 */
export function ranksBefore(values: Float64Array, a: number, b: number): number {
  const ma = Math.abs(values[a]);
  const mb = Math.abs(values[b]);
  const nanA = Number.isNaN(ma);
  const nanB = Number.isNaN(mb);
  if (nanA !== nanB) return nanA ? -1 : 1;
  if (!nanA && ma !== mb) return ma > mb ? -1 : 1;
  return a - b;
}
