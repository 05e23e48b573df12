import type { NmPattern } from '../core/nmPattern';
import type { WeightRef } from './kernels';

/** Pruning masks (1 = keep), ranked by |w| with NaN first and ties to the lower storage index. */
export interface MaskKernels {
  /** The N largest |w| of every group of M along the input axis (NVIDIA ASP's convention). */
  nmMask(tensor: WeightRef, nm: NmPattern, signal?: AbortSignal): Promise<Uint8Array>;
  /** The k largest |w| of every output neuron: constant fan-in, SRigL's structure. */
  fanInMask(tensor: WeightRef, k: number, signal?: AbortSignal): Promise<Uint8Array>;
}
