import { numelOf, type SkippedTensor, type TensorSource } from '../../checkpoint';
import { type DerivedBytesBudget } from '../../derivedBytes';
import { alignedBytes, DTYPE_BITS, type DType } from '../../dtype';
import { OpenFiles, type RandomAccessFile } from '../../randomAccessFile';
import type { ShiftedDType, StoredTensor } from '../../storedTensor';
import { shiftByZeroPoints } from '../shared/zeroPointShift';
import type { ZeroPointUse } from './graphRoles';
import { MAX_ZERO_POINTS } from './limits';

/** ONNX's 4-bit integers, which have no DType: they are analysed unpacked to int8. */
export type PackedInt4 = 'int4' | 'uint4';
export type StoredType = DType | PackedInt4;

/** A tensor as stored in the model, before the graph says what it is. */
export interface ParsedTensor {
  readonly name: string;
  readonly dtype: StoredType;
  readonly shape: number[];
  readonly source: TensorSource;
  readonly stored: StoredTensor;
}

/** A parsed tensor ready to analyse: its values are the ones zero-tested, `stored` says how they were derived. */
export interface AnalysedTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: number[];
  readonly source: TensorSource;
  readonly stored: StoredTensor;
}

export function storedBits(type: StoredType): number {
  return type === 'int4' || type === 'uint4' ? 4 : DTYPE_BITS[type];
}

/** Reads byte ranges of tensor sources, opening external data files once each. */
export class SourceReader {
  private readonly files: OpenFiles;

  constructor(model: RandomAccessFile) {
    this.files = new OpenFiles([model]);
  }

  async read(source: TensorSource, offset: number, length: number): Promise<Uint8Array> {
    if (source.kind === 'inline') return source.bytes.subarray(offset, offset + length);
    return (await this.files.get(source.path)).read(source.offset + offset, length);
  }

  close(): Promise<void> {
    return this.files.close();
  }
}

/** Integer types whose "zero" can be a zero point, and what their shifted values are stored as. */
const SHIFTED: Partial<Record<StoredType, { wider: ShiftedDType; read: (bytes: Uint8Array, count: number) => ArrayLike<number> }>> = {
  int4: { wider: 'int8', read: (b, n) => unpack4(b, n, true) },
  uint4: { wider: 'int8', read: (b, n) => unpack4(b, n, false) },
  int8: { wider: 'int16', read: (b, n) => new Int8Array(b.buffer, b.byteOffset, n) },
  uint8: { wider: 'int16', read: (b, n) => b.subarray(0, n) },
  int16: { wider: 'int32', read: (b, n) => typedView(Int16Array, b, n) },
  uint16: { wider: 'int32', read: (b, n) => typedView(Uint16Array, b, n) },
  int32: { wider: 'int64', read: (b, n) => typedView(Int32Array, b, n) },
  uint32: { wider: 'int64', read: (b, n) => typedView(Uint32Array, b, n) },
};

/** `n` elements of `bytes` as a typed array (copied first when not aligned for it). */
function typedView<T>(
  Ctor: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number },
  bytes: Uint8Array,
  n: number,
): T {
  const a = alignedBytes(bytes, Ctor.BYTES_PER_ELEMENT);
  return new Ctor(a.buffer, a.byteOffset, n);
}

/**
 * The values to analyse for a stored tensor. A quantized tensor whose zero point is not 0 is
 * materialized as value − zero point in a wider integer type, since its "zero" is the zero point;
 * 4-bit integers are unpacked to int8. Everything else keeps its lazy source. Copies are taken
 * from `budget`, shared by the whole model: tensors over it are skipped with the reason.
 *
 * A zero point we cannot apply (not a constant, the wrong length for its axis, another type)
 * makes the tensor skipped with the reason rather than the whole model refused: the rest of the
 * model is still worth reporting, and counting the tensor's raw values would report wrong zeros.
 */
