// Shared by the prune tests: the numpy masks of test/fixtures/prune/expected.json, and checks of
// written files made without the project's readers or writers (a zip directory walker, float
// decoding, the N:M rule) so that a bug there cannot hide in the check.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { crc32, inflateRawSync } from 'node:zlib';
import type { DType } from '../../src/core/dtype';
import type { StoredTensor } from '../../src/core/storedTensor';
import { fixture } from './fixtures';

/** A mask of expected.json: `bits` is the hex of numpy.packbits(mask.ravel()), MSB first, 1 = keep. */
export interface ExpectedMask {
  readonly shape: number[];
  readonly ones: number;
  readonly bits: string;
  readonly k?: number;
  readonly denseFanIn?: number;
}

export interface ExpectedFile {
  readonly file?: string;
  readonly files?: string[];
  readonly masks: Record<string, Record<string, ExpectedMask>>;
  readonly accuracy?: Record<string, { correct: number; total: number }>;
  readonly [key: string]: unknown;
}

export interface ExpectedJson {
  readonly _about: { readonly sha256: Record<string, string>; readonly [key: string]: unknown };
  readonly 'erk0.9': { layers: Record<string, { k: number; nnzWithK: number; dense: boolean }> };
  readonly digits_mlp: ExpectedFile;
  readonly cnn: ExpectedFile & { example: { input: number[]; logits: number[] }; shapes: Record<string, number[]> };
  readonly fp16: ExpectedFile;
  readonly bf16: ExpectedFile;
  readonly prune_pair: ExpectedFile;
  readonly ties: ExpectedFile;
}

export const EXPECTED: ExpectedJson = JSON.parse(readFileSync(fixture('prune', 'expected.json'), 'utf8'));

/** The keys of expected.json whose masks are computed on a weight file. */
export const EXPECTED_KEYS = ['digits_mlp', 'cnn', 'fp16', 'bf16', 'prune_pair', 'ties'] as const;

/**
 * The files an expected.json entry is computed on: `shared:NAME` is the shared data folder's file,
 * of which test/fixtures/NAME is a byte-identical copy (checked by the masks test).
 */
export function expectedFiles(key: (typeof EXPECTED_KEYS)[number]): string[] {
  const entry = EXPECTED[key];
  const names = entry.files ?? [entry.file!];
  return names.map((n) => (n.startsWith('shared:') ? fixture(n.slice('shared:'.length)) : fixture('prune', n)));
}

/** A mask of expected.json as one byte per element, 0 or 1, in C order. */
export function maskBytes(mask: ExpectedMask): Uint8Array {
  const numel = mask.shape.reduce((a, d) => a * d, 1);
  const packed = Buffer.from(mask.bits, 'hex');
  if (packed.length !== Math.ceil(numel / 8)) throw new Error(`${packed.length} mask bytes for ${numel} elements`);
  const out = new Uint8Array(numel);
  for (let i = 0; i < numel; i++) out[i] = (packed[i >> 3] >> (7 - (i & 7))) & 1;
  return out;
}

/** The first few positions where two masks differ, and how many do, or undefined when equal. */
export function maskDifference(actual: Uint8Array, expected: Uint8Array): string | undefined {
  if (actual.length !== expected.length) return `${actual.length} mask bytes, expected ${expected.length}`;
  const at: number[] = [];
  let count = 0;
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      count++;
      if (at.length < 8) at.push(i);
    }
  }
  return count === 0 ? undefined : `${count} of ${expected.length} positions differ, first at flat index ${at.join(', ')}`;
}

export const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

