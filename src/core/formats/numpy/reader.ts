import * as nodePath from 'node:path';
import { type Checkpoint, type SkippedTensor, type TensorEntry } from '../../checkpoint';
import { DerivedBytesBudget } from '../../derivedBytes';
import { byteSwapUnit, swapBytes, type DType } from '../../dtype';
import { fortranStrides, gatherStrided } from '../../stridedCopy';
import { CheckpointError, isCheckpointError } from '../../errors';
import type { RandomAccessFile } from '../../randomAccessFile';
import { roleByName } from '../../roles/rolesByName';
import { sliceOf, storageNote, type StoredRange, type StoredTensor, type StoredZipMember } from '../../storedTensor';
import { LiteralError, parsePythonLiteral, type PyValue } from './pythonLiteral';
import { looksLikeZip, memberSource, METHOD_DEFLATE, METHOD_STORED, readZipDirectory, storedZipMember, type ZipEntry } from '../shared/zip';

/** `\x93NUMPY`, then the major and minor version bytes. */
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
/** Magic, version and the shortest (2-byte) header length field. */
const NPY_PREAMBLE_V1 = 10;
const NPY_PREAMBLE_V2 = 12;
/** numpy refuses headers over 10000 bytes by default; structured dtypes can be longer, none this long. */
const MAX_NPY_HEADER = 1 << 20;

export function looksLikeNpy(head: Uint8Array): boolean {
  return head.length >= NPY_MAGIC.length && NPY_MAGIC.every((b, i) => head[i] === b);
}

/**
 * A NumPy file: one `.npy` array, or an `.npz` zip of `<name>.npy` members. Everything held in
 * memory (inflated members, byte swaps, Fortran order) shares `budget`.
 */
export async function readNumpy(file: RandomAccessFile, budget = new DerivedBytesBudget()): Promise<Checkpoint> {
  const path = file.path;
  if (file.size === 0) throw new CheckpointError(path, 'empty', 'the file is empty');
  const head = await file.read(0, Math.min(file.size, NPY_MAGIC.length));
  const read = looksLikeNpy(head) ? readNpy : looksLikeZip(head) ? readNpz : undefined;
  if (read) return budget.keepingScratch(() => read(file, budget));
  if (file.size < NPY_MAGIC.length) throw new CheckpointError(path, 'truncated', `only ${file.size} bytes: too short for a NumPy file`, 0);
  throw new CheckpointError(
    path,
    'corrupt',
    'not a NumPy file: it starts with neither the .npy magic \\x93NUMPY nor a zip (.npz) signature',
    0,
  );
}

// ---------------------------------------------------------------------------------------------
// .npy

interface NpyHeader {
  readonly version: string;
  readonly descr: string;
  readonly dtype: DType;
  readonly itemSize: number;
  readonly bigEndian: boolean;
  readonly fortranOrder: boolean;
  readonly shape: number[];
  /** Offset of the array data from the start of the .npy bytes. */
  readonly dataStart: number;
  readonly dataLength: number;
}

/** Where an .npy stream lives: the whole file, a stored zip member, or inflated bytes. */
interface NpyBytes {
  /** Size of the .npy stream in bytes. */
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Absolute file offset of the stream's first byte, when it is a file range (for messages). */
  readonly fileOffset?: number;
  /** Where kernels can read the stream's bytes: a range of the file, or of the scratch file an inflated member went to. */
  readonly readable?: { readonly path: string; readonly offset: number };
  /** How messages name the stream inside the file, e.g. `member "fc1.weight.npy"`. */
  readonly label?: string;
  /** Where the stream is stored: the whole file, or a zip member. */
  readonly stored: StoredRange | StoredZipMember;
}

async function readNpy(file: RandomAccessFile, budget: DerivedBytesBudget): Promise<Checkpoint> {
  const bytes: NpyBytes = {
    size: file.size,
    read: (offset, length) => file.read(offset, length),
    fileOffset: 0,
    readable: { path: file.path, offset: 0 },
    stored: { kind: 'range', file: file.path, offset: 0, length: file.size, byteOrder: 'little' },
  };
  const header = await readNpyHeader(file.path, bytes);
  const name = nodePath.basename(file.path).replace(/\.npy$/i, '');
  const made = await makeTensor(name, header, bytes, budget);
  return {
    file: file.path,
    format: 'numpy',
    tensors: 'tensor' in made ? [made.tensor] : [],
    metadata: { 'npy version': header.version, descr: header.descr },
    skipped: 'skipped' in made ? [made.skipped] : [],
  };
}

