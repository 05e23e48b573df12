import { writeRangesOrZipMembers } from '../shared/zipWriter';
import type { CheckpointWriter } from '../writer';

/**
 * Writes a NumPy checkpoint with edited arrays, in the input's own format: an .npy file is copied
 * with its edited byte ranges patched, an .npz archive (stored or deflated members) is rewritten by
 * the zip writer. `request.provenance` is not written: .npy headers and .npz members have no place
 * for free-form metadata that numpy.load would not turn into data.
 */
export const writeNumpy: CheckpointWriter = writeRangesOrZipMembers;
