import type { DType } from '../core/dtype';
import type { CondensedLayer, HeatmapTiles } from './kernels';

/**
 * The functions the C++ addon (native/) exports. They are synchronous and use the addon's own
 * threads; the kernel worker process calls them, so a crash or a cancel (the worker is killed)
 * never touches the caller's process. Counts are returned as doubles (exact below 2^53).
 */

/** A tensor's bytes: a file range the addon reads itself, or bytes passed in. */
export type NativeSource =
  | { readonly path: string; readonly offset: number; readonly length: number }
  | { readonly bytes: Uint8Array };

/** Axes as in WeightLayout; -1 when the tensor has no layout (no fan-in, no N:M). */
export interface NativeLayout {
  readonly outAxis: number;
  readonly inAxis: number;
}

export interface NativeScanArgs extends NativeLayout {
  readonly source: NativeSource;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** N:M pattern; m = 0 for none. */
  readonly n: number;
  readonly m: number;
  readonly zeroThreshold: number;
  readonly threads: number;
}

export interface NativeScanResult {
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
}

export interface NativeMaskArgs extends NativeLayout {
  readonly source: NativeSource;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly threads: number;
}

export interface NativeHeatmapArgs extends NativeLayout {
  readonly source: NativeSource;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly rowStart: number;
  readonly rowEnd: number;
  readonly colStart: number;
  readonly colEnd: number;
  readonly width: number;
  readonly height: number;
  readonly zeroThreshold: number;
  readonly threads: number;
}

/** A window of the [neurons, fan-in positions] view (see NeuronView); ends are exclusive. */
export interface NativeWeightWindowArgs extends NativeLayout {
  readonly source: NativeSource;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly rowStart: number;
  readonly rowEnd: number;
  readonly colStart: number;
  readonly colEnd: number;
}

export interface NativeAddon {
  scan(args: NativeScanArgs): NativeScanResult;
  nmMask(args: NativeMaskArgs & { readonly n: number; readonly m: number }): Uint8Array;
  fanInMask(args: NativeMaskArgs & { readonly k: number }): Uint8Array;
  heatmap(args: NativeHeatmapArgs): HeatmapTiles;
  /**
   * The signed weights of the window, row-major, as readWeightWindow gives them; reads only the
   * window's runs of storage. Throws when the window does not fit the view or spans more than
   * 64 MiB of storage.
   */
  weightWindow(args: NativeWeightWindowArgs): Float32Array;
  condense(weight: Float32Array, outFeatures: number, inFeatures: number): CondensedLayer;
  condensedForward(layer: CondensedLayer, bias: Float32Array | null, x: Float32Array, batch: number, threads: number): Float32Array;
  denseForward(
    weight: Float32Array,
    bias: Float32Array | null,
    outFeatures: number,
    inFeatures: number,
    x: Float32Array,
    batch: number,
    threads: number,
  ): Float32Array;
  /** Test only: aborts the process, to prove a native crash stays in the worker. */
  crashForTest(): void;
}
