import { numelOf } from '../../core/checkpoint';
import { decodeToFloat64 } from '../../core/dtype';
import type { TensorRef } from '../kernels';
import { tensorChunks } from '../../core/tensorBytes';

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
