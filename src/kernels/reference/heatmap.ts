import { numelOf } from '../../core/checkpoint';
import { markNonZero } from '../../core/dtype';
import type { HeatmapRequest, HeatmapTiles } from '../scanKernels';
import { tensorChunks } from '../../core/tensorBytes';
import { viewOf } from '../../core/neuronView';
import { readValues } from './tensorView';

/**
 * Downsamples a window of a weight's [neurons, fan-in positions] view to at most width × height
 * cells; cell (i, j) covers rows rowStart + ⌊i·R/H⌋ .. rowStart + ⌊(i+1)·R/H⌋ (likewise columns).
 */
export async function referenceHeatmap(request: HeatmapRequest, signal?: AbortSignal): Promise<HeatmapTiles> {
  const view = viewOf(request.shape, request.layout, request.order);
  view.checkWindow(request);
  if (!(Number.isInteger(request.width) && Number.isInteger(request.height) && request.width >= 1 && request.height >= 1)) {
    throw new RangeError(`a heatmap of ${request.width}×${request.height} cells is not possible`);
  }
  const numel = numelOf(request.shape);
  const nonZero = new Uint8Array(numel);
  for await (const chunk of tensorChunks(request.source, request.dtype, numel, undefined, signal)) {
    const part = new Uint8Array(chunk.count);
    markNonZero(request.dtype, chunk.bytes, chunk.count, part, request.zeroThreshold ?? 0);
    nonZero.set(part, chunk.first);
  }
  const values = await readValues(request, signal);
  const windowRows = request.rowEnd - request.rowStart;
  const windowCols = request.colEnd - request.colStart;
  const rows = Math.min(request.height, windowRows);
  const cols = Math.min(request.width, windowCols);
  const density = new Float32Array(rows * cols);
  const meanAbs = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const r0 = request.rowStart + Math.floor((i * windowRows) / rows);
    const r1 = request.rowStart + Math.floor(((i + 1) * windowRows) / rows);
    for (let j = 0; j < cols; j++) {
      const c0 = request.colStart + Math.floor((j * windowCols) / cols);
      const c1 = request.colStart + Math.floor(((j + 1) * windowCols) / cols);
      let nnz = 0;
      let sum = 0;
      let finite = 0;
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) {
          const index = view.index(r, c);
          nnz += nonZero[index];
          if (Number.isFinite(values[index])) {
            sum += Math.abs(values[index]);
            finite++;
          }
        }
      }
      density[i * cols + j] = nnz / ((r1 - r0) * (c1 - c0));
      meanAbs[i * cols + j] = finite ? sum / finite : 0;
    }
  }
  return { rows, cols, density, meanAbs };
}