// ------------------------------------------------------------------------------------------------
// Element values, decoded here (little-endian analysed bytes).
// ------------------------------------------------------------------------------------------------

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** The elements of little-endian `bytes` of a float dtype as numbers. */
export function floatsOf(bytes: Uint8Array, dtype: DType): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = elementSize(dtype);
  const out = new Float64Array(bytes.length / size);
  const scratch = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < out.length; i++) {
    if (dtype === 'float32') out[i] = view.getFloat32(4 * i, true);
    else if (dtype === 'float64') out[i] = view.getFloat64(8 * i, true);
    else if (dtype === 'float16') out[i] = halfToFloat(view.getUint16(2 * i, true));
    else if (dtype === 'bfloat16') {
      scratch.setUint32(0, view.getUint16(2 * i, true) * 0x10000);
      out[i] = scratch.getFloat32(0);
    } else throw new Error(`not a float dtype: ${dtype}`);
  }
  return out;
}

export function elementSize(dtype: DType): number {
  const sizes: Partial<Record<DType, number>> = { float32: 4, float64: 8, float16: 2, bfloat16: 2 };
  const size = sizes[dtype];
  if (!size) throw new Error(`not a float dtype: ${dtype}`);
  return size;
}

/**
 * Checks `after` (a pruned tensor's analysed bytes) against `before` and `keep` (1 = keep):
 * kept elements bit-identical, pruned ones a zero of their own sign (every byte 0 but the sign
 * bit, which is the input's). Returns what is wrong, or undefined.
 */
export function prunedAsMasked(before: Uint8Array, after: Uint8Array, dtype: DType, keep: Uint8Array): string | undefined {
  const size = elementSize(dtype);
  if (before.length !== after.length || before.length !== keep.length * size)
    return `${before.length} / ${after.length} bytes for ${keep.length} elements`;
  for (let i = 0; i < keep.length; i++) {
    for (let j = 0; j < size; j++) {
      const [x, y] = [before[i * size + j], after[i * size + j]];
      const expected = keep[i] ? x : j === size - 1 ? x & 0x80 : 0;
      if (y !== expected) return `element ${i} (${keep[i] ? 'kept' : 'pruned'}): byte ${j} is ${y}, expected ${expected}`;
    }
  }
  return undefined;
}

/** Element strides of a C-order shape. */
function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

/**
 * ASP's N:M rule checked on a written tensor without a mask: in every group of M consecutive
 * elements along `inAxis` (every other index fixed), each element is kept bit for bit or is a zero
 * of its own sign; the non-zeros left are min(N, the group's non-zeros before); and no pruned
 * |w| exceeds a kept one (NaN above every number). Returns what is wrong, or undefined.
 */
export function followsNm(
  before: Uint8Array,
  after: Uint8Array,
  dtype: DType,
  shape: readonly number[],
  inAxis: number,
  n: number,
  m: number,
): string | undefined {
  const size = elementSize(dtype);
  const [x, y] = [floatsOf(before, dtype), floatsOf(after, dtype)];
  const numel = shape.reduce((a, d) => a * d, 1);
  if (x.length !== numel || y.length !== numel) return `${x.length} / ${y.length} elements for shape [${shape.join(', ')}]`;
  const strides = stridesOf(shape);
  const inStride = strides[inAxis];
  const ins = shape[inAxis];
  if (ins % m !== 0) return `${ins} inputs do not split into groups of ${m}`;
  const magnitude = (v: number) => (Number.isNaN(v) ? Infinity : Math.abs(v));
  let groups = 0;
  for (let first = 0; first < numel; first++) {
    // The first element of a group: its index along inAxis is a multiple of m.
    if ((Math.floor(first / inStride) % ins) % m !== 0) continue;
    groups++;
    let nonZeroBefore = 0;
    let nonZeroAfter = 0;
    let minKept = Infinity;
    let maxPruned = -Infinity;
    for (let c = 0; c < m; c++) {
      const i = first + c * inStride;
      const same = before.subarray(i * size, (i + 1) * size).every((b, j) => after[i * size + j] === b);
      const signedZero = after.subarray(i * size, (i + 1) * size).every((b, j) => b === (j === size - 1 ? before[i * size + j] & 0x80 : 0));
      if (!same && !signedZero) return `element ${i} is neither kept bit for bit nor a zero of its own sign`;
      if (x[i] !== 0) nonZeroBefore++;
      if (y[i] !== 0) {
        nonZeroAfter++;
        minKept = Math.min(minKept, magnitude(x[i]));
      } else if (x[i] !== 0) maxPruned = Math.max(maxPruned, magnitude(x[i]));
    }
    if (nonZeroAfter !== Math.min(n, nonZeroBefore))
      return `the group at element ${first} keeps ${nonZeroAfter} non-zeros of ${nonZeroBefore}, expected ${Math.min(n, nonZeroBefore)}`;
    if (maxPruned > minKept) return `the group at element ${first} prunes |w| = ${maxPruned} and keeps |w| = ${minKept}`;
  }
  return groups * m === numel ? undefined : `${groups} groups of ${m} in ${numel} elements`;
}

