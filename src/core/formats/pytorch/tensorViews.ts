import { setFloat16 } from '@petamoriken/float16';
import { numelOf, type TensorSource } from '../../checkpoint';
import { SCRATCH_PIECE_BYTES, type DerivedBytesBudget } from '../../derivedBytes';
import { alignedBytes, byteSwapUnit, decodeToFloat64, itemSize as itemSizeOf, swapBytes, type DType } from '../../dtype';
import { CheckpointError } from '../../errors';
import type { RandomAccessFile } from '../../randomAccessFile';
import { gatherStrided, gatherStridedPieces } from '../../stridedCopy';
import { sliceOf, type ShiftedDType, type StoredRange, type StoredTensor, type StoredZipMember } from '../../storedTensor';
import { shiftByZeroPoints } from '../shared/zeroPointShift';
import { storageItemSize, StorageType, TorchTensor, type Quantization, type StorageRef } from './torchGlobals';

/**
 * Turns the (storage, offset, size, stride) of a torch tensor into bytes the kernels can scan.
 * Offsets and strides count elements, so a tensor can be a view of part of a storage that other
 * tensors share. A contiguous little-endian view is a file range; anything whose values must be
 * computed (a gathered strided view, a byte swap, a zero-point shift) is materialized in memory
 * within the checkpoint's DerivedBytesBudget, with a note saying how.
 */

/** Elements decoded at a time when computing derived values: bounds the float64 scratch memory. */
const CHUNK_ELEMENTS = 1 << 20;

/**
 * Where a storage's bytes are: a file range (stored records), memory (deflated records), or
 * nowhere because reading them would pass the memory budget (`skipped`, with the reason).
 */
export type StorageBytes =
  | {
      readonly kind: 'file';
      /** The checkpoint's file, or the scratch file a deflated record was inflated into. */
      readonly path: string;
      readonly offset: number;
      readonly length: number;
      readonly stored: StoredRange | StoredZipMember;
    }
  | { readonly kind: 'inline'; readonly bytes: Uint8Array; readonly stored: StoredZipMember }
  | { readonly kind: 'skipped'; readonly reason: string };

export interface StorageLocator {
  readonly file: RandomAccessFile;
  /** Storage bytes are big-endian (zip `byteorder` record "big", legacy sys_info). */
  readonly bigEndian: boolean;
  /** The record holding a storage, as `data/<key>` or a legacy key; throws a CheckpointError when missing. */
  locate(ref: StorageRef): Promise<StorageBytes>;
  /** How a storage is named in errors ("data/3"). */
  describe(ref: StorageRef): string;
  /** Memory for everything materialized while opening this checkpoint. */
  readonly budget: DerivedBytesBudget;
}

export interface ResolvedTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly source: TensorSource;
  readonly stored: StoredTensor;
}

/** Why a tensor is listed apart instead of analysed. */
export class NotAnalysed {
  constructor(readonly reason: string) {}
}

export function isStorageRef(value: unknown): value is StorageRef {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as StorageRef).type instanceof StorageType &&
    typeof (value as StorageRef).key === 'string'
  );
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function isCountList(x: unknown): x is number[] {
  return Array.isArray(x) && x.every(isCount);
}

