import type { DType } from './dtype';
import { printable } from './errors';

/**
 * How a tensor's analysed bytes were obtained from its file(s), exactly enough to invert: a
 * writer that prunes values can put them back changing only the bytes this names (and, for zip
 * members, the sizes and CRC-32 that cover them). Readers fill it; `storageNote` turns it into
 * the line a user sees when the analysed values are not the stored bytes as they are.
 */
export type StoredTensor = StoredBytes | DerivedTensor;

/** The byte order of multi-byte elements as the file holds them. */
export type ByteOrder = 'little' | 'big';

/** Stored bytes read as they are (before any derivation). */
export type StoredBytes = StoredRange | StoredRanges | StoredZipMember | StoredOnnxField | { readonly kind: 'empty' };

/** Plain bytes in a file: safetensors, .npy, legacy torch storages, TF.js weights within one file. */
export interface StoredRange {
  readonly kind: 'range';
  readonly file: string;
  readonly offset: number;
  readonly length: number;
  readonly byteOrder: ByteOrder;
}

/** Bytes that run on from the end of one file into the next (a TF.js weight crossing weight files), in order. */
export interface StoredRanges {
  readonly kind: 'ranges';
  readonly parts: readonly StoredRange[];
}

/**
 * Bytes inside a zip member (.npz arrays, torch zip storage records): `offset` and `length` count
 * in the member's uncompressed bytes. A stored member's bytes are at `dataOffset + offset` in the
 * archive; a deflated one was inflated in memory. Changing them means rewriting the member's
 * CRC-32 (and, when deflated, its compressed bytes and sizes) in both zip headers.
 */
export interface StoredZipMember {
  readonly kind: 'zipMember';
  readonly archive: string;
  readonly member: string;
  readonly compression: 'stored' | 'deflate';
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
  /** Archive offset of the member's first (compressed) byte. */
  readonly dataOffset: number;
  readonly offset: number;
  readonly length: number;
  readonly byteOrder: ByteOrder;
}

/** TensorProto fields that hold ONNX tensor data. */
export type OnnxDataField = 'raw_data' | 'float_data' | 'double_data' | 'int32_data' | 'int64_data' | 'uint64_data';

/**
 * An ONNX TensorProto's data. Encodings: `raw`, raw_data (or external data, which is raw_data kept
 * in another file), the little-endian element bytes; `fixed`, float_data / double_data, also
 * little-endian element bytes, packed in one field or one value per field; `varint`, int32_data /
 * int64_data / uint64_data varints, decoded into memory. `offset` and `length` are the payload's
 * bytes in `file`; when the values are split over several fields, `fields` lists every payload
 * ([starts[i], ends[i]) in file order), `offset` is the first one's start and `length` their total.
 */
export interface StoredOnnxField {
  readonly kind: 'onnxField';
  /** The model, or for external data the external file. */
  readonly file: string;
  readonly field: OnnxDataField;
  readonly encoding: 'raw' | 'fixed' | 'varint';
  readonly offset: number;
  readonly length: number;
  readonly fields?: { readonly starts: readonly number[]; readonly ends: readonly number[] };
  /** Set for external data: the model naming it and the location as the model writes it. */
  readonly external?: { readonly model: string; readonly location: string };
}

/** The integer types shifted values are stored in, one size up so value − zero point never wraps. */
export type ShiftedDType = 'int8' | 'int16' | 'int32' | 'int64';

/** A tensor taking part in a torch.nn.utils.prune pair. */
export interface PrunePairPart {
  readonly name: string;
  readonly dtype: DType;
  readonly stored: StoredTensor;
}

/** Analysed values computed from stored ones in memory. */
export type DerivedTensor =
  /** Each element's bytes reversed (`unit` bytes per swap; 1 changes nothing). */
  | { readonly kind: 'derived'; readonly op: 'byteSwap'; readonly unit: number; readonly from: StoredTensor }
  /** Column-major elements of `itemSize` bytes copied into C order (NumPy fortran_order, the tensor's own shape). */
  | { readonly kind: 'derived'; readonly op: 'fortranOrder'; readonly itemSize: number; readonly from: StoredTensor }
  /** A strided view gathered into C order: element strides relative to the first byte of `from`. */
  | {
      readonly kind: 'derived';
      readonly op: 'stridedView';
      readonly itemSize: number;
      readonly shape: readonly number[];
      readonly strides: readonly number[];
      readonly from: StoredTensor;
    }
  /** ONNX 4-bit integers (two per byte, the first in the low nibble) unpacked to one int8 each. */
  | { readonly kind: 'derived'; readonly op: 'unpackInt4'; readonly signed: boolean; readonly from: StoredTensor }
  /**
   * Quantized integers re-based to value − zero point in `shiftedTo`, so zero means zero. One zero
   * point for the whole tensor (`axis` absent), or `zeroPoints[c]` along `axis`. Without
   * `shiftedTo` the zero point is 0 and the stored values are analysed as they are.
   */
  | {
      readonly kind: 'derived';
      readonly op: 'zeroPoint';
      /** The stored type as the format names it ("uint8", "int4", "qint8"). */
      readonly typeName: string;
      readonly storedDType: DType | 'int4' | 'uint4';
      readonly shiftedTo?: ShiftedDType;
      readonly zeroPoints: readonly number[];
      readonly axis?: number;
      readonly from: StoredTensor;
    }
  /** torch.nn.utils.prune's effective weight, orig × mask, rounded once to orig's dtype. */
  | { readonly kind: 'derived'; readonly op: 'prunePair'; readonly orig: PrunePairPart; readonly mask: PrunePairPart }
  /**
   * TF.js affine quantization decoded as tfjs-core does: code × scale + min (float32: rounded to
   * float32; int32: Math.round). `zeroCode` is the code that decodes to exactly 0, if any.
   */
  | {
      readonly kind: 'derived';
      readonly op: 'dequantize';
      readonly codes: 'uint8' | 'uint16';
      readonly scale: number;
      readonly min: number;
      readonly to: 'float32' | 'int32';
      readonly zeroCode: number | undefined;
      readonly from: StoredTensor;
    }
  /** TF.js float16 quantization of a float32 weight: the stored halves analysed as they are (each is exactly a float32). */
  | { readonly kind: 'derived'; readonly op: 'float16Quantization'; readonly from: StoredTensor }
  /**
   * A constant fan-in weight stored condensed (`sparsity-lens condense`, SRigL's layout): the `k`
   * non-zeros of each active output row (`values` [rows, k], in the weight's dtype), their
   * columns (`indices` [rows, k], int16 or int32, ascending within a row) and the rows
   * (`activeRows` [rows], int32, ascending), expanded to the dense weight with +0.0 elsewhere.
   */
  | {
      readonly kind: 'derived';
      readonly op: 'condensed';
      readonly k: number;
      readonly values: StoredTensor;
      readonly indices: StoredTensor;
      readonly activeRows: StoredTensor;
    };