// ------------------------------------------------------------------------------------------------
// Byte ranges of stored tensors.
// ------------------------------------------------------------------------------------------------

/** A byte range [start, end) of a file. */
export interface FileRange {
  readonly file: string;
  readonly start: number;
  readonly end: number;
}

/**
 * The file bytes holding a tensor's stored values, as its reader recorded them: a range, a stored
 * zip member's bytes in the archive, an ONNX payload (each field when split); through a byte swap,
 * its source; for a torch.nn.utils.prune pair, the mask's (the orig never changes). A deflated
 * member has no archive range: it throws.
 */
export function storedRanges(stored: StoredTensor): FileRange[] {
  switch (stored.kind) {
    case 'range':
      return [{ file: stored.file, start: stored.offset, end: stored.offset + stored.length }];
    case 'zipMember':
      if (stored.compression !== 'stored') throw new Error(`${stored.member} is deflated: no byte range in the archive`);
      return [{ file: stored.archive, start: stored.dataOffset + stored.offset, end: stored.dataOffset + stored.offset + stored.length }];
    case 'onnxField':
      if (!stored.fields) return [{ file: stored.file, start: stored.offset, end: stored.offset + stored.length }];
      return stored.fields.starts.map((s, i) => ({ file: stored.file, start: s, end: stored.fields!.ends[i] }));
    case 'derived':
      if (stored.op === 'byteSwap') return storedRanges(stored.from);
      if (stored.op === 'prunePair') return storedRanges(stored.mask.stored);
      throw new Error(`no plain byte range for a derived ${stored.op} tensor`);
    default:
      throw new Error(`no plain byte range for a ${stored.kind} tensor`);
  }
}

/** The bytes of `ranges` (all in one file) read from `bytes`, concatenated. */
export function bytesOfRanges(bytes: Uint8Array, ranges: readonly FileRange[]): Uint8Array {
  return Buffer.concat(ranges.map((r) => bytes.subarray(r.start, r.end)));
}

/**
 * Where `a` and `b` (equal length) differ outside `allowed` ([start, end) ranges): the first few
 * offsets, or undefined when every differing byte lies inside one.
 */
export function differencesOutside(a: Uint8Array, b: Uint8Array, allowed: readonly { start: number; end: number }[]): string | undefined {
  if (a.length !== b.length) return `${a.length} bytes against ${b.length}`;
  const outside: number[] = [];
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i] || allowed.some((s) => s.start <= i && i < s.end)) continue;
    count++;
    if (outside.length < 8) outside.push(i);
  }
  return count === 0 ? undefined : `${count} bytes differ outside the pruned payloads, first at offsets ${outside.join(', ')}`;
}

// ------------------------------------------------------------------------------------------------
// A zip directory walker of its own (APPNOTE 4.3), zip64 and data descriptors included.
// ------------------------------------------------------------------------------------------------

export interface ZipListing {
  readonly name: string;
  readonly flags: number;
  readonly method: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
  readonly dataOffset: number;
  /** The CRC-32 fields that hold a value: central header, data descriptor, and the local header's unless it defers to the descriptor. */
  readonly crcFields: { readonly at: number; readonly value: number }[];
  /** Archive offsets of every CRC-32 field of the member (4 bytes each), held or deferred. */
  readonly crcOffsets: number[];
}

