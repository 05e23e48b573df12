import type { Kernels } from '../kernels';
import { CHUNK_ELEMENTS } from '../tensorBytes';
import { referenceCondense, referenceCondensedForward, referenceDenseForward } from './condensed';
import { referenceHeatmap } from './heatmap';
import { referenceFanInMask, referenceNmMask } from './masks';
import { referenceScan } from './scan';

/** The TypeScript implementation of every kernel: the test oracle and the fallback. */
export class ReferenceKernels implements Kernels {
  readonly name = 'reference';

  constructor(private readonly chunkElements = CHUNK_ELEMENTS) {}

  scan: Kernels['scan'] = (request, signal) => referenceScan(request, this.chunkElements, signal);
  nmMask: Kernels['nmMask'] = referenceNmMask;
  fanInMask: Kernels['fanInMask'] = referenceFanInMask;
  heatmap: Kernels['heatmap'] = referenceHeatmap;
  condense: Kernels['condense'] = async (weight, outFeatures, inFeatures) => referenceCondense(weight, outFeatures, inFeatures);
  condensedForward: Kernels['condensedForward'] = async (layer, bias, x, batch) => referenceCondensedForward(layer, bias, x, batch);
  denseForward: Kernels['denseForward'] = async (...args) => referenceDenseForward(...args);

  async dispose(): Promise<void> {}
}
