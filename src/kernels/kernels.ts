import type { TensorSource, WeightLayout } from '../core/checkpoint';
import type { NmPattern } from '../core/analysis/nmPattern';
import type { DType } from '../core/dtype';

export type { NmPattern };


export interface ScanRequest {
  readonly source: TensorSource;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Given for linear and conv weights: enables per-neuron fan-in and N:M counts. */
  readonly layout?: WeightLayout;
  readonly nm?: NmPattern;
  /** |w| <= zeroThreshold counts as zero; 0 (the default) means exact zeros only. */
  readonly zeroThreshold?: number;
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
  readonly nm?: NmCounts;
}

/**
 * The heavy loops over tensor bytes. The TypeScript reference implements it and is the test
 * oracle; faster implementations plug in behind the same interface.
 */
export interface Kernels {
  readonly name: string;
  scan(request: ScanRequest, signal?: AbortSignal): Promise<ScanResult>;
  dispose(): Promise<void>;
}
