import * as nodePath from 'node:path';
import { promisify } from 'node:util';
import { crc32, deflateRaw, type InputType, type ZlibOptions } from 'node:zlib';
import { CheckpointError } from '../../errors';
import { withFile, type RandomAccessFile } from '../../randomAccessFile';
import type { StoredZipMember } from '../../storedTensor';
import type { CheckpointWriter, StoredEdit } from '../writer';
import {
  COPY_CHUNK_BYTES,
  overlayPatches,
  rangePatches,
  sortedPatches,
  writePatchedCopy,
  writePieces,
  type BytePatch,
  type Piece,
} from './patchedCopy';
import { METHOD_STORED, readZipDirectory, readZipMember, zipEntryOf, type ZipEntry } from './zip';

/** New bytes for part of a zip member, counted in its uncompressed bytes (`member` as the reader recorded it). */
export interface ZipMemberEdit {
  readonly member: StoredZipMember;
  readonly bytes: Uint8Array;
}

const CENTRAL_HEADER_SIGNATURE = 0x02014b50;
const END_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_END_SIGNATURE = 0x06064b50;
const DESCRIPTOR_SIGNATURE = 0x08074b50;
const ZIP64_EXTRA_ID = 0x0001;
/** General-purpose flag bit 3: the CRC and sizes follow the data in a data descriptor. */
const FLAG_DATA_DESCRIPTOR = 0x0008;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
const END_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_END_SIZE = 56;
/** Field offsets within the local header, the central header and the end record. */
const LOCAL_CRC = 14;
const LOCAL_COMPRESSED_SIZE = 18;
const CENTRAL_CRC = 16;
const CENTRAL_COMPRESSED_SIZE = 20;
const CENTRAL_LOCAL_HEADER_OFFSET = 42;
const END_DIRECTORY_OFFSET = 16;

const deflateRawAsync = promisify(deflateRaw) as (buffer: InputType, options?: ZlibOptions) => Promise<Buffer>;

/**
 * The edits of a zip checkpoint (.npz, torch.save) as zip member edits, refusing any that is not
 * a member of `input`: such an edit is not for this writer.
 */
export function zipMemberEdits(input: string, edits: readonly StoredEdit[]): ZipMemberEdit[] {
  return edits.map(({ target, bytes }) => {
    if (target.kind !== 'zipMember' || target.archive !== input) {
      const where = target.kind === 'zipMember' ? target.archive : target.kind;
      throw new Error(`${input}: an edit of ${where} is not a member of this zip archive`);
    }
    return { member: target, bytes };
  });
}

/**
 * Writes a copy of the zip archive `input` to `output` with `edits` applied to its members'
 * uncompressed bytes, changing nothing else. Stored members (all torch.save and numpy.savez
 * write) keep their sizes, so the archive is copied byte for byte with the data and the CRC-32s
 * (local header, data descriptor, central directory) patched in place: this works for zip64
 * archives too. A deflated member is re-deflated, which moves every later member: the archive is
 * rebuilt, unedited members copied as they are and the offsets that point past the edited one
 * moved. There an archive with zip64 end records or central zip64 fields is refused, as their
 * offsets are not rewritten; a local zip64 field (numpy.savez_compressed writes one) gets the
 * new size. Memory holds a copy chunk and the edited deflated members.
 */
