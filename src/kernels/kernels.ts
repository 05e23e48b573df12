import type { NmPattern } from '../core/analysis/nmPattern';
import type { TensorSource, WeightLayout } from '../core/checkpoint';
import type { DType } from '../core/dtype';

export type { NmPattern };

/** A tensor as kernels see it: where its bytes are, how to read them, how it is laid out. */
export interface TensorRef {
  readonly source: TensorSource;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Given for linear and conv weights: output neurons and the N:M axis. */
  readonly layout?: WeightLayout;
}

export interface ScanRequest extends TensorRef {
  readonly nm?: NmPattern;
  /** |w| <= zeroThreshold counts as zero; 0 (the default) means exact zeros only. */
  readonly zeroThreshold?: number;
  /** Also compute the histogram of log2|w|. */
  readonly histogram?: boolean;
}

export interface NmCounts {
  /** Full groups of M along the input axis. */
  readonly groups: number;
  /** Full groups holding at most N non-zeros. */
  readonly compliant: number;
  /** Trailing groups shorter than M (input size not a multiple of M), counted apart. */
  readonly partial: number;
}

export interface ScanResult {
  readonly numel: number;
  readonly nnz: number;
  /** Zeros stored as -0.0, the trace of pruning by multiplying with a mask. */
  readonly negativeZeros: number;
  /** Non-zeros per output neuron, when a layout was given. */
  readonly fanIn?: Uint32Array;
  /**
   * Non-zeros per input position (the flat index over every axis but the output axis), when a
   * layout was given: per column of an [out, in] weight.
   */
  readonly fanOut?: Uint32Array;
  readonly nm?: NmCounts;
  /** HISTOGRAM_BINS counts, when asked for; see histogramBin. */
  readonly histogram?: Float64Array;
}

/**
 * Histogram of log2|w|: bins 0..127 hold floor(log2|w|) = -64..63 (clamped) of the non-zero
 * finite weights, bin 128 the zeros, bin 129 NaN and ±Inf.
 */
export const HISTOGRAM_BINS = 130;
export const HISTOGRAM_MIN_EXPONENT = -64;
export const HISTOGRAM_ZERO_BIN = 128;
export const HISTOGRAM_NONFINITE_BIN = 129;

const exponentView = new Float64Array(1);
const exponentBits = new Uint32Array(exponentView.buffer);

/** The histogram bin of a non-zero value: its exact binary exponent, read from the float64 bits. */
export function histogramBin(value: number): number {
  if (!Number.isFinite(value)) return HISTOGRAM_NONFINITE_BIN;
  exponentView[0] = value;
  const biased = (exponentBits[1] >>> 20) & 0x7ff;
  const exponent = biased === 0 ? -1023 : biased - 1023;
  return Math.min(63, Math.max(HISTOGRAM_MIN_EXPONENT, exponent)) - HISTOGRAM_MIN_EXPONENT;
}

export interface HeatmapRequest extends TensorRef {
  readonly layout: WeightLayout;
  /** The window, in the [neurons, fan-in positions] view; ends are exclusive. */
  readonly rowStart: number;
  readonly rowEnd: number;
  readonly colStart: number;
  readonly colEnd: number;
  /** At most this many cells across and down. */
  readonly width: number;
  readonly height: number;
  readonly zeroThreshold?: number;
}

/** A window of a weight downsampled to cells: row-major [rows, cols]. */
export interface HeatmapTiles {
  readonly rows: number;
  readonly cols: number;
  /** Non-zero fraction of each cell. */
  readonly density: Float32Array;
  /** Mean |w| over the finite weights of each cell. */
  readonly meanAbs: Float32Array;
}

/** A constant fan-in layer stored as its non-zeros only (SRigL's condensed representation). */
export interface CondensedLayer {
  readonly outFeatures: number;
  readonly inFeatures: number;
  /** The common fan-in of the active neurons. */
  readonly k: number;
  /** Output neurons that are not all-zero, ascending. */
  readonly activeRows: Int32Array;
  /** [activeRows.length, k], row-major. */
  readonly values: Float32Array;
  /** Input index of each value, ascending within a row. */
  readonly indices: Int32Array;
}

/**
 * The heavy loops over tensor bytes. The TypeScript reference implements it and is the test
 * oracle and fallback; the native kernels run behind the same interface in a worker process.
 */
export interface Kernels {
  readonly name: string;
  scan(request: ScanRequest, signal?: AbortSignal): Promise<ScanResult>;
  /** 1 = keep: the N largest |w| of every group of M along the input axis (ties: lower index). */
  nmMask(tensor: TensorRef & { readonly layout: WeightLayout }, nm: NmPattern, signal?: AbortSignal): Promise<Uint8Array>;
  /** 1 = keep: the k largest |w| of every output neuron (ties: lower index). */
  fanInMask(tensor: TensorRef & { readonly layout: WeightLayout }, k: number, signal?: AbortSignal): Promise<Uint8Array>;
  heatmap(request: HeatmapRequest, signal?: AbortSignal): Promise<HeatmapTiles>;
  /** Condenses a float32 [out, in] weight whose non-zero rows share one fan-in. */
  condense(weight: Float32Array, outFeatures: number, inFeatures: number): Promise<CondensedLayer>;
  /** y[batch, out] = x[batch, in] · Wᵀ + b with a condensed W. */
  condensedForward(layer: CondensedLayer, bias: Float32Array | null, x: Float32Array, batch: number): Promise<Float32Array>;
  /** y[batch, out] = x[batch, in] · Wᵀ + b with a dense W [out, in]. */
  denseForward(
    weight: Float32Array,
    bias: Float32Array | null,
    outFeatures: number,
    inFeatures: number,
    x: Float32Array,
    batch: number,
  ): Promise<Float32Array>;
  dispose(): Promise<void>;
}
