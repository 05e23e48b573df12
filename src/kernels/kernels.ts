import type { TensorSource, WeightLayout } from '../core/checkpoint';
import type { DType } from '../core/dtype';
import type { CheckpointKernels } from './checkpointKernels';
import type { CondensedKernels } from './condensedKernels';
import type { JobKernels } from './jobKernels';
import type { MaskKernels } from './maskKernels';
import type { ScanKernels } from './scanKernels';

/** A tensor as kernels see it: where its bytes are, how to read them, how it is laid out. */
export interface TensorRef {
  readonly source: TensorSource;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Given for linear and conv weights: output neurons and the N:M axis. */
  readonly layout?: WeightLayout;
}

/** A linear or conv weight: a tensor with a layout. */
export type WeightRef = TensorRef & { readonly layout: WeightLayout };

/**
 * Every kernel capability. Callers ask for the capability they use (`ScanKernels` for a report,
 * `MaskKernels` for pruning, `CheckpointKernels` to open and analyse a file where the kernels run);
 * the TypeScript reference and the native worker each implement all.
 */
export interface Kernels extends ScanKernels, MaskKernels, CondensedKernels, JobKernels, CheckpointKernels {
  readonly name: string;
  dispose(): Promise<void>;
}