async function readNpyHeader(path: string, npy: NpyBytes): Promise<NpyHeader> {
  const where = npy.label ? `${npy.label}: ` : '';
  const at = (relative: number) => (npy.fileOffset === undefined ? undefined : npy.fileOffset + relative);
  const fail = (problem: CheckpointError['problem'], detail: string, offset?: number) =>
    new CheckpointError(path, problem, `${where}${detail}`, offset === undefined ? undefined : at(offset));

  if (npy.size < NPY_PREAMBLE_V1) throw fail('truncated', `only ${npy.size} bytes: the .npy preamble needs ${NPY_PREAMBLE_V1}`, 0);
  const preamble = await npy.read(0, Math.min(npy.size, NPY_PREAMBLE_V2));
  if (!looksLikeNpy(preamble)) throw fail('corrupt', 'no .npy magic \\x93NUMPY', 0);
  const major = preamble[6];
  const minor = preamble[7];
  if (![1, 2, 3].includes(major) || minor !== 0)
    throw fail('unsupported', `.npy format version ${major}.${minor} is not supported (1.0, 2.0 and 3.0 are)`, 6);
  const view = new DataView(preamble.buffer, preamble.byteOffset, preamble.byteLength);
  let headerStart = NPY_PREAMBLE_V1;
  let headerLength: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
  } else {
    if (npy.size < NPY_PREAMBLE_V2)
      throw fail('truncated', `only ${npy.size} bytes: the .npy ${major}.0 preamble needs ${NPY_PREAMBLE_V2}`, 0);
    headerLength = view.getUint32(8, true);
    headerStart = NPY_PREAMBLE_V2;
  }
  if (headerStart + headerLength > npy.size) {
    throw fail('truncated', `the .npy header length ${headerLength} runs past the end of the ${npy.size} bytes`, 8);
  }
  if (headerLength > MAX_NPY_HEADER) throw fail('corrupt', `the .npy header length ${headerLength} is implausibly large`, 8);
  const headerBytes = await npy.read(headerStart, headerLength);
  // Versions 1 and 2 store the header as latin-1, version 3 as UTF-8.
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes);

  let literal: PyValue;
  try {
    literal = parsePythonLiteral(text);
  } catch (e) {
    if (e instanceof LiteralError)
      throw fail('corrupt', `the .npy header is not a plain Python literal: ${e.message}`, headerStart + e.position);
    throw e;
  }
  if (!(literal instanceof Map)) throw fail('corrupt', 'the .npy header is not a dict', headerStart);
  const keys = [...literal.keys()].sort();
  if (keys.join() !== 'descr,fortran_order,shape') {
    throw fail(
      'corrupt',
      `the .npy header must have exactly the keys descr, fortran_order and shape, not ${keys.join(', ') || 'none'}`,
      headerStart,
    );
  }
  const descr = literal.get('descr');
  const fortranOrder = literal.get('fortran_order');
  const shape = literal.get('shape');
  if (typeof fortranOrder !== 'boolean') throw fail('corrupt', 'fortran_order in the .npy header is not True or False', headerStart);
  if (!Array.isArray(shape) || !shape.every((d): d is number => typeof d === 'number')) {
    throw fail('corrupt', 'shape in the .npy header is not a tuple of integers', headerStart);
  }
  if (Array.isArray(descr)) throw fail('unsupported', 'structured (record) arrays are not supported', headerStart);
  if (typeof descr !== 'string') throw fail('corrupt', 'descr in the .npy header is not a string', headerStart);
  const type = dtypeOfDescr(descr);
  if (typeof type === 'string')
    throw fail('unsupported', `dtype descr '${descr}' is not supported${type ? ` (${type})` : ''}`, headerStart);

  const dataStart = headerStart + headerLength;
  let numel = 1;
  for (const d of shape) numel *= d;
  const dataLength = numel * type.itemSize;
  if (!Number.isSafeInteger(dataLength)) throw fail('corrupt', `shape (${shape.join(', ')}) is absurdly large`, headerStart);
  const available = npy.size - dataStart;
  if (dataLength !== available) {
    throw fail(
      dataLength > available ? 'truncated' : 'corrupt',
      `shape (${shape.join(', ')}) of ${descr} needs ${dataLength} bytes of data but ${available} follow the header`,
      dataStart,
    );
  }
  return {
    version: `${major}.${minor}`,
    descr,
    dtype: type.dtype,
    itemSize: type.itemSize,
    bigEndian: type.bigEndian,
    fortranOrder,
    shape,
    dataStart,
    dataLength,
  };
}