export async function writeZipWithEdits(
  input: string,
  output: string,
  edits: readonly ZipMemberEdit[],
  signal?: AbortSignal,
): Promise<void> {
  await withFile(input, async (file) => {
    const entries = await readZipDirectory(file);
    const directory = await readCentralDirectory(file, entries);
    const patches: BytePatch[] = [];
    const replacements: Replacement[] = [];
    for (const { entry, central, memberPatches } of editedMembers(input, entries, directory, edits)) {
      signal?.throwIfAborted();
      const local = await readLocalHeader(file, entry);
      if (entry.method === METHOD_STORED) {
        const crc = await crcOfPatchedStoredMember(file, entry, memberPatches, signal);
        for (const p of memberPatches) patches.push({ offset: entry.dataOffset + p.offset, bytes: p.bytes });
        if (local.holdsCrc) patches.push(uint32Patch(entry.localHeaderOffset + LOCAL_CRC, crc));
        if (local.descriptor) patches.push(uint32Patch(local.descriptor.offset + local.descriptor.crcAt, crc));
        patches.push(uint32Patch(central + CENTRAL_CRC, crc));
      } else {
        if (directory.zip64 || !local.compressedSizeFields) {
          throw new CheckpointError(input, 'unsupported', 'rewriting a compressed zip64 member is not supported yet');
        }
        const rebuilt = await redeflatedMember(file, entry, { ...local, compressedSizeFields: local.compressedSizeFields }, memberPatches);
        replacements.push(rebuilt.replacement);
        patches.push(uint32Patch(central + CENTRAL_CRC, rebuilt.crc));
        patches.push(zip32Patch(input, central + CENTRAL_COMPRESSED_SIZE, rebuilt.compressedSize));
      }
    }
    replacements.sort((a, b) => a.start - b.start);
    if (replacements.length > 0) patches.push(...movedOffsetPatches(input, entries, directory, replacements));
    const replaced = (p: BytePatch) => replacements.some((r) => p.offset < r.end && p.offset + p.bytes.length > r.start);
    if (patches.some(replaced)) throw new CheckpointError(input, 'corrupt', 'zip members overlap one another');
    await writeArchive(file, output, sortedPatches(input, file.size, patches), replacements, signal);
  });
}

/** Where the central directory is, and each member's central header in it. */
interface CentralDirectory {
  readonly offset: number;
  /** Archive offset of each member's central header, in the order readZipDirectory lists them. */
  readonly headers: readonly number[];
  readonly endOffset: number;
  /** Whether the archive has zip64 records or central zip64 extra fields. */
  readonly zip64: boolean;
}

/**
 * Finds the central directory as yauzl does (the last end record; the zip64 one when its locator
 * is there) and walks it, checking that it lists `entries` in order: the headers to patch are
 * then the ones the reader read.
 */
async function readCentralDirectory(file: RandomAccessFile, entries: readonly ZipEntry[]): Promise<CentralDirectory> {
  const corrupt = (detail: string) => new CheckpointError(file.path, 'corrupt', detail);
  const tailStart = Math.max(0, file.size - (ZIP64_LOCATOR_SIZE + END_SIZE + 0xffff));
  const tail = viewOf(await file.read(tailStart, file.size - tailStart));
  let end = tail.byteLength - END_SIZE;
  while (end >= 0 && tail.getUint32(end, true) !== END_SIGNATURE) end--;
  if (end < 0) throw corrupt('the zip directory has no end record');
  let offset = tail.getUint32(end + END_DIRECTORY_OFFSET, true);
  let size = tail.getUint32(end + 12, true);
  const zip64 = end >= ZIP64_LOCATOR_SIZE && tail.getUint32(end - ZIP64_LOCATOR_SIZE, true) === ZIP64_LOCATOR_SIGNATURE;
  if (zip64) {
    const record = viewOf(await file.read(Number(tail.getBigUint64(end - ZIP64_LOCATOR_SIZE + 8, true)), ZIP64_END_SIZE));
    if (record.getUint32(0, true) !== ZIP64_END_SIGNATURE) throw corrupt('the zip64 end record is not where its locator points');
    size = Number(record.getBigUint64(40, true));
    offset = Number(record.getBigUint64(48, true));
  }
  const bytes = await file.read(offset, size);
  const view = viewOf(bytes);
  const headers: number[] = [];
  let zip64Extra = false;
  let at = 0;
  for (const entry of entries) {
    if (
      at + CENTRAL_HEADER_SIZE > size ||
      view.getUint32(at, true) !== CENTRAL_HEADER_SIGNATURE ||
      view.getUint32(at + CENTRAL_CRC, true) !== entry.crc32
    ) {
      throw corrupt(`the zip directory does not list "${entry.name}" where the reader found it`);
    }
    const nameEnd = at + CENTRAL_HEADER_SIZE + view.getUint16(at + 28, true);
    const extraEnd = nameEnd + view.getUint16(at + 30, true);
    zip64Extra ||= extraFieldData(bytes.subarray(nameEnd, extraEnd), ZIP64_EXTRA_ID) !== undefined;
    headers.push(offset + at);
    at = extraEnd + view.getUint16(at + 32, true);
  }
  return { offset, headers, endOffset: tailStart + end, zip64: zip64 || zip64Extra };
}

/** A member with edits: its directory entry, its central header's offset and the edits in its uncompressed bytes (sorted). */
interface EditedMember {
  readonly entry: ZipEntry;
  readonly central: number;
  readonly memberPatches: readonly BytePatch[];
}

