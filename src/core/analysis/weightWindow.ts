import { numelOf, type TensorEntry, type WeightLayout } from '../checkpoint';
import { decodeToFloat64, DTYPE_BITS } from '../dtype';
import { withFile } from '../randomAccessFile';

export interface WeightWindow {
  readonly rowStart: number;
  readonly rowEnd: number;
  readonly colStart: number;
  readonly colEnd: number;
}

/** Most bytes read for one window; a window whose weights lie further apart is refused. */
const MAX_SPAN_BYTES = 64 << 20;

/**
 * The signed weights of a small window of a weight's [neurons, fan-in positions] view (row r =
 * output neuron r, column c = flat index over the other axes), row-major. Reads only the byte
 * span the window covers.
 */
export async function readWeightWindow(tensor: TensorEntry & { layout: WeightLayout }, w: WeightWindow): Promise<Float32Array> {
  const rows = tensor.shape[tensor.layout.outAxis];
  const numel = numelOf(tensor.shape);
  const cols = rows === 0 ? 0 : numel / rows;
  if (!(w.rowStart >= 0 && w.rowStart < w.rowEnd && w.rowEnd <= rows && w.colStart >= 0 && w.colStart < w.colEnd && w.colEnd <= cols)) {
    throw new RangeError(`window rows ${w.rowStart}..${w.rowEnd}, cols ${w.colStart}..${w.colEnd} does not fit a ${rows}×${cols} weight`);
  }
  let outStride = 1;
  for (let a = tensor.layout.outAxis + 1; a < tensor.shape.length; a++) outStride *= tensor.shape[a];
  const indexOf = (r: number, c: number) => {
    const hi = Math.floor(c / outStride);
    return hi * rows * outStride + r * outStride + (c - hi * outStride);
  };
  let first = Infinity;
  let last = -Infinity;
  for (const r of [w.rowStart, w.rowEnd - 1]) {
    for (const c of [w.colStart, w.colEnd - 1]) {
      first = Math.min(first, indexOf(r, c));
      last = Math.max(last, indexOf(r, c));
    }
  }
  // Sub-byte elements: start the span at a byte boundary.
  const bits = DTYPE_BITS[tensor.dtype];
  if (bits < 8) first -= first % (8 / bits);
  const count = last - first + 1;
  const spanBytes = Math.ceil((count * bits) / 8);
  if (spanBytes > MAX_SPAN_BYTES) throw new RangeError(`the window spans ${spanBytes} bytes of the tensor; zoom in further`);
  const offset = (first * bits) / 8;
  const bytes =
    tensor.source.kind === 'inline'
      ? tensor.source.bytes.slice(offset, offset + spanBytes)
      : await withFile(tensor.source.path, (f) => f.read((tensor.source as { offset: number }).offset + offset, spanBytes));
  const values = decodeToFloat64(tensor.dtype, bytes, count);
  const out = new Float32Array((w.rowEnd - w.rowStart) * (w.colEnd - w.colStart));
  let at = 0;
  for (let r = w.rowStart; r < w.rowEnd; r++) for (let c = w.colStart; c < w.colEnd; c++) out[at++] = values[indexOf(r, c) - first];
  return out;
}
