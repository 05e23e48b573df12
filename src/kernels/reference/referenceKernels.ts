import type { Kernels } from '../kernels';
import { referenceCondensedKernels } from './condensed';
import { referenceJobKernels } from './jobs';
import { referenceMaskKernels } from './masks';
import { referenceScanKernels } from './scan';
import { CHUNK_ELEMENTS } from './tensorBytes';

/** Every kernel in TypeScript: the test oracle and the fallback when the addon cannot load. */
export function createReferenceKernels(chunkElements = CHUNK_ELEMENTS): Kernels {
  return {
    name: 'reference',
    ...referenceScanKernels(chunkElements),
    ...referenceMaskKernels,
    ...referenceCondensedKernels,
    ...referenceJobKernels,
    async dispose() {},
  };
}