/** Resolves one tensor of the pickle, validating its arguments against its storage. */
export async function resolveTensor(name: string, tensor: TorchTensor, locator: StorageLocator): Promise<ResolvedTensor | NotAnalysed> {
  const path = locator.file.path;
  const bad = (detail: string) => new CheckpointError(path, 'corrupt', `tensor "${name}": ${detail}`);
  const storage = tensor.storage;
  if (!isStorageRef(storage)) throw bad(`${tensor.rebuiltBy} was not given a storage`);
  const typeName = tensor.dtype?.quantized ?? tensor.dtype?.name ?? storage.type.quantized ?? storage.type.name;
  const dtype = tensor.dtype ? tensor.dtype.dtype : storage.type.dtype;
  if (dtype === undefined) return new NotAnalysed(`element type ${typeName} is not supported`);
  const { storageOffset: offset, size, stride } = tensor;
  if (!isCount(offset)) throw bad('the storage offset is not a non-negative integer');
  if (!isCountList(size)) throw bad('the size is not a list of non-negative integers');
  if (!isCountList(stride) || stride.length !== size.length) throw bad(`the stride does not match the size [${size.join(', ')}]`);
  const itemSize = itemSizeOf(dtype);
  const numel = numelOf(size);
  if (!Number.isSafeInteger(numel * itemSize)) throw bad(`shape [${size.join(', ')}] is too large`);

  // Elements of this tensor's dtype that the storage holds, as its persistent id declares them.
  const declaredBytes = storage.numel * storageItemSize(storage.type);
  const located = await locator.locate(storage);
  if (located.kind === 'skipped') return new NotAnalysed(located.reason);
  const recordBytes = located.kind === 'file' ? located.length : located.bytes.length;
  if (recordBytes < declaredBytes) {
    throw new CheckpointError(
      path,
      'truncated',
      `storage ${locator.describe(storage)} holds ${recordBytes} bytes but its tensors declare ${storage.numel} elements of ${storage.type.name} (${declaredBytes} bytes)`,
    );
  }
  const capacity = Math.floor(declaredBytes / itemSize);
  let last = offset;
  for (let d = 0; d < size.length; d++) if (size[d] > 0) last += (size[d] - 1) * stride[d];
  if (numel > 0 && last >= capacity) {
    throw new CheckpointError(
      path,
      'corrupt',
      `tensor "${name}" [${size.join(', ')}] at offset ${offset} with strides [${stride.join(', ')}] needs element ${last} of storage ${locator.describe(storage)}, which holds ${capacity} ${dtype} elements`,
    );
  }

  const quantization = tensor.quantization;
  if (tensor.rebuiltBy === '_rebuild_qtensor' && !quantization)
    return new NotAnalysed(`quantized (${typeName}) with quantizer parameters that are not understood`);
  // torch.save keeps an expand()ed tensor as its small storage; its values repeat along the
  // stride-0 axes, and copying them out could take far more memory than the file holds.
  const expandedAxis = size.findIndex((d, i) => d > 1 && stride[i] === 0);
  if (expandedAxis >= 0) return new NotAnalysed(`an expanded view (stride 0 along dimension ${expandedAxis} of [${size.join(', ')}])`);
  const contiguous = isContiguous(size, stride);
  const outDType = quantization ? shiftedDType(dtype) : dtype;
  const needsBytes =
    !contiguous || locator.bigEndian || located.kind === 'inline' || (quantization !== undefined && !zeroPointIsZero(quantization));
  const record = { ...located.stored, byteOrder: locator.bigEndian ? 'big' : 'little' } as const;
  if (!needsBytes) {
    const source: TensorSource = { kind: 'file', path: located.path, offset: located.offset + offset * itemSize, length: numel * itemSize };
    const range = sliceOf(record, offset * itemSize, numel * itemSize);
    if (!quantization) return { dtype, shape: size, source, stored: range };
    return {
      dtype,
      shape: size,
      source,
      stored: { kind: 'derived', op: 'zeroPoint', typeName, storedDType: dtype, zeroPoints: [0], from: range },
    };
  }

  const shifts = quantization !== undefined && !zeroPointIsZero(quantization);
  const spanElements = numel === 0 ? 0 : last - offset + 1;
  // Each copy made below: the span read from the file, the gathered or swapped copy, the shifted values.
  const copies = [
    located.kind === 'file' ? spanElements * itemSize : 0,
    !contiguous || (locator.bigEndian && located.kind === 'inline') ? numel * itemSize : 0,
    shifts ? numel * itemSizeOf(outDType) : 0,
  ];
  for (const bytes of copies) {
    const refused = bytes > 0 ? locator.budget.reserve(bytes) : undefined;
    if (refused)
      return new NotAnalysed(
        `its values must be computed in memory (${describeWhy(contiguous, locator.bigEndian, quantization)}), which ${refused}`,
      );
  }
  const span =
    located.kind === 'inline'
      ? located.bytes.subarray(offset * itemSize, (offset + spanElements) * itemSize)
      : await locator.budget.read(locator.file, located.path, located.offset + offset * itemSize, spanElements * itemSize);
  const view: StoredTensor = {
    kind: 'derived',
    op: 'stridedView',
    itemSize,
    shape: size,
    strides: stride,
    from: sliceOf(record, offset * itemSize, spanElements * itemSize),
  };
  // A large gathered view with nothing more to do goes to the scratch file piece by piece, never whole in memory.
  const scratch = !contiguous && !locator.bigEndian && !shifts ? await locator.budget.scratchFor(numel * itemSize) : undefined;
  if (scratch) {
    const start = scratch.size;
    for (const piece of gatherStridedPieces(span, itemSize, size, stride, SCRATCH_PIECE_BYTES)) await scratch.append(piece);
    return { dtype, shape: size, source: { kind: 'file', path: scratch.path, offset: start, length: numel * itemSize }, stored: view };
  }
  // A contiguous range of a decompressed record is used in place unless the swap below would change it.
  let bytes = !contiguous
    ? gatherStrided(span, itemSize, size, stride)
    : locator.bigEndian
      ? span.slice(0, numel * itemSize)
      : span.subarray(0, numel * itemSize);
  let stored: StoredTensor = !contiguous ? view : sliceOf(record, offset * itemSize, numel * itemSize);
  if (locator.bigEndian) {
    swapBytes(bytes, byteSwapUnit(dtype));
    stored = { kind: 'derived', op: 'byteSwap', unit: byteSwapUnit(dtype), from: stored };
  }
  if (quantization) {
    const shifted = await rebaseQuantized(name, bytes, dtype, size, quantization, locator);
    if (shifted instanceof NotAnalysed) return shifted;
    bytes = shifted.bytes;
    stored = {
      kind: 'derived',
      op: 'zeroPoint',
      typeName,
      storedDType: dtype,
      shiftedTo: shiftedDType(dtype),
      zeroPoints: shifted.zeroPoints,
      ...shifted.axis,
      from: stored,
    };
  }
  return { dtype: outDType, shape: size, source: { kind: 'inline', bytes }, stored };
}