/**
 * Groups `edits` by member, checking each names a member of this archive as it is now (name,
 * offset, method, sizes and CRC-32 as the reader recorded them) and that a member's edits lie
 * within it and do not overlap.
 */
function editedMembers(
  input: string,
  entries: readonly ZipEntry[],
  directory: CentralDirectory,
  edits: readonly ZipMemberEdit[],
): EditedMember[] {
  const indexByOffset = new Map(entries.map((entry, index) => [entry.localHeaderOffset, index]));
  const editsByIndex = new Map<number, BytePatch[]>();
  for (const { member, bytes } of edits) {
    const index = indexByOffset.get(member.localHeaderOffset);
    const entry = index === undefined ? undefined : entries[index];
    const recorded = zipEntryOf(member);
    if (
      index === undefined ||
      entry === undefined ||
      member.archive !== input ||
      entry.encrypted ||
      (['name', 'method', 'crc32', 'compressedSize', 'uncompressedSize'] as const).some((k) => entry[k] !== recorded[k])
    ) {
      throw new Error(`${input}: zip member "${member.member}" is not in the archive as the edit describes it`);
    }
    if (bytes.length !== member.length) throw new RangeError(`${input}: an edit of ${member.length} bytes brings ${bytes.length}`);
    const list = editsByIndex.get(index) ?? [];
    list.push({ offset: member.offset, bytes });
    editsByIndex.set(index, list);
  }
  return [...editsByIndex].map(([index, list]) => ({
    entry: entries[index],
    central: directory.headers[index],
    memberPatches: sortedPatches(`${input}: zip member "${entries[index].name}"`, entries[index].uncompressedSize, list),
  }));
}

/** A little-endian size field: where it is and how many bytes it takes. */
interface SizeField {
  readonly at: number;
  readonly width: 4 | 8;
}

/** What a member's local header holds, and where its data descriptor is. */
interface LocalHeader {
  readonly bytes: Uint8Array;
  /** With a data descriptor the local header may hold zeros instead of the CRC-32 and sizes. */
  readonly holdsCrc: boolean;
  /**
   * Where `bytes` hold the compressed size: the header's own field (unless zeros stand for it, or
   * 0xFFFFFFFF sends readers to the zip64 extra field) and the zip64 extra field's, which
   * Python's zipfile (numpy.savez_compressed) fills even for small members. Undefined when a
   * zip64 extra field is laid out otherwise: the size could not be rewritten with certainty.
   */
  readonly compressedSizeFields?: readonly SizeField[];
  /** The data descriptor: archive offset, its CRC-32's place in it, the width of its sizes, its length. */
  readonly descriptor?: { readonly offset: number; readonly crcAt: number; readonly compressedSize: SizeField; readonly length: number };
}

async function readLocalHeader(file: RandomAccessFile, entry: ZipEntry): Promise<LocalHeader> {
  const corrupt = (detail: string) =>
    new CheckpointError(file.path, 'corrupt', `zip member "${entry.name}": ${detail}`, entry.localHeaderOffset);
  const bytes = await file.read(entry.localHeaderOffset, entry.dataOffset - entry.localHeaderOffset);
  const view = viewOf(bytes);
  const hasDescriptor = (view.getUint16(6, true) & FLAG_DATA_DESCRIPTOR) !== 0;
  const extraStart = LOCAL_HEADER_SIZE + view.getUint16(26, true);
  const zip64 = extraFieldData(bytes.subarray(extraStart, extraStart + view.getUint16(28, true)), ZIP64_EXTRA_ID);
  /**
   * Whether the header's own field at `at` holds `expected`, as it must unless a descriptor (or
   * for a size, the zip64 field) stands for it.
   */
  const holds = (at: number, expected: number, what: string, isSize = false) => {
    const value = view.getUint32(at, true);
    if (value === expected) return true;
    if ((hasDescriptor && value === 0) || (isSize && zip64 && value === 0xffffffff)) return false;
    throw corrupt(`the local header's ${what} differs from the zip directory's`);
  };
  const holdsCrc = holds(LOCAL_CRC, entry.crc32, 'CRC-32');
  const compressedSizeFields: SizeField[] = [];
  if (holds(LOCAL_COMPRESSED_SIZE, entry.compressedSize, 'compressed size', true))
    compressedSizeFields.push({ at: LOCAL_COMPRESSED_SIZE, width: 4 });
  if (zip64) {
    // A local zip64 field holds both sizes, uncompressed first.
    const at = extraStart + zip64.offset;
    const sizes = zip64.length >= 16 ? [Number(view.getBigUint64(at, true)), Number(view.getBigUint64(at + 8, true))] : [];
    if (sizes[0] === entry.uncompressedSize && sizes[1] === entry.compressedSize) compressedSizeFields.push({ at: at + 8, width: 8 });
  }
  const sizesFound = !zip64 || compressedSizeFields.some((f) => f.width === 8);
  const local = { bytes, holdsCrc, ...(sizesFound ? { compressedSizeFields } : {}) };
  if (!hasDescriptor) return local;
  // The descriptor's signature is optional: the CRC-32 comes first or right after it. Its sizes
  // take 8 bytes each when the local header has a zip64 field.
  const offset = entry.dataOffset + entry.compressedSize;
  const head = viewOf(await file.read(offset, Math.min(8, file.size - offset)));
  const signed = head.byteLength >= 8 && head.getUint32(0, true) === DESCRIPTOR_SIGNATURE && head.getUint32(4, true) === entry.crc32;
  if (!signed && (head.byteLength < 4 || head.getUint32(0, true) !== entry.crc32)) {
    throw corrupt('its data descriptor does not hold the CRC-32 the zip directory gives');
  }
  const crcAt = signed ? 4 : 0;
  const width = zip64 ? 8 : 4;
  return { ...local, descriptor: { offset, crcAt, compressedSize: { at: crcAt + 4, width }, length: crcAt + 4 + 2 * width } };
}