const DESCR_TYPES: Readonly<Record<string, DType>> = {
  b1: 'bool',
  i1: 'int8',
  i2: 'int16',
  i4: 'int32',
  i8: 'int64',
  u1: 'uint8',
  u2: 'uint16',
  u4: 'uint32',
  u8: 'uint64',
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
  c8: 'complex64',
  c16: 'complex128',
};

const DESCR_KIND_NAMES: Readonly<Record<string, string>> = {
  V: 'raw void bytes, as ml_dtypes writes bfloat16 and float8',
  O: 'Python objects, which would need unpickling',
  U: 'unicode strings',
  S: 'byte strings',
  M: 'datetimes',
  m: 'timedeltas',
  f: 'extended-precision floats',
  c: 'extended-precision complex numbers',
};

/** The dtype of a descr such as '<f4', or why it cannot be analysed. */
function dtypeOfDescr(descr: string): { dtype: DType; itemSize: number; bigEndian: boolean } | string {
  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(descr);
  if (!m) return '';
  const [, order, kind, size] = m;
  const dtype = DESCR_TYPES[kind + size];
  if (!dtype) return DESCR_KIND_NAMES[kind] ?? '';
  const itemSize = Number(size);
  // '=' is the writer's native order; numpy itself always writes '<' or '>'. Little-endian assumed.
  return { dtype, itemSize, bigEndian: order === '>' && itemSize > 1 };
}

/**
 * One tensor from a parsed .npy stream: a file range when the bytes can be analysed as stored,
 * else bytes materialized in C order and little-endian, within the memory budget shared by
 * all tensors of the file (inflated members, byte swaps, Fortran order).
 */
async function makeTensor(
  name: string,
  header: NpyHeader,
  npy: NpyBytes,
  budget: DerivedBytesBudget,
): Promise<{ tensor: TensorEntry } | { skipped: SkippedTensor }> {
  const role = roleByName(name, header.shape);
  const transpose = header.fortranOrder && header.shape.length >= 2;
  const swap = header.bigEndian;
  const base = { name, dtype: header.dtype, shape: header.shape, ...role };
  const data = sliceOf({ ...npy.stored, byteOrder: swap ? 'big' : 'little' }, header.dataStart, header.dataLength);
  if (!transpose && !swap && npy.readable) {
    return {
      tensor: {
        ...base,
        source: { kind: 'file', path: npy.readable.path, offset: npy.readable.offset + header.dataStart, length: header.dataLength },
        stored: data,
      },
    };
  }
  const swapped: StoredTensor = swap ? { kind: 'derived', op: 'byteSwap', unit: byteSwapUnit(header.dtype), from: data } : data;
  const stored: StoredTensor = transpose ? { kind: 'derived', op: 'fortranOrder', itemSize: header.itemSize, from: swapped } : swapped;
  // Members inflated into memory are there already; a byte swap works in place, a transpose needs a copy.
  for (const cost of [npy.readable === undefined ? 0 : header.dataLength, transpose ? header.dataLength : 0]) {
    const refused = cost > 0 ? budget.reserve(cost) : undefined;
    if (refused) return { skipped: { name, reason: `its values would have to be ${storageNote(stored)} in memory, which ${refused}` } };
  }
  const values = await npy.read(header.dataStart, header.dataLength);
  if (swap) swapBytes(values, byteSwapUnit(header.dtype));
  const bytes = transpose ? gatherStrided(values, header.itemSize, header.shape, fortranStrides(header.shape)) : values;
  return { tensor: { ...base, source: { kind: 'inline', bytes }, stored } };
}

