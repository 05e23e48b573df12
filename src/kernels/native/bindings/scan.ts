import type { ViewWindow } from '../../../core/neuronView';
import { checkNmPattern } from '../../../core/nmPattern';
import type { WeightRef } from '../../kernels';
import type { HeatmapTiles, ScanKernels, ScanRequest, ScanResult } from '../../scanKernels';
import { referenceHeatmap } from '../../reference/heatmap';
import { referenceWeightWindow } from '../../reference/weightWindow';
import { nativeTensor, type NativeCall, type NativeTensor } from './args';

type NativeScanArgs = NativeTensor & {
  readonly n: number;
  readonly m: number;
  readonly zeroThreshold: number;
  readonly histogram: boolean;
  readonly threads: number;
};

/** Counts are doubles, exact below 2^53. */
interface NativeScanResult {
  readonly nnz: number;
  readonly negativeZeros: number;
  /** Non-zeros per output neuron (length shape[outAxis]); null without a layout. */
  readonly fanIn: Uint32Array | null;
  /** Non-zeros per input position (length numel / shape[outAxis]); null without a layout. */
  readonly fanOut: Uint32Array | null;
  readonly nmGroups: number;
  readonly nmCompliant: number;
  readonly nmPartial: number;
  readonly nmExcess: number;
  /** HISTOGRAM_BINS counts (see core/histogram.ts) when asked for, else null. */
  readonly histogram: Float64Array | null;
}

type NativeWindowArgs = NativeTensor & ViewWindow;

/** The addon's scan capability (native/src/binding/scan_binding.cc). */
export interface NativeScanAddon {
  scan(args: NativeScanArgs): NativeScanResult;
  /** Many tensors in one call, so that a model of many small tensors costs one call, not one each. */
  scanMany(args: readonly NativeScanArgs[]): NativeScanResult[];
  heatmap(
    args: NativeWindowArgs & { readonly width: number; readonly height: number; readonly zeroThreshold: number; readonly threads: number },
  ): HeatmapTiles;
  weightWindow(args: NativeWindowArgs): Float32Array;
}

function scanArgs(request: ScanRequest, threads: number): NativeScanArgs {
  if (request.nm) checkNmPattern(request.nm);
  const nm = { n: request.nm?.n ?? 0, m: request.nm?.m ?? 0 };
  return { ...nativeTensor(request), ...nm, zeroThreshold: request.zeroThreshold ?? 0, histogram: !!request.histogram, threads };
}

function scanResult(request: ScanRequest, r: NativeScanResult): ScanResult {
  return {
    numel: request.shape.reduce((a, b) => a * b, 1),
    nnz: r.nnz,
    negativeZeros: r.negativeZeros,
    ...(r.fanIn && r.fanOut ? { fanIn: r.fanIn, fanOut: r.fanOut } : {}),
    ...(request.layout && request.nm
      ? { nm: { groups: r.nmGroups, compliant: r.nmCompliant, partial: r.nmPartial, excess: r.nmExcess } }
      : {}),
    ...(request.histogram && r.histogram ? { histogram: r.histogram } : {}),
  };
}

/** A weight and a window of its [neurons × fan-in] view, as the addon takes them. */
function windowArgs(w: WeightRef & ViewWindow): NativeWindowArgs {
  return { ...nativeTensor(w), rowStart: w.rowStart, rowEnd: w.rowEnd, colStart: w.colStart, colEnd: w.colEnd };
}

export function nativeScanKernels(call: NativeCall<NativeScanAddon>, threads: number): ScanKernels {
  return {
    scan: async (request, signal) => scanResult(request, await call('scan', [scanArgs(request, threads)], signal)),
    async scanMany(requests, signal) {
      const results = await call('scanMany', [requests.map((r) => scanArgs(r, threads))], signal);
      return results.map((r, i) => scanResult(requests[i], r));
    },
    // The addon walks columns as stored; the editor's kernel-position-major view of conv weights
    // (small tensors) is drawn by the reference kernels.
    heatmap: (request, signal) =>
      request.order === 'position-major'
        ? referenceHeatmap(request, signal)
        : call(
            'heatmap',
            [{ ...windowArgs(request), width: request.width, height: request.height, zeroThreshold: request.zeroThreshold ?? 0, threads }],
            signal,
          ),
    weightWindow: (request, signal) =>
      request.order === 'position-major' ? referenceWeightWindow(request) : call('weightWindow', [windowArgs(request)], signal),
  };
}
