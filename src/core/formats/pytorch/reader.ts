import { type Checkpoint } from '../../checkpoint';
import { DerivedBytesBudget } from '../../derivedBytes';
import { CheckpointError } from '../../errors';
import type { RandomAccessFile } from '../../randomAccessFile';
import { looksLikeZip } from '../shared/zip';
import { hasLegacyMagic, readPyTorchLegacy } from './legacyFormat';
import { readPyTorchZip } from './zipFormat';

/**
 * How sure the first bytes make us that a file is a PyTorch checkpoint. The legacy magic is
 * unmistakable. A zip could as well be an .npz, so it is only plausible: the extension decides,
 * and `readPyTorch` then requires a `data.pkl` record.
 */
export function sniffPyTorch(head: Uint8Array): 'certain' | 'plausible' | 'no' {
  if (hasLegacyMagic(head)) return 'certain';
  return looksLikeZip(head) ? 'plausible' : 'no';
}

/**
 * Reads a torch.save checkpoint (.pt, .pth, .bin, .ckpt): the zip format or the legacy one.
 * Everything materialized in memory (inflated records, gathered views …) shares `budget`.
 */
export async function readPyTorch(file: RandomAccessFile, budget = new DerivedBytesBudget()): Promise<Checkpoint> {
  const path = file.path;
  if (file.size === 0) throw new CheckpointError(path, 'empty', 'the file is empty');
  const head = await file.read(0, Math.min(file.size, 512));
  const read = looksLikeZip(head) ? readPyTorchZip : hasLegacyMagic(head) ? readPyTorchLegacy : undefined;
  if (read) return budget.keepingScratch(() => read(file, budget));
  if (head.length >= 262 && new TextDecoder('latin1').decode(head.subarray(257, 262)) === 'ustar') {
    throw new CheckpointError(path, 'unsupported', 'the tar-based torch.save format of PyTorch before 0.4 is not supported');
  }
  if (new TextDecoder('latin1').decode(head.subarray(0, 8)) === 'PYTORCH1') {
    throw new CheckpointError(path, 'unsupported', 'the "PYTORCH1" preview format is not supported');
  }
  if (head[0] === 0x80 && head.length > 1 && head[1] <= 5) {
    throw new CheckpointError(path, 'unsupported', 'a plain pickle, not written by torch.save (no torch magic number)');
  }
  throw new CheckpointError(
    path,
    'unknown-format',
    'not a PyTorch checkpoint: neither a torch.save zip archive nor the legacy torch.save format',
    0,
  );
}