/** The members of the zip archive `bytes`, in central directory order. */
export function listZip(bytes: Uint8Array): ZipListing[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = bytes.length - 22;
  while (end >= 0 && view.getUint32(end, true) !== 0x06054b50) end--;
  if (end < 0) throw new Error('no end of central directory record');
  let count = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  if (end >= 20 && view.getUint32(end - 20, true) === 0x07064b50) {
    const record = Number(view.getBigUint64(end - 20 + 8, true));
    if (view.getUint32(record, true) !== 0x06064b50) throw new Error('no zip64 end record where the locator points');
    count = Number(view.getBigUint64(record + 32, true));
    offset = Number(view.getBigUint64(record + 48, true));
  }
  const members: ZipListing[] = [];
  for (let i = 0, at = offset; i < count; i++) {
    if (view.getUint32(at, true) !== 0x02014b50) throw new Error(`no central header at ${at}`);
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const centralCrc = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let uncompressedSize = view.getUint32(at + 24, true);
    const [nameLength, extraLength, commentLength] = [28, 30, 32].map((o) => view.getUint16(at + o, true));
    let localHeaderOffset = view.getUint32(at + 42, true);
    const name = Buffer.from(bytes.subarray(at + 46, at + 46 + nameLength)).toString('utf8');
    // The zip64 extra field holds, in order, the fields whose 32-bit value is 0xffffffff.
    for (let e = at + 46 + nameLength; e + 4 <= at + 46 + nameLength + extraLength;) {
      const [id, size] = [view.getUint16(e, true), view.getUint16(e + 2, true)];
      if (id === 0x0001) {
        let f = e + 4;
        const next = () => Number(view.getBigUint64((f += 8) - 8, true));
        if (uncompressedSize === 0xffffffff) uncompressedSize = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      e += 4 + size;
    }
    const local = localHeaderOffset;
    if (view.getUint32(local, true) !== 0x04034b50) throw new Error(`no local header for ${name} at ${local}`);
    const dataOffset = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const crcFields = [{ at: at + 16, value: centralCrc }];
    const crcOffsets = [at + 16, local + 14];
    const localCrc = view.getUint32(local + 14, true);
    if (!(flags & 0x0008) || localCrc !== 0) crcFields.push({ at: local + 14, value: localCrc });
    if (flags & 0x0008) {
      const descriptor = dataOffset + compressedSize;
      const crcAt = view.getUint32(descriptor, true) === 0x08074b50 ? descriptor + 4 : descriptor;
      crcFields.push({ at: crcAt, value: view.getUint32(crcAt, true) });
      crcOffsets.push(crcAt);
    }
    members.push({ name, flags, method, compressedSize, uncompressedSize, localHeaderOffset, dataOffset, crcFields, crcOffsets });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return members;
}

/** A member's uncompressed bytes (stored or deflated). */
export function zipMemberData(bytes: Uint8Array, member: ZipListing): Uint8Array {
  const raw = bytes.subarray(member.dataOffset, member.dataOffset + member.compressedSize);
  if (member.method === 0) return raw;
  if (member.method === 8) return inflateRawSync(raw);
  throw new Error(`${member.name}: compression method ${member.method}`);
}

/** What is wrong with a member's sizes and CRC-32 fields against its bytes, or undefined. */
export function zipMemberProblem(bytes: Uint8Array, member: ZipListing): string | undefined {
  const data = zipMemberData(bytes, member);
  if (data.length !== member.uncompressedSize) return `${member.name}: ${data.length} bytes, the directory says ${member.uncompressedSize}`;
  const crc = crc32(data);
  const wrong = member.crcFields.find((f) => f.value !== crc);
  return wrong ? `${member.name}: the CRC-32 field at ${wrong.at} holds ${wrong.value}, the bytes' is ${crc}` : undefined;
}
