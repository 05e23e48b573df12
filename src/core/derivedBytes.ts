import { formatBytes, type Checkpoint } from './checkpoint';
import type { RandomAccessFile } from './randomAccessFile';
import { ScratchFile } from './scratchFile';

/**
 * Tensors whose analysed values must be computed from the stored bytes (non-contiguous views,
 * pruning pairs, zero-point shifts, byte swaps, Fortran order, dequantization, inflated zip
 * members) are materialized as `inline` sources, or, past SCRATCH_FROM_BYTES where they can be
 * produced piece by piece (inflated zip members, gathered PyTorch views), written to the checkpoint's
 * scratch file in pieces; up to this many bytes each; larger ones are skipped with a reason.
 */
export const MAX_DERIVED_BYTES = 1 << 30;

/** All tensors materialized while opening one checkpoint share this many bytes. */
export const MAX_DERIVED_BYTES_PER_CHECKPOINT = 2 * MAX_DERIVED_BYTES;

/** Derived values larger than this go to the scratch file rather than memory, where they can. */
export const SCRATCH_FROM_BYTES = 16 << 20;

/** Piece size when producing derived values into the scratch file: the memory they cost. */
export const SCRATCH_PIECE_BYTES = 4 << 20;

/**
 * The bytes a reader may spend materializing tensors of one checkpoint: at most
 * MAX_DERIVED_BYTES per tensor and `limit` in all, so a small hostile file that names the same
 * bytes many times (repeated shard paths, overlapping external data) cannot exhaust memory or
 * disk. It also holds the checkpoint's scratch file, made on first use.
 */
export class DerivedBytesBudget {
  private used = 0;
  private scratchFile: Promise<ScratchFile | undefined> | undefined;

  constructor(readonly limit = MAX_DERIVED_BYTES_PER_CHECKPOINT) {}

  /**
   * Reserves `bytes` for one tensor. Returns undefined when granted, else why not, as a reason
   * to skip the tensor with ("needs a 2.0 GiB copy, over the 1.0 GiB limit per tensor").
   */
  reserve(bytes: number): string | undefined {
    if (bytes > MAX_DERIVED_BYTES) return `needs a ${formatBytes(bytes)} copy, over the ${formatBytes(MAX_DERIVED_BYTES)} limit per tensor`;
    if (this.used + bytes > this.limit) {
      return `needs a ${formatBytes(bytes)} copy, and the copies made for this file would pass ${formatBytes(this.limit)}`;
    }
    this.used += bytes;
    return undefined;
  }

  /** The scratch file for derived values of `bytes` bytes, or undefined when they stay in memory. */
  async scratchFor(bytes: number): Promise<ScratchFile | undefined> {
    if (bytes <= SCRATCH_FROM_BYTES) return undefined;
    this.scratchFile ??= ScratchFile.create().catch(() => undefined);
    return this.scratchFile;
  }

  /** Bytes of `path`: the checkpoint's `file`, or the scratch file its derived values went to. */
  async read(file: RandomAccessFile, path: string, offset: number, length: number): Promise<Uint8Array> {
    if (path === file.path) return file.read(offset, length);
    const scratch = await this.scratchFile;
    if (!scratch || scratch.path !== path) throw new Error(`${path} is neither ${file.path} nor its scratch file`);
    return scratch.read(offset, length);
  }

  /**
   * Opens a checkpoint with this budget: the checkpoint releases the scratch file when one was
   * made, and an open that fails closes it at once.
   */
  async keepingScratch(open: () => Promise<Checkpoint>): Promise<Checkpoint> {
    try {
      const checkpoint = await open();
      const made = this.scratchFile;
      return made ? { ...checkpoint, release: async () => (await made)?.close() } : checkpoint;
    } catch (e) {
      await (await this.scratchFile)?.close();
      throw e;
    }
  }
}