function describeWhy(contiguous: boolean, bigEndian: boolean, quantization: Quantization | undefined): string {
  return [!contiguous && 'a non-contiguous view', bigEndian && 'big-endian bytes', quantization && 'a zero point']
    .filter(Boolean)
    .join(', ');
}

/** C order, ignoring dimensions of size 1 (their stride is arbitrary). */
function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] === 0) return true;
    if (size[d] !== 1 && stride[d] !== expected) return false;
    expected *= size[d];
  }
  return true;
}

/** The values the stored integer types of quantized tensors can hold. */
const STORED_RANGES: Partial<Record<DType, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int32: [-(2 ** 31), 2 ** 31 - 1],
};

function shiftedDType(stored: DType): ShiftedDType {
  return stored === 'int32' ? 'int64' : 'int16';
}

function zeroPointIsZero(q: Quantization): boolean {
  return q.scheme === 'per_tensor' && q.zeroPoint === 0;
}

/**
 * Quantized values equal to the zero point stand for 0, so they are re-based to `value - zero
 * point` in a wider integer type (int16 for 8-bit, int64 for 32-bit) and zero means zero again.
 */
async function rebaseQuantized(
  name: string,
  bytes: Uint8Array,
  dtype: DType,
  size: readonly number[],
  q: Quantization,
  locator: StorageLocator,
): Promise<{ bytes: Uint8Array; zeroPoints: number[]; axis: { axis?: number } } | NotAnalysed> {
  const numel = numelOf(size);
  let zeroPoints: Float64Array;
  let inner = numel;
  let axis: { axis?: number } = {};
  if (q.scheme === 'per_tensor') {
    zeroPoints = Float64Array.of(q.zeroPoint);
  } else {
    if (!Number.isSafeInteger(q.axis) || q.axis < 0 || q.axis >= size.length) {
      throw new CheckpointError(
        locator.file.path,
        'corrupt',
        `tensor "${name}": quantization axis ${q.axis} is outside its ${size.length} dimensions`,
      );
    }
    inner = numelOf(size.slice(q.axis + 1));
    const read = await numbersOf(`tensor "${name}" zero points`, q.zeroPoints, size[q.axis], locator);
    if (read instanceof NotAnalysed) return read;
    zeroPoints = read;
    axis = { axis: q.axis };
  }
  if (!zeroPoints.every(Number.isInteger))
    return new NotAnalysed('quantized with non-integer zero points (no stored value is exactly zero)');
  // torch refuses zero points its stored type cannot hold; shifting by one would wrap silently.
  const [low, high] = STORED_RANGES[dtype] ?? [-Infinity, Infinity];
  const outside = zeroPoints.find((z) => z < low || z > high);
  if (outside !== undefined) {
    throw new CheckpointError(
      locator.file.path,
      'corrupt',
      `tensor "${name}": zero point ${outside} is outside the range ${low}..${high} of its stored ${dtype} values`,
    );
  }
  const itemSize = itemSizeOf(dtype);
  const bytesOut = await shiftByZeroPoints(numel, shiftedDType(dtype), zeroPoints, inner, (first, count) =>
    decodeToFloat64(dtype, alignedBytes(bytes.subarray(first * itemSize, (first + count) * itemSize), itemSize), count),
  );
  return { bytes: bytesOut, zeroPoints: Array.from(zeroPoints), axis };
}