export async function analysedValues(
  t: ParsedTensor,
  use: ZeroPointUse | undefined,
  constants: ReadonlyMap<string, ParsedTensor>,
  reader: SourceReader,
  budget: DerivedBytesBudget,
): Promise<AnalysedTensor | SkippedTensor> {
  const skip = (why: string): SkippedTensor => ({ name: t.name, reason: why });
  const zeroPoint = use && (await zeroPointOf(t, use, constants, reader));
  if (typeof zeroPoint === 'string') return skip(zeroPoint);
  const packed = t.dtype === 'int4' || t.dtype === 'uint4';
  if (!zeroPoint && !packed) return t as AnalysedTensor;
  const shift = SHIFTED[t.dtype];
  if (!shift) return skip(`its ${use!.op} zero point is not 0, which is not analysed for ${t.dtype} values`);
  const numel = numelOf(t.shape);
  const bytes = (numel * DTYPE_BITS[shift.wider]) / 8;
  const refused = budget.reserve(bytes);
  if (refused) return skip(`${zeroPoint ? 'shifting it by its zero point' : `unpacking its ${t.dtype} values`} ${refused}`);
  const values = zeroPoint?.values ?? [0];
  const inner = zeroPoint?.axis === undefined ? numel : numelOf(t.shape.slice(zeroPoint.axis + 1));
  const bits = storedBits(t.dtype);
  const shifted = await shiftByZeroPoints(numel, shift.wider, values, inner, async (first, count) =>
    shift.read(await reader.read(t.source, (first * bits) / 8, Math.ceil((count * bits) / 8)), count),
  );
  const stored: StoredTensor = !zeroPoint
    ? { kind: 'derived', op: 'unpackInt4', signed: t.dtype === 'int4', from: t.stored }
    : {
        kind: 'derived',
        op: 'zeroPoint',
        typeName: t.dtype,
        storedDType: t.dtype,
        shiftedTo: shift.wider,
        zeroPoints: values,
        ...(zeroPoint.axis === undefined ? {} : { axis: zeroPoint.axis }),
        from: t.stored,
      };
  return { name: t.name, dtype: shift.wider, shape: t.shape, source: { kind: 'inline', bytes: shifted }, stored };
}

/**
 * The zero point's values, undefined when they are all 0 (nothing to shift), or the reason the
 * tensor cannot be analysed. `axis` is set for a per-axis zero point (more than one value).
 */
async function zeroPointOf(
  t: ParsedTensor,
  use: ZeroPointUse,
  constants: ReadonlyMap<string, ParsedTensor>,
  reader: SourceReader,
): Promise<{ values: number[]; axis?: number } | undefined | string> {
  const about = `its zero point ${JSON.stringify(use.zeroPoint)} (${use.op})`;
  const zp = constants.get(use.zeroPoint);
  if (!zp) return `${about} is not a constant of the model, so which values stand for zero is unknown`;
  if (zp.dtype !== t.dtype) return `${about} is ${zp.dtype} but the tensor is ${t.dtype}`;
  const count = numelOf(zp.shape);
  if (count === 0) return `${about} is empty`;
  if (count > MAX_ZERO_POINTS) return `${about} has ${count} values, more than this reader accepts for a zero point`;
  const readRaw = () => reader.read(zp.source, 0, Math.ceil((count * storedBits(zp.dtype)) / 8));
  if (use.problem) return (await readRaw()).every((b) => b === 0) ? undefined : `${about}: ${use.problem}`;
  const perAxis = count > 1;
  if (perAxis) {
    if (use.axis === undefined) {
      return use.opAxis === null
        ? `${about} has ${count} values but ${use.op} allows only one here`
        : `${about} has ${count} values but axis ${use.opAxis} does not fit its [${t.shape.join(', ')}] shape`;
    }
    if (count !== t.shape[use.axis] || zp.shape.filter((d) => d !== 1).length > 1) {
      return `${about} has shape [${zp.shape.join(', ')}] but the tensor has ${t.shape[use.axis]} values along axis ${use.axis}`;
    }
  }
  const raw = await readRaw();
  if (raw.every((b) => b === 0)) return undefined;
  const shift = SHIFTED[zp.dtype];
  if (!shift) return `${about} is not 0, which is not analysed for ${t.dtype} values`;
  const values = Array.from(shift.read(raw.slice(), count));
  return perAxis ? { values, axis: use.axis } : { values };
}

function unpack4(bytes: Uint8Array, count: number, signed: boolean): Int8Array {
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    const nibble = i % 2 === 0 ? bytes[i >> 1] & 0x0f : bytes[i >> 1] >> 4; // first element in the low nibble
    out[i] = signed && nibble >= 8 ? nibble - 16 : nibble;
  }
  return out;
}
