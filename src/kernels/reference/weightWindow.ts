import { decodeToFloat64, DTYPE_BITS } from '../../core/dtype';
import { viewOf } from '../../core/neuronView';
import type { WeightWindowRequest } from '../scanKernels';
import { readSpan } from '../../core/tensorBytes';

/** Most bytes of a tensor one window may span; a window whose weights lie further apart is refused. */
const MAX_WINDOW_SPAN_BYTES = 64 << 20;

/**
 * The signed weights of a small window of a weight's [neurons, fan-in positions] view (row r =
 * output neuron r, column c = flat index over the other axes), row-major. Reads only the byte
 * span the window covers.
 */
export async function referenceWeightWindow(w: WeightWindowRequest): Promise<Float32Array> {
  const view = viewOf(w.shape, w.layout, w.order);
  view.checkWindow(w);
  const span = view.span(w);
  let first = span.first;
  const last = span.last;
  // Sub-byte elements: start the span at a byte boundary.
  const bits = DTYPE_BITS[w.dtype];
  if (bits < 8) first -= first % (8 / bits);
  const count = last - first + 1;
  const spanBytes = Math.ceil((count * bits) / 8);
  if (spanBytes > MAX_WINDOW_SPAN_BYTES) throw new RangeError(`the window spans ${spanBytes} bytes of the tensor; zoom in further`);
  const values = decodeToFloat64(w.dtype, await readSpan(w.source, (first * bits) / 8, spanBytes), count);
  const out = new Float32Array((w.rowEnd - w.rowStart) * (w.colEnd - w.colStart));
  let at = 0;
  for (let r = w.rowStart; r < w.rowEnd; r++) for (let c = w.colStart; c < w.colEnd; c++) out[at++] = values[view.index(r, c) - first];
  return out;
}
