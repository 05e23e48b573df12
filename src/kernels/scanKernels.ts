import type { NmPattern } from '../core/nmPattern';
import type { ViewWindow } from '../core/neuronView';
import type { TensorRef, WeightRef } from './kernels';

/** Reading tensors: one-pass statistics, downsampled heatmap tiles and windows of weights. */
export interface ScanKernels {
  scan(request: ScanRequest, signal?: AbortSignal): Promise<ScanResult>;
  heatmap(request: HeatmapRequest, signal?: AbortSignal): Promise<HeatmapTiles>;
  /** The signed weights of a small window of the [neurons, fan-in positions] view, row-major. */
  weightWindow(request: WeightWindowRequest, signal?: AbortSignal): Promise<Float32Array>;
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

export interface HeatmapRequest extends WeightRef, ViewWindow {
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

export type WeightWindowRequest = WeightRef & ViewWindow;

/** Most bytes of a tensor one weight window may span; a window whose weights lie further apart is refused. */
export const MAX_WINDOW_SPAN_BYTES = 64 << 20;
