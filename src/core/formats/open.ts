import * as nodePath from 'node:path';
import type { Checkpoint, CheckpointFormat } from '../checkpoint';
import { CheckpointError } from '../errors';
import { withFile, type RandomAccessFile } from '../randomAccessFile';
import { readOnnx } from './onnx';
import { looksLikeSafetensors, readSafetensors } from './safetensors';

interface FormatReader {
  readonly format: CheckpointFormat;
  readonly extensions: readonly string[];
  /**
   * How sure the first bytes make us: `certain` wins over the file's extension, `plausible`
   * is used only when no extension matches.
   */
  readonly sniff: (head: Uint8Array, fileSize: number) => 'certain' | 'plausible' | 'no';
  readonly read: (file: RandomAccessFile) => Promise<Checkpoint>;
}

/** Every format the core reads. A new format is one more entry here. */
export const FORMAT_READERS: readonly FormatReader[] = [
  { format: 'safetensors', extensions: ['.safetensors'], sniff: (head, size) => (looksLikeSafetensors(head, size) ? 'certain' : 'no'), read: readSafetensors },
  // ONNX has no magic number; a ModelProto normally starts with ir_version (field 1, varint).
  { format: 'onnx', extensions: ['.onnx'], sniff: (head) => (head[0] === 0x08 ? 'plausible' : 'no'), read: readOnnx },
];

/** File name extensions the core opens, for the faces' file filters. */
export const CHECKPOINT_EXTENSIONS: readonly string[] = FORMAT_READERS.flatMap((r) => r.extensions);

/**
 * Opens a checkpoint: the format is chosen by magic bytes first, then by extension. Only headers
 * are read here; tensor bytes stay on disk until a kernel reads them.
 */
export async function openCheckpoint(path: string): Promise<Checkpoint> {
  return withFile(path, async (file) => {
    if (file.size === 0) throw new CheckpointError(path, 'empty', 'the file is empty');
    const head = await file.read(0, Math.min(file.size, 16));
    const ext = nodePath.extname(path).toLowerCase();
    const reader =
      FORMAT_READERS.find((r) => r.sniff(head, file.size) === 'certain') ??
      FORMAT_READERS.find((r) => r.extensions.includes(ext)) ??
      FORMAT_READERS.find((r) => r.sniff(head, file.size) === 'plausible');
    if (!reader) {
      throw new CheckpointError(path, 'unknown-format', `not a checkpoint format Sparsity Lens reads (${CHECKPOINT_EXTENSIONS.join(', ')})`);
    }
    return reader.read(file);
  });
}