/** The `count` values of a small tensor (per-channel zero points) or a list of numbers, as float64. */
async function numbersOf(what: string, value: unknown, count: number, locator: StorageLocator): Promise<Float64Array | NotAnalysed> {
  const wrongCount = (n: number) => new CheckpointError(locator.file.path, 'corrupt', `${what}: ${n} values for ${count} channels`);
  if (Array.isArray(value) && value.every((v) => typeof v === 'number')) {
    if (value.length !== count) throw wrongCount(value.length);
    return Float64Array.from(value as number[]);
  }
  if (!(value instanceof TorchTensor)) {
    throw new CheckpointError(locator.file.path, 'corrupt', `${what} are neither a tensor nor a list of numbers`);
  }
  const resolved = await resolveTensor(what, value, locator);
  if (resolved instanceof NotAnalysed) return resolved;
  const n = numelOf(resolved.shape);
  if (n !== count) throw wrongCount(n); // checked before reading: the count bounds the read
  return decodeToFloat64(
    resolved.dtype,
    alignedBytes(await bytesOf(resolved, locator.file, locator.budget), itemSizeOf(resolved.dtype)),
    n,
  );
}

/** A resolved tensor's bytes in memory (reads a file range; the caller bounds the size). */
export async function bytesOf(tensor: ResolvedTensor, file: RandomAccessFile, budget: DerivedBytesBudget): Promise<Uint8Array> {
  const source = tensor.source;
  return source.kind === 'inline' ? source.bytes : budget.read(file, source.path, source.offset, source.length);
}

const PRODUCT_DTYPES = new Set<DType>(['float32', 'float64', 'float16', 'bfloat16']);

/**
 * torch.nn.utils.prune keeps `X_orig` and `X_mask`; the module computes X = orig × mask on
 * every forward. The product is computed here exactly as torch does for floats: each product of
 * two values of the type is exact in float64, then rounded once to the type.
 */
export async function effectiveWeight(
  orig: ResolvedTensor,
  mask: ResolvedTensor,
  file: RandomAccessFile,
  budget: DerivedBytesBudget,
): Promise<{ dtype: DType; bytes: Uint8Array } | NotAnalysed> {
  if (orig.shape.length !== mask.shape.length || orig.shape.some((d, i) => d !== mask.shape[i])) {
    return new NotAnalysed(`its mask has shape [${mask.shape.join(', ')}], not [${orig.shape.join(', ')}]`);
  }
  if (!PRODUCT_DTYPES.has(orig.dtype)) return new NotAnalysed(`orig × mask is only computed for floating-point weights, not ${orig.dtype}`);
  const numel = numelOf(orig.shape);
  const outSize = itemSizeOf(orig.dtype);
  const refused = budget.reserve(numel * outSize);
  if (refused) return new NotAnalysed(`orig × mask ${refused}`);
  const out = new Uint8Array(numel * outSize);
  for (let first = 0; first < numel; first += CHUNK_ELEMENTS) {
    const count = Math.min(CHUNK_ELEMENTS, numel - first);
    const a = decodeToFloat64(orig.dtype, await elementsOf(orig, file, budget, first, count), count);
    const b = decodeToFloat64(mask.dtype, await elementsOf(mask, file, budget, first, count), count);
    for (let i = 0; i < count; i++) a[i] *= b[i];
    out.set(encodeFloats(a, orig.dtype), first * outSize);
  }
  return { dtype: orig.dtype, bytes: out };
}

/** Elements [first, first + count) of a resolved tensor, aligned for typed-array views. */
async function elementsOf(
  tensor: ResolvedTensor,
  file: RandomAccessFile,
  budget: DerivedBytesBudget,
  first: number,
  count: number,
): Promise<Uint8Array> {
  const size = itemSizeOf(tensor.dtype);
  const source = tensor.source;
  if (source.kind === 'file') return budget.read(file, source.path, source.offset + first * size, count * size);
  // Typed-array views need element-aligned offsets; bytes inside a decompressed record may not be.
  return alignedBytes(source.bytes.subarray(first * size, (first + count) * size), size);
}

function encodeFloats(values: Float64Array, dtype: DType): Uint8Array {
  switch (dtype) {
    case 'float64':
      return new Uint8Array(values.buffer.slice(0));
    case 'float32':
      return new Uint8Array(Float32Array.from(values).buffer);
    case 'float16': {
      const out = new DataView(new ArrayBuffer(values.length * 2));
      for (let i = 0; i < values.length; i++) setFloat16(out, i * 2, values[i], true);
      return new Uint8Array(out.buffer);
    }
    default: {
      // bfloat16: round the float32 bits to nearest even (products of bfloat16s are exact in float32).
      const f = Float32Array.from(values);
      const u = new Uint32Array(f.buffer);
      const out = new Uint16Array(values.length);
      for (let i = 0; i < u.length; i++) {
        const x = u[i];
        out[i] = (x & 0x7f800000) === 0x7f800000 && x & 0x7fffff ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
      }
      return new Uint8Array(out.buffer);
    }
  }
}
