import { checkNmPattern } from '../../../core/nmPattern';
import type { MaskKernels } from '../../maskKernels';
import { referenceTransposableMask } from '../../reference/masks';
import { nativeTensor, type NativeCall, type NativeTensor } from './args';

/** The addon's mask capability (native/src/binding/mask_binding.cc): one byte per weight, 1 = keep. */
export interface NativeMaskAddon {
  nmMask(args: NativeTensor & { readonly n: number; readonly m: number; readonly threads: number }): Uint8Array;
  fanInMask(args: NativeTensor & { readonly k: number; readonly threads: number }): Uint8Array;
}

export function nativeMaskKernels(call: NativeCall<NativeMaskAddon>, threads: number): MaskKernels {
  return {
    nmMask(tensor, nm, signal) {
      checkNmPattern(nm);
      return call('nmMask', [{ ...nativeTensor(tensor), n: nm.n, m: nm.m, threads }], signal);
    },
    fanInMask: (tensor, k, signal) => call('fanInMask', [{ ...nativeTensor(tensor), k, threads }], signal),
    // No C++ kernel yet: the greedy sorts 16 entries per block, fast enough in the worker's TypeScript.
    transposableMask: referenceTransposableMask,
  };
}