/**
 * The CRC-32 of a stored member with `memberPatches` applied, read chunk by chunk; the member's
 * own CRC-32 is checked on the way, so a damaged input is not given a fresh, matching one.
 */
async function crcOfPatchedStoredMember(
  file: RandomAccessFile,
  entry: ZipEntry,
  memberPatches: readonly BytePatch[],
  signal?: AbortSignal,
): Promise<number> {
  let before = 0;
  let after = 0;
  const buffer = new Uint8Array(Math.min(COPY_CHUNK_BYTES, entry.compressedSize));
  for (let at = 0; at < entry.compressedSize; at += buffer.length) {
    signal?.throwIfAborted();
    const length = Math.min(buffer.length, entry.compressedSize - at);
    const chunk = await file.read(entry.dataOffset + at, length, buffer.subarray(0, length));
    before = crc32(chunk, before);
    overlayPatches(chunk, at, memberPatches);
    after = crc32(chunk, after);
  }
  if (before !== entry.crc32)
    throw new CheckpointError(file.path, 'corrupt', `zip member "${entry.name}" fails its CRC-32 check`, entry.dataOffset);
  return after;
}

/** Input bytes [start, end) written as `pieces` instead. */
interface Replacement {
  readonly start: number;
  readonly end: number;
  readonly pieces: readonly Uint8Array[];
}

/** A deflated member inflated, edited and deflated again: its new local header, data and descriptor. */
async function redeflatedMember(
  file: RandomAccessFile,
  entry: ZipEntry,
  local: LocalHeader & { readonly compressedSizeFields: readonly SizeField[] },
  memberPatches: readonly BytePatch[],
): Promise<{ replacement: Replacement; crc: number; compressedSize: number }> {
  const bytes = await readZipMember(file, entry, entry.uncompressedSize);
  overlayPatches(bytes, 0, memberPatches);
  const crc = crc32(bytes);
  const compressed = await deflateRawAsync(bytes);
  const header = local.bytes.slice();
  if (local.holdsCrc) viewOf(header).setUint32(LOCAL_CRC, crc, true);
  for (const field of local.compressedSizeFields) setSize(header, field, compressed.length);
  const pieces: Uint8Array[] = [header, compressed];
  let end = entry.dataOffset + entry.compressedSize;
  if (local.descriptor) {
    const { offset, crcAt, compressedSize, length } = local.descriptor;
    const descriptor = await file.read(offset, length);
    if (sizeAt(descriptor, compressedSize) !== entry.compressedSize) {
      const detail = `zip member "${entry.name}": its data descriptor's compressed size differs from the zip directory's`;
      throw new CheckpointError(file.path, 'corrupt', detail, offset);
    }
    viewOf(descriptor).setUint32(crcAt, crc, true);
    setSize(descriptor, compressedSize, compressed.length);
    pieces.push(descriptor);
    end += length;
  }
  return { replacement: { start: entry.localHeaderOffset, end, pieces }, crc, compressedSize: compressed.length };
}

