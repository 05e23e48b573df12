import { numelOf, type TensorEntry } from '../checkpoint';
import { decodeToFloat64, DTYPE_BITS } from '../dtype';
import { viewOf, type ColumnOrder, type ViewWindow } from '../neuronView';
import { CHUNK_ELEMENTS, readSpan, tensorChunks } from '../tensorBytes';
import type { ChangeTiles } from './diff';

type Weight = Pick<TensorEntry, 'name' | 'shape' | 'dtype' | 'source'> & Required<Pick<TensorEntry, 'layout'>>;

/**
 * The change cells of window `win` of two weights of one shape and layout, at most width × height of
 * them; cell (i, j) covers the same rows and columns as the mask heatmap's (rowStart + ⌊i·R/H⌋ …).
 * Zero is exact zero (−0.0 included), as the diff counts it. Reads only the storage span the
 * window covers.
 */
export async function changeTiles(
  a: Weight,
  b: Weight,
  win: ViewWindow,
  width: number,
  height: number,
  order: ColumnOrder = 'stored',
  signal?: AbortSignal,
): Promise<ChangeTiles> {
  const view = viewOf(a.shape, a.layout, order);
  view.checkWindow(win);
  if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 1 && height >= 1)) {
    throw new RangeError(`a heatmap of ${width}×${height} cells is not possible`);
  }
  const windowRows = win.rowEnd - win.rowStart;
  const windowCols = win.colEnd - win.colStart;
  const rows = Math.min(height, windowRows);
  const cols = Math.min(width, windowCols);
  // The cell of each row and column offset: the largest i with ⌊i·R/H⌋ ≤ offset.
  const cellOf = (offsets: number, cells: number) =>
    Int32Array.from({ length: offsets }, (_, x) => Math.ceil(((x + 1) * cells) / offsets) - 1);
  const rowCell = cellOf(windowRows, rows);
  const colCell = cellOf(windowCols, cols);
  const on = new Uint32Array(rows * cols);
  const off = new Uint32Array(rows * cols);
  const kept = new Uint32Array(rows * cols);

  const { first, last } = view.span(win);
  // Both sides in the same pieces, whatever their dtypes.
  const whole = DTYPE_BITS[a.dtype] < 8 || DTYPE_BITS[b.dtype] < 8;
  const chunksB = spanValues(b, first, last, whole, signal);
  for await (const chunk of spanValues(a, first, last, whole, signal)) {
    const next = await chunksB.next();
    if (next.done || next.value.first !== chunk.first || next.value.values.length !== chunk.values.length) {
      throw new Error(`${b.name}: its values do not line up with ${a.name}'s`);
    }
    const x = chunk.values;
    const y = next.value.values;
    for (let i = 0; i < x.length; i++) {
      if (x[i] === 0 && y[i] === 0) continue;
      const { row, col } = view.position(chunk.first + i);
      const r = row - win.rowStart;
      const c = col - win.colStart;
      if (r < 0 || r >= windowRows || c < 0 || c >= windowCols) continue;
      const cell = rowCell[r] * cols + colCell[c];
      if (x[i] !== 0 && y[i] !== 0) kept[cell]++;
      else if (x[i] !== 0) off[cell]++;
      else on[cell]++;
    }
  }
  const share = (counts: Uint32Array) => {
    const out = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      const h = Math.floor(((i + 1) * windowRows) / rows) - Math.floor((i * windowRows) / rows);
      for (let j = 0; j < cols; j++) {
        const w = Math.floor(((j + 1) * windowCols) / cols) - Math.floor((j * windowCols) / cols);
        out[i * cols + j] = counts[i * cols + j] / (h * w);
      }
    }
    return out;
  };
  return { rows, cols, turnedOn: share(on), turnedOff: share(off), keptBoth: share(kept) };
}

/**
 * The values of storage indices first..last, as float64, piece by piece; `whole` (sub-byte dtypes,
 * not addressable by element) reads the whole tensor and skips the pieces outside the span.
 */
async function* spanValues(
  t: Weight,
  first: number,
  last: number,
  whole: boolean,
  signal?: AbortSignal,
): AsyncGenerator<{ values: Float64Array; first: number }> {
  if (whole) {
    for await (const chunk of tensorChunks(t.source, t.dtype, numelOf(t.shape), CHUNK_ELEMENTS, signal)) {
      if (chunk.first + chunk.count <= first || chunk.first > last) continue;
      yield { values: decodeToFloat64(t.dtype, chunk.bytes, chunk.count), first: chunk.first };
    }
    return;
  }
  const bytes = DTYPE_BITS[t.dtype] / 8;
  for (let start = first; start <= last; start += CHUNK_ELEMENTS) {
    signal?.throwIfAborted();
    const count = Math.min(CHUNK_ELEMENTS, last + 1 - start);
    yield { values: decodeToFloat64(t.dtype, await readSpan(t.source, start * bytes, count * bytes), count), first: start };
  }
}
