import type { NmPattern } from '../core/nmPattern';
import type { ColumnOrder, ViewWindow } from '../core/neuronView';
import type { TensorRef, WeightRef } from './kernels';

/** Reading tensors: one-pass statistics, downsampled heatmap tiles and windows of weights. */
export interface ScanKernels {
  scan(request: ScanRequest, signal?: AbortSignal): Promise<ScanResult>;
  /** The scans of many tensors at once: one call for a model of many small tensors. */
  scanMany(requests: readonly ScanRequest[], signal?: AbortSignal): Promise<ScanResult[]>;
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
  /**
   * Non-zeros past N in the full groups that hold more than N: what projecting to N:M (keeping
   * the N largest of each group) removes.
   */
  readonly excess: number;
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
  /** HISTOGRAM_BINS counts, when asked for; see core/histogram.ts. */
  readonly histogram?: Float64Array;
}

export interface HeatmapRequest extends WeightRef, ViewWindow {
  /** At most this many cells across and down. */
  readonly width: number;
  readonly height: number;
  readonly zeroThreshold?: number;
  /** The order of the view's columns (default: as stored). */
  readonly order?: ColumnOrder;
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

export type WeightWindowRequest = WeightRef & ViewWindow & { readonly order?: ColumnOrder };
