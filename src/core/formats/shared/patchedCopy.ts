import * as nodePath from 'node:path';
import { createFile, type OutputFile } from '../../outputFiles';
import { RandomAccessFile, withFile } from '../../randomAccessFile';
import type { StoredEdit } from '../writer';

/** New bytes for part of a file: `bytes.length` bytes from `offset` are replaced. */
export interface BytePatch {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/** Bytes copied at a time: checkpoints can be far larger than memory, so a copy never holds more. */
export const COPY_CHUNK_BYTES = 8 << 20;

/**
 * `patches` sorted by offset, after checking that each lies within the `size` bytes patched and
 * that none overlap: two edits of one byte mean the caller's edits are wrong, and the file must not be
 * written half-right. `what` names the bytes patched in the message ("w.npy", `zip member "a"`).
 */
export function sortedPatches(what: string, size: number, patches: readonly BytePatch[]): BytePatch[] {
  const sorted = [...patches].sort((a, b) => a.offset - b.offset);
  let end = 0;
  for (const patch of sorted) {
    const span = `bytes ${patch.offset}..${patch.offset + patch.bytes.length}`;
    if (!Number.isSafeInteger(patch.offset) || patch.offset < 0 || patch.offset + patch.bytes.length > size) {
      throw new RangeError(`${what}: an edit of ${span} lies outside its ${size} bytes`);
    }
    if (patch.offset < end) throw new RangeError(`${what}: an edit of ${span} overlaps another edit`);
    end = patch.offset + patch.bytes.length;
  }
  return sorted;
}

/**
 * Writes the parts of sorted `patches` that fall within `chunk` over it; `chunkStart` is the
 * chunk's first byte in the patches' coordinates. Returns how many bytes were patched.
 */
export function overlayPatches(chunk: Uint8Array, chunkStart: number, patches: readonly BytePatch[]): number {
  const chunkEnd = chunkStart + chunk.length;
  let patched = 0;
  for (const patch of patches) {
    const patchEnd = patch.offset + patch.bytes.length;
    if (patchEnd <= chunkStart) continue;
    if (patch.offset >= chunkEnd) break;
    const from = Math.max(patch.offset, chunkStart);
    const to = Math.min(patchEnd, chunkEnd);
    chunk.set(patch.bytes.subarray(from - patch.offset, to - patch.offset), from - chunkStart);
    patched += to - from;
  }
  return patched;
}

/**
 * Creates `output`, a new file (writers write into a fresh folder). Refuses the input's own path
 * with a clear message: the input is read while the output is written, and is never touched.
 */
export async function createOutput(input: string, output: string): Promise<OutputFile> {
  if (nodePath.resolve(input) === nodePath.resolve(output)) throw new Error(`${output}: the output would overwrite the input`);
  return createFile(output);
}

/** Part of an output file: bytes [from, to) of the input, or new bytes. */
export type Piece = { readonly from: number; readonly to: number } | Uint8Array;

/**
 * Creates `output` from `pieces` (input ranges and new bytes, in order), streaming the input
 * ranges in chunks with `patches` (input offsets, checked disjoint and within the file) laid over
 * them; every patch must land in a copied range. The strategy of every writer: patch spans in a
 * copy, or rewrite a few parts around copied spans.
 */
export async function writePieces(
  input: RandomAccessFile,
  pieces: readonly Piece[],
  patches: readonly BytePatch[],
  output: string,
  signal?: AbortSignal,
): Promise<void> {
  const sorted = sortedPatches(input.path, input.size, patches);
  const handle = await createOutput(input.path, output);
  try {
    const buffer = new Uint8Array(COPY_CHUNK_BYTES);
    let position = 0;
    let patched = 0;
    for (const piece of pieces) {
      if (piece instanceof Uint8Array) {
        await handle.write(piece, position);
        position += piece.length;
        continue;
      }
      for (let at = piece.from; at < piece.to; at += COPY_CHUNK_BYTES) {
        signal?.throwIfAborted();
        const length = Math.min(COPY_CHUNK_BYTES, piece.to - at);
        const chunk = await input.read(at, length, buffer.subarray(0, length));
        patched += overlayPatches(chunk, at, sorted);
        await handle.write(chunk, position);
        position += length;
      }
    }
    const expected = sorted.reduce((sum, p) => sum + p.bytes.length, 0);
    if (patched !== expected) throw new Error(`${expected - patched} edited bytes of ${input.path} lie outside what is copied`);
  } finally {
    await handle.close();
  }
}

/** Copies `input` to `output` with `patches` (byte ranges of the input, checked) written over. */
export async function writePatchedCopy(input: string, output: string, patches: readonly BytePatch[], signal?: AbortSignal): Promise<void> {
  await withFile(input, (file) => writePieces(file, [{ from: 0, to: file.size }], patches, output, signal));
}

/**
 * The edits of a file whose tensors are plain byte ranges (.npy, legacy torch) as patches,
 * refusing any that names another file or is not a range: such an edit is not for this writer.
 */
export function rangePatches(input: string, edits: readonly StoredEdit[]): BytePatch[] {
  return edits.map(({ target, bytes }) => {
    if (target.kind !== 'range' || target.file !== input) {
      const where = target.kind === 'range' ? target.file : target.kind;
      throw new Error(`${input}: an edit of ${where} is not a byte range of this file`);
    }
    if (bytes.length !== target.length) throw new RangeError(`${input}: an edit of ${target.length} bytes brings ${bytes.length}`);
    return { offset: target.offset, bytes };
  });
}