export type DerivedOp = DerivedTensor['op'];

/**
 * The line shown beside a tensor whose analysed values are not its stored bytes as they are
 * ("byte-swapped from big-endian", "uint8, zero = zero point 128"), or undefined when they are.
 * Steps are named from the first applied to the last, separated by "; " (a NumPy Fortran-order
 * transpose follows the byte swap after a comma).
 */
export function storageNote(stored: StoredTensor): string | undefined {
  let note = '';
  for (const step of derivationSteps(stored)) {
    const phrase = phraseOf(step);
    note = note === '' ? phrase : `${note}${step.op === 'fortranOrder' ? ', ' : '; '}${phrase}`;
  }
  return note === '' ? undefined : note;
}

/** The derivations of `stored`, the first applied first (a prune pair's or a condensed layer's own parts are not followed). */
function derivationSteps(stored: StoredTensor): DerivedTensor[] {
  const steps: DerivedTensor[] = [];
  let s = stored;
  while (s.kind === 'derived') {
    steps.unshift(s);
    if (s.op === 'prunePair' || s.op === 'condensed') break;
    s = s.from;
  }
  return steps;
}

function phraseOf(step: DerivedTensor): string {
  switch (step.op) {
    case 'byteSwap':
      return 'byte-swapped from big-endian';
    case 'fortranOrder':
      return 'transposed from Fortran order';
    case 'stridedView':
      return 'non-contiguous view, gathered';
    case 'unpackInt4':
      return `${step.signed ? 'int4' : 'uint4'}, unpacked to int8`;
    case 'zeroPoint':
      if (!step.shiftedTo) return `${step.typeName}, zero point 0`;
      return step.axis === undefined
        ? `${step.typeName}, zero = zero point ${step.zeroPoints[0]}`
        : `${step.typeName}, zero = per-channel zero point (axis ${step.axis})`;
    case 'prunePair':
      // The parts' names come from the file: escaped, so the note is one printable line.
      return `effective weight = ${printable(lastPart(step.orig.name))} × ${printable(lastPart(step.mask.name))}`;
    case 'dequantize': {
      const how = `dequantized from ${step.codes} (v × scale + min)`;
      return step.zeroCode === undefined
        ? `${how}; 0 is not representable: no weight decodes to exactly 0`
        : `${how}; 0 = code ${step.zeroCode}`;
    }
    case 'float16Quantization':
      return 'stored as float16 (TF.js quantization of a float32 weight)';
    case 'condensed':
      return `condensed: k = ${step.k} per active row, expanded`;
  }
}

/** The last dotted part of a state_dict name ("fc1.weight_orig" → "weight_orig"). */
function lastPart(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

/** Bytes [offset, offset + length) of a plain range or zip member, counted from its own start. */
export function sliceOf<T extends StoredRange | StoredZipMember>(bytes: T, offset: number, length: number): T {
  return { ...bytes, offset: bytes.offset + offset, length };
}

/**
 * Where stored bytes lie, comparable across tensors: a file range (a stored zip member's bytes
 * counted in the archive, where a damaged directory can make members overlap), or a range of a
 * deflated member's uncompressed bytes.
 */
export interface StoredPlace {
  readonly file: string;
  readonly member: string;
  readonly start: number;
  readonly end: number;
}

/** Every place a stored form reads, in order (a prune pair's orig, then its mask). */
export function storedPlaces(stored: StoredTensor): StoredPlace[] {
  switch (stored.kind) {
    case 'range':
      return [{ file: stored.file, member: '', start: stored.offset, end: stored.offset + stored.length }];
    case 'ranges':
      return stored.parts.flatMap(storedPlaces);
    case 'zipMember':
      return stored.compression === 'stored'
        ? [
            {
              file: stored.archive,
              member: '',
              start: stored.dataOffset + stored.offset,
              end: stored.dataOffset + stored.offset + stored.length,
            },
          ]
        : [{ file: stored.archive, member: stored.member, start: stored.offset, end: stored.offset + stored.length }];
    case 'onnxField': {
      const { starts, ends } = stored.fields ?? { starts: [stored.offset], ends: [stored.offset + stored.length] };
      return starts.map((start, i) => ({ file: stored.file, member: '', start, end: ends[i] }));
    }
    case 'empty':
      return [];
    case 'derived':
      if (stored.op === 'prunePair') return [...storedPlaces(stored.orig.stored), ...storedPlaces(stored.mask.stored)];
      if (stored.op === 'condensed') return [stored.values, stored.indices, stored.activeRows].flatMap(storedPlaces);
      return storedPlaces(stored.from);
  }
}
