import type { NmPattern } from '../core/nmPattern';
import type { WeightRef } from './kernels';

/** Pruning masks (1 = keep), ranked by |w| with NaN first and ties to the lower storage index. */
export interface MaskKernels {
  /** The N largest |w| of every group of M along the input axis (NVIDIA ASP's convention). */
  nmMask(tensor: WeightRef, nm: NmPattern, signal?: AbortSignal): Promise<Uint8Array>;
  /** The k largest |w| of every output neuron: constant fan-in, SRigL's structure. */
  fanInMask(tensor: WeightRef, k: number, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * NVIDIA ASP's m4n2_2d greedy mask: 2:4 along the rows and the columns of every 4 × 4 block of
   * the [(kernel position, output), input] matrix, so the transposed weight is 2:4 too. Output and
   * input channels must be multiples of 4.
   */
  transposableMask(tensor: WeightRef, signal?: AbortSignal): Promise<Uint8Array>;
}
