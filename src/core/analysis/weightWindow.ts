import type { TensorEntry, WeightLayout } from '../checkpoint';
import { decodeToFloat64, DTYPE_BITS } from '../dtype';
import { NeuronView, type ViewWindow } from '../neuronView';
import { withFile } from '../randomAccessFile';

/** Most bytes read for one window; a window whose weights lie further apart is refused. */
const MAX_SPAN_BYTES = 64 << 20;

/**
 * The signed weights of a small window of a weight's [neurons, fan-in positions] view (row r =
 * output neuron r, column c = flat index over the other axes), row-major. Reads only the byte
 * span the window covers.
 */
export async function readWeightWindow(tensor: TensorEntry & { layout: WeightLayout }, w: ViewWindow): Promise<Float32Array> {
  const view = new NeuronView(tensor.shape, tensor.layout);
  view.checkWindow(w);
  let first = Infinity;
  let last = -Infinity;
  for (const r of [w.rowStart, w.rowEnd - 1]) {
    for (const c of [w.colStart, w.colEnd - 1]) {
      first = Math.min(first, view.index(r, c));
      last = Math.max(last, view.index(r, c));
    }
  }
  // Sub-byte elements: start the span at a byte boundary.
  const bits = DTYPE_BITS[tensor.dtype];
  if (bits < 8) first -= first % (8 / bits);
  const count = last - first + 1;
  const spanBytes = Math.ceil((count * bits) / 8);
  if (spanBytes > MAX_SPAN_BYTES) throw new RangeError(`the window spans ${spanBytes} bytes of the tensor; zoom in further`);
  const offset = (first * bits) / 8;
  const source = tensor.source;
  const bytes =
    source.kind === 'inline'
      ? source.bytes.slice(offset, offset + spanBytes)
      : await withFile(source.path, (f) => f.read(source.offset + offset, spanBytes));
  const values = decodeToFloat64(tensor.dtype, bytes, count);
  const out = new Float32Array((w.rowEnd - w.rowStart) * (w.colEnd - w.colStart));
  let at = 0;
  for (let r = w.rowStart; r < w.rowEnd; r++) for (let c = w.colStart; c < w.colEnd; c++) out[at++] = values[view.index(r, c) - first];
  return out;
}
