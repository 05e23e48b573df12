import type { Checkpoint } from '../checkpoint';
import type { StoredOnnxField, StoredRange, StoredZipMember } from '../storedTensor';

/**
 * New bytes for part of a file, as the file holds them (byte order included): `target.length`
 * bytes from `target.offset` are replaced, the same number of bytes. For a zip member the offset
 * counts in the member's uncompressed bytes; for an ONNX field, in the field's payload as the
 * reader located it (external data: in the external file).
 */
export interface StoredEdit {
  readonly target: StoredRange | StoredZipMember | StoredOnnxField;
  readonly bytes: Uint8Array;
}

/** A checkpoint to write again with some stored bytes replaced. */
export interface WriteRequest {
  /** The input as its reader opened it. */
  readonly checkpoint: Checkpoint;
  readonly edits: readonly StoredEdit[];
  /** `sparsity_lens.*` keys for formats with free-form metadata (safetensors `__metadata__`, ONNX `metadata_props`). */
  readonly provenance: Readonly<Record<string, string>>;
  /** The output's final path: the main file, after which other written files are named. */
  readonly output: string;
  /** The folder written into (a temporary one beside the output): each file gets its final base name there. */
  readonly folder: string;
  readonly signal?: AbortSignal;
}

/**
 * Writes a checkpoint with edits into `request.folder`, never touching the input's files; returns
 * the base names written, the main file (the one to open) last.
 */
export type CheckpointWriter = (request: WriteRequest) => Promise<readonly string[]>;
