import type { CondensedKernels, CondensedLayer } from '../../condensedKernels';
import type { NativeCall } from './args';

/** The addon's condensed-layer capability (native/src/binding/condensed_binding.cc). */
export interface NativeCondensedAddon {
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
}

export function nativeCondensedKernels(call: NativeCall<NativeCondensedAddon>, threads: number): CondensedKernels {
  return {
    condense: (weight, outFeatures, inFeatures) => call('condense', [weight, outFeatures, inFeatures]),
    condensedForward: (layer, bias, x, batch) => call('condensedForward', [layer, bias, x, batch, threads]),
    denseForward: (weight, bias, outFeatures, inFeatures, x, batch) =>
      call('denseForward', [weight, bias, outFeatures, inFeatures, x, batch, threads]),
  };
}
