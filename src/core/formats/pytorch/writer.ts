import { writeRangesOrZipMembers } from '../shared/zipWriter';
import type { CheckpointWriter } from '../writer';

/**
 * Writes a PyTorch checkpoint with edited storages, in the input's own format: a torch.save zip
 * (edits of `data/<key>` records) is rewritten by the zip writer, a legacy file is copied with its
 * edited byte ranges patched (it stays legacy). `request.provenance` is not written: neither
 * format has free-form metadata, and adding to the pickle would change what torch.load returns.
 */
export const writeTorch: CheckpointWriter = writeRangesOrZipMembers;