// ---------------------------------------------------------------------------------------------
// .npz

async function readNpz(file: RandomAccessFile, budget: DerivedBytesBudget): Promise<Checkpoint> {
  const path = file.path;
  const entries = await readZipDirectory(file);
  const members = entries.filter((e) => !e.name.endsWith('/'));
  const arrays = members.filter((e) => e.name.endsWith('.npy'));
  if (members.length > 0 && arrays.length === 0) {
    const torch = members.some((e) => /(^|\/)data\.pkl$/.test(e.name));
    throw new CheckpointError(
      path,
      'unsupported',
      torch
        ? 'this zip archive holds data.pkl, not .npy arrays: it is a PyTorch checkpoint (give it a .pt extension)'
        : 'this zip archive holds no .npy arrays, so it is not an .npz file',
    );
  }
  const tensors: TensorEntry[] = [];
  const skipped: SkippedTensor[] = [];
  const names = new Set<string>();
  for (const entry of members) {
    if (!entry.name.endsWith('.npy')) {
      skipped.push({ name: entry.name, reason: 'not a .npy member' });
      continue;
    }
    const name = entry.name.slice(0, -'.npy'.length);
    if (names.has(name)) {
      skipped.push({ name, reason: 'a second member with the same name' });
      continue;
    }
    names.add(name);
    const made = await readNpzMember(file, entry, name, budget);
    if ('tensor' in made) tensors.push(made.tensor);
    else skipped.push(made.skipped);
  }
  const methods = [
    ...new Set(arrays.map((e) => (e.method === METHOD_STORED ? 'stored' : e.method === METHOD_DEFLATE ? 'deflate' : `method ${e.method}`))),
  ];
  return {
    file: path,
    format: 'numpy',
    tensors,
    metadata: { 'npz members': `${arrays.length} (${methods.join(', ') || 'none'})` },
    skipped,
  };
}

async function readNpzMember(
  file: RandomAccessFile,
  entry: ZipEntry,
  name: string,
  budget: DerivedBytesBudget,
): Promise<{ tensor: TensorEntry } | { skipped: SkippedTensor }> {
  const path = file.path;
  const label = `member "${entry.name}"`;
  if (entry.encrypted) return { skipped: { name, reason: 'the zip member is encrypted' } };
  if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATE) {
    return { skipped: { name, reason: `zip compression method ${entry.method} is not supported` } };
  }
  const member = storedZipMember(path, entry);
  const npy = await npyOfMember(file, entry, budget, label, member);
  if ('skipped' in npy) return { skipped: { name, reason: npy.skipped } };
  let header: NpyHeader;
  try {
    header = await readNpyHeader(path, npy);
  } catch (e) {
    // One array of a type we cannot analyse should not hide the others.
    if (isCheckpointError(e) && e.problem === 'unsupported') return { skipped: { name, reason: e.detail.replace(`${label}: `, '') } };
    throw e;
  }
  return makeTensor(name, header, npy, budget);
}

/** A member's .npy stream: a range of the archive (stored), or inflated into memory or the scratch file (deflated, within the budget). */
async function npyOfMember(
  file: RandomAccessFile,
  entry: ZipEntry,
  budget: DerivedBytesBudget,
  label: string,
  member: StoredZipMember,
): Promise<NpyBytes | { skipped: string }> {
  const source = await memberSource(file, entry, budget);
  if (source.kind === 'skipped') return { skipped: source.reason };
  if (source.kind === 'inline') {
    return {
      size: source.bytes.length,
      read: async (offset, length) => source.bytes.subarray(offset, offset + length),
      label,
      stored: member,
    };
  }
  return {
    size: source.length,
    read: (offset, length) => budget.read(file, source.path, source.offset + offset, length),
    ...(source.path === file.path ? { fileOffset: source.offset } : {}),
    readable: { path: source.path, offset: source.offset },
    label,
    stored: member,
  };
}