function sizeAt(bytes: Uint8Array, field: SizeField): number {
  return field.width === 4 ? viewOf(bytes).getUint32(field.at, true) : Number(viewOf(bytes).getBigUint64(field.at, true));
}

function setSize(bytes: Uint8Array, field: SizeField, value: number): void {
  if (field.width === 4) viewOf(bytes).setUint32(field.at, value, true);
  else viewOf(bytes).setBigUint64(field.at, BigInt(value), true);
}

/** Patches to the central headers' local header offsets and the end record's directory offset, for members moved by `replacements`. */
function movedOffsetPatches(
  input: string,
  entries: readonly ZipEntry[],
  directory: CentralDirectory,
  replacements: readonly Replacement[],
): BytePatch[] {
  const moved = (offset: number) => {
    let shift = 0;
    for (const r of replacements) if (r.start < offset) shift += byteLength(r.pieces) - (r.end - r.start);
    return offset + shift;
  };
  const last = replacements[replacements.length - 1];
  if (last.end > directory.offset) throw new CheckpointError(input, 'corrupt', 'a zip member runs into the zip directory');
  const patches: BytePatch[] = [];
  entries.forEach((entry, index) => {
    const offset = moved(entry.localHeaderOffset);
    if (offset !== entry.localHeaderOffset) patches.push(zip32Patch(input, directory.headers[index] + CENTRAL_LOCAL_HEADER_OFFSET, offset));
  });
  const offset = moved(directory.offset);
  if (offset !== directory.offset) patches.push(zip32Patch(input, directory.endOffset + END_DIRECTORY_OFFSET, offset));
  return patches;
}

/** Writes the input with `replacements` (sorted, apart) in place of their spans and `patches` over the rest. */
async function writeArchive(
  file: RandomAccessFile,
  output: string,
  patches: readonly BytePatch[],
  replacements: readonly Replacement[],
  signal?: AbortSignal,
): Promise<void> {
  const pieces: Piece[] = [];
  let read = 0;
  for (const { start, end, pieces: replacement } of replacements) {
    if (start < read) throw new CheckpointError(file.path, 'corrupt', 'zip members overlap one another');
    pieces.push({ from: read, to: start }, ...replacement);
    read = end;
  }
  pieces.push({ from: read, to: file.size });
  await writePieces(file, pieces, patches, output, signal);
}

function uint32Patch(offset: number, value: number): BytePatch {
  const bytes = new Uint8Array(4);
  viewOf(bytes).setUint32(0, value, true);
  return { offset, bytes };
}

/** A size or offset for a 32-bit field of a rebuilt archive: 0xFFFFFFFF and over would need zip64 records it does not write. */
function zip32Patch(input: string, offset: number, value: number): BytePatch {
  if (value >= 0xffffffff) throw new CheckpointError(input, 'unsupported', 'the rewritten zip archive would need zip64 records');
  return uint32Patch(offset, value);
}

/** Where the data of the record with `id` is in a zip extra field block, and its length; undefined without one. */
function extraFieldData(extra: Uint8Array, id: number): { offset: number; length: number } | undefined {
  const view = viewOf(extra);
  for (let at = 0; at + 4 <= extra.length; at += 4 + view.getUint16(at + 2, true)) {
    if (view.getUint16(at, true) === id) return { offset: at + 4, length: Math.min(view.getUint16(at + 2, true), extra.length - at - 4) };
  }
  return undefined;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function byteLength(pieces: readonly Uint8Array[]): number {
  return pieces.reduce((sum, piece) => sum + piece.length, 0);
}

/**
 * The writer of formats whose tensors are plain byte ranges of one file (.npy, legacy torch.save:
 * a copy with the ranges patched) or members of a zip archive (.npz, torch.save zip: the zip
 * writer). Without edits either way is a plain copy.
 */
export const writeRangesOrZipMembers: CheckpointWriter = async ({ checkpoint, edits, output, folder, signal }) => {
  const input = checkpoint.file;
  const name = nodePath.basename(output);
  const written = nodePath.join(folder, name);
  if (edits.every((edit) => edit.target.kind === 'range')) await writePatchedCopy(input, written, rangePatches(input, edits), signal);
  else await writeZipWithEdits(input, written, zipMemberEdits(input, edits), signal);
  return [name];
};
