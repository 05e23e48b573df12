import { numelOf } from '../../../core/checkpoint';
import { unpackBits } from '../../../core/maskBits';
import { checkNmPattern } from '../../../core/nmPattern';
import type { WeightRef } from '../../kernels';
import type { MaskKernels } from '../../maskKernels';
import { referenceTransposableMask } from '../../reference/masks';
import { nativeTensor, type NativeCall, type NativeTensor } from './args';

/**
 * The addon's mask capability (native/src/binding/mask_binding.cc): one byte per weight, 1 = keep;
 * with `packed`, 8 weights a byte (see unpackBits).
 */
export interface NativeMaskAddon {
  nmMask(args: NativeTensor & { readonly n: number; readonly m: number; readonly threads: number; readonly packed?: boolean }): Uint8Array;
  fanInMask(args: NativeTensor & { readonly k: number; readonly threads: number; readonly packed?: boolean }): Uint8Array;
}

/**
 * Masks from the addon. With `acrossProcesses` (the caller's side of the worker), a mask crosses
 * the process boundary as packed bits, an eighth of the bytes, and is unpacked here.
 */
export function nativeMaskKernels(call: NativeCall<NativeMaskAddon>, threads: number, acrossProcesses = false): MaskKernels {
  const packed = acrossProcesses;
  const unpacked = (tensor: WeightRef) => (mask: Uint8Array) => (packed ? unpackBits(mask, numelOf(tensor.shape)) : mask);
  return {
    async nmMask(tensor, nm, signal) {
      checkNmPattern(nm);
      return call('nmMask', [{ ...nativeTensor(tensor), n: nm.n, m: nm.m, threads, packed }], signal).then(unpacked(tensor));
    },
    fanInMask: (tensor, k, signal) => call('fanInMask', [{ ...nativeTensor(tensor), k, threads, packed }], signal).then(unpacked(tensor)),
    // No C++ kernel yet: the greedy sorts 16 entries per block, fast enough in the worker's TypeScript.
    transposableMask: referenceTransposableMask,
  };
}
