import type { ScanKernels, ScanResult } from '../../scanKernels';
import { checkNmPattern } from '../../../core/nmPattern';
import { nativeTensor, type NativeCall, type NativeTensor } from './args';

/** The addon's scan capability (native/src/binding/scan_binding.cc). Counts are doubles, exact below 2^53. */
export interface NativeScanAddon {
  scan(args: NativeTensor & { readonly n: number; readonly m: number; readonly zeroThreshold: number; readonly threads: number }): {
    readonly nnz: number;
    readonly negativeZeros: number;
    /** Non-zeros per output neuron (length shape[outAxis]); null without a layout. */
    readonly fanIn: Uint32Array | null;
    /** Non-zeros per input position (length numel / shape[outAxis]); null without a layout. */
    readonly fanOut: Uint32Array | null;
    readonly nmGroups: number;
    readonly nmCompliant: number;
    readonly nmPartial: number;
    /** HISTOGRAM_BINS counts; see histogramBin. */
    readonly histogram: Float64Array;
  };
  heatmap(
    args: NativeTensor & {
      readonly rowStart: number;
      readonly rowEnd: number;
      readonly colStart: number;
      readonly colEnd: number;
      readonly width: number;
      readonly height: number;
      readonly zeroThreshold: number;
      readonly threads: number;
    },
  ): { readonly rows: number; readonly cols: number; readonly density: Float32Array; readonly meanAbs: Float32Array };
  weightWindow(
    args: NativeTensor & { readonly rowStart: number; readonly rowEnd: number; readonly colStart: number; readonly colEnd: number },
  ): Float32Array;
}

export function nativeScanKernels(call: NativeCall<NativeScanAddon>, threads: number): ScanKernels {
  return {
    async scan(request, signal) {
      if (request.nm) checkNmPattern(request.nm);
      const zeroThreshold = request.zeroThreshold ?? 0;
      const r = await call(
        'scan',
        [{ ...nativeTensor(request), n: request.nm?.n ?? 0, m: request.nm?.m ?? 0, zeroThreshold, threads }],
        signal,
      );
      const result: ScanResult = { numel: request.shape.reduce((a, b) => a * b, 1), nnz: r.nnz, negativeZeros: r.negativeZeros };
      return {
        ...result,
        ...(r.fanIn && r.fanOut ? { fanIn: r.fanIn, fanOut: r.fanOut } : {}),
        ...(request.layout && request.nm ? { nm: { groups: r.nmGroups, compliant: r.nmCompliant, partial: r.nmPartial } } : {}),
        ...(request.histogram ? { histogram: r.histogram } : {}),
      };
    },
    heatmap: (request, signal) =>
      call(
        'heatmap',
        [
          {
            ...nativeTensor(request),
            rowStart: request.rowStart,
            rowEnd: request.rowEnd,
            colStart: request.colStart,
            colEnd: request.colEnd,
            width: request.width,
            height: request.height,
            zeroThreshold: request.zeroThreshold ?? 0,
            threads,
          },
        ],
        signal,
      ),
    weightWindow: (request, signal) =>
      call(
        'weightWindow',
        [
          {
            ...nativeTensor(request),
            rowStart: request.rowStart,
            rowEnd: request.rowEnd,
            colStart: request.colStart,
            colEnd: request.colEnd,
          },
        ],
        signal,
      ),
  };
}
