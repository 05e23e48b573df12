import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { RandomAccessFile, withFile } from '../../randomAccessFile';
import type { StoredEdit } from '../writer';

/** New bytes for part of a file: `bytes.length` bytes from `offset` are replaced. */
export interface BytePatch {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/** Bytes [start, end) of a file. */
export interface ByteSpan {
  readonly start: number;
  readonly end: number;
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

/** Writes all of `bytes` at `position` (a write may take fewer bytes than it is given). */
export async function writeFully(output: fs.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const { bytesWritten } = await output.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Copies input bytes [start, end) to `output` from `position` on, chunk by chunk, with the parts
 * of sorted `patches` (input offsets) in that span written over them.
 */
export async function copySpan(
  input: RandomAccessFile,
  span: ByteSpan,
  output: fs.FileHandle,
  position: number,
  patches: readonly BytePatch[],
  signal?: AbortSignal,
): Promise<void> {
  const buffer = new Uint8Array(Math.min(COPY_CHUNK_BYTES, span.end - span.start));
  for (let at = span.start; at < span.end; at += buffer.length) {
    signal?.throwIfAborted();
    const length = Math.min(buffer.length, span.end - at);
    const chunk = await input.read(at, length, buffer.subarray(0, length));
    overlayPatches(chunk, at, patches);
    await writeFully(output, chunk, position + (at - span.start));
  }
}

/**
 * Creates `output`, a new file (writers write into a fresh folder). Refuses the input's own path
 * with a clear message: the input is read while the output is written, and is never touched.
 */
export async function createOutput(input: string, output: string): Promise<fs.FileHandle> {
  if (nodePath.resolve(input) === nodePath.resolve(output)) throw new Error(`${output}: the output would overwrite the input`);
  return fs.open(output, 'wx');
}

/** Copies `input` to `output` with `patches` (byte ranges of the input, checked) written over. */
export async function writePatchedCopy(input: string, output: string, patches: readonly BytePatch[], signal?: AbortSignal): Promise<void> {
  await withFile(input, async (file) => {
    const sorted = sortedPatches(input, file.size, patches);
    const handle = await createOutput(input, output);
    try {
      await copySpan(file, { start: 0, end: file.size }, handle, 0, sorted, signal);
    } finally {
      await handle.close();
    }
  });
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
