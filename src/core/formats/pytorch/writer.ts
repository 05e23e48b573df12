import * as nodePath from 'node:path';
import { rangePatches, writePatchedCopy } from '../shared/patchedCopy';
import { writeZipWithEdits, zipMemberEdits } from '../shared/zipWriter';
import type { CheckpointWriter } from '../writer';

/**
 * Writes a PyTorch checkpoint with edited storages, in the input's own format: a torch.save zip
 * (edits of `data/<key>` records) is rewritten by the zip writer, a legacy file (edits of byte
 * ranges) is copied with the ranges patched. `request.provenance` is not written: neither format
 * has free-form metadata, and adding to the pickle would change what torch.load returns.
 */
export const writeTorch: CheckpointWriter = async ({ checkpoint, edits, output, folder, signal }) => {
  const input = checkpoint.file;
  const name = nodePath.basename(output);
  const written = nodePath.join(folder, name);
  // Without edits either path is a plain copy.
  if (edits.every((edit) => edit.target.kind === 'range')) await writePatchedCopy(input, written, rangePatches(input, edits), signal);
  else await writeZipWithEdits(input, written, zipMemberEdits(input, edits), signal);
  return [name];
};
