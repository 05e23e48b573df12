import { checkpointKernelsOn } from '../../core/session/openCheckpoints';
import type { Kernels } from '../kernels';
import { referenceCondensedKernels } from './condensed';
import { referenceJobKernels } from './jobs';
import { referenceMaskKernels } from './masks';
import { referenceScanKernels } from './scan';
import { CHUNK_ELEMENTS } from '../../core/tensorBytes';

/** Every kernel in TypeScript: the test oracle and the fallback when the addon cannot load. */
export function createReferenceKernels(chunkElements = CHUNK_ELEMENTS): Kernels {
  const scan = referenceScanKernels(chunkElements);
  return {
    name: 'reference',
    ...scan,
    ...checkpointKernelsOn({ ...scan, ...referenceMaskKernels }),
    ...referenceMaskKernels,
    ...referenceCondensedKernels,
    ...referenceJobKernels,
    async dispose() {},
  };
}
