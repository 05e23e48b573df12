import * as nodePath from 'node:path';
import { rangePatches, writePatchedCopy } from '../shared/patchedCopy';
import { writeZipWithEdits, zipMemberEdits } from '../shared/zipWriter';
import type { CheckpointWriter } from '../writer';

/**
 * Writes a NumPy checkpoint with edited arrays, in the input's own format: an .npy file (edits of
 * byte ranges) is copied with the ranges patched, an .npz archive (edits of its members, stored
 * or deflated) is rewritten by the zip writer. `request.provenance` is not written: .npy headers
 * and .npz members have no place for free-form metadata that numpy.load would not turn into data.
 */
export const writeNumpy: CheckpointWriter = async ({ checkpoint, edits, output, folder, signal }) => {
  const input = checkpoint.file;
  const name = nodePath.basename(output);
  const written = nodePath.join(folder, name);
  // Without edits either path is a plain copy.
  if (edits.every((edit) => edit.target.kind === 'range')) await writePatchedCopy(input, written, rangePatches(input, edits), signal);
  else await writeZipWithEdits(input, written, zipMemberEdits(input, edits), signal);
  return [name];
};
