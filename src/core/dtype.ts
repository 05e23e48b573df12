import { getFloat16 } from '@petamoriken/float16';

/** Element types a checkpoint tensor can have. Names follow PyTorch's. */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'float8_e4m3fn'
  | 'float8_e5m2'
  | 'float8_e4m3fnuz'
  | 'float8_e5m2fnuz'
  | 'float8_e8m0'
  | 'float4_e2m1'
  | 'complex64'
  | 'complex128'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool';

/** Storage size of one element in bits (float4 packs two elements per byte). */
export const DTYPE_BITS: Readonly<Record<DType, number>> = {
  float32: 32,
  float64: 64,
  float16: 16,
  bfloat16: 16,
  float8_e4m3fn: 8,
  float8_e5m2: 8,
  float8_e4m3fnuz: 8,
  float8_e5m2fnuz: 8,
  float8_e8m0: 8,
  float4_e2m1: 4,
  complex64: 64,
  complex128: 128,
  int8: 8,
  uint8: 8,
  int16: 16,
  uint16: 16,
  int32: 32,
  uint32: 32,
  int64: 64,
  uint64: 64,
  bool: 8,
};

export const ALL_DTYPES = Object.keys(DTYPE_BITS) as DType[];

export function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(DTYPE_BITS, s);
}

/** Bytes that `numel` elements occupy when sub-byte elements are packed with padding (ONNX's 4-bit types). */
export function paddedByteLength(dtype: DType, numel: number): number {
  return Math.ceil((numel * DTYPE_BITS[dtype]) / 8);
}

/** Bytes that `numel` elements occupy; undefined when they do not fill whole bytes. */
export function byteLength(dtype: DType, numel: number): number | undefined {
  const bits = numel * DTYPE_BITS[dtype];
  return bits % 8 === 0 ? bits / 8 : undefined;
}

/**
 * Marks which of `count` elements in `bytes` are non-zero (1) or zero (0), writing into `out`.
 * Zero is tested on bit patterns: -0.0 is zero, NaN is not, and float8_e8m0 has no zero.
 * With `threshold` > 0 an element counts as zero when |value| <= threshold (NaN stays non-zero).
 * `bytes` must start at an element boundary and be aligned to the element size.
 */
export function markNonZero(dtype: DType, bytes: Uint8Array, count: number, out: Uint8Array, threshold = 0): void {
  if (threshold > 0) {
    const values = decodeToFloat64(dtype, bytes, count);
    for (let i = 0; i < count; i++) out[i] = Math.abs(values[i]) <= threshold ? 0 : 1;
    return;
  }
  const buf = bytes.buffer;
  const off = bytes.byteOffset;
  switch (dtype) {
    case 'float32': {
      const u = new Uint32Array(buf, off, count);
      for (let i = 0; i < count; i++) out[i] = (u[i] & 0x7fffffff) === 0 ? 0 : 1;
      return;
    }
    case 'complex64': {
      const u = new Uint32Array(buf, off, count * 2);
      for (let i = 0; i < count; i++) out[i] = ((u[2 * i] | u[2 * i + 1]) & 0x7fffffff) === 0 ? 0 : 1;
      return;
    }
    case 'float64': {
      const u = new Uint32Array(buf, off, count * 2);
      for (let i = 0; i < count; i++) out[i] = (u[2 * i] | (u[2 * i + 1] & 0x7fffffff)) === 0 ? 0 : 1;
      return;
    }
    case 'complex128': {
      const u = new Uint32Array(buf, off, count * 4);
      for (let i = 0; i < count; i++) {
        const j = 4 * i;
        out[i] = (u[j] | (u[j + 1] & 0x7fffffff) | u[j + 2] | (u[j + 3] & 0x7fffffff)) === 0 ? 0 : 1;
      }
      return;
    }
    case 'float16':
    case 'bfloat16': {
      const u = new Uint16Array(buf, off, count);
      for (let i = 0; i < count; i++) out[i] = (u[i] & 0x7fff) === 0 ? 0 : 1;
      return;
    }
    case 'float8_e4m3fn':
    case 'float8_e5m2':
      for (let i = 0; i < count; i++) out[i] = (bytes[i] & 0x7f) === 0 ? 0 : 1;
      return;
    case 'float8_e8m0':
      out.fill(1, 0, count);
      return;
    case 'float4_e2m1':
      // Two elements per byte, the first in the low nibble; the sign is the nibble's top bit.
      for (let i = 0; i < count; i++) {
        const nibble = i & 1 ? bytes[i >> 1] >> 4 : bytes[i >> 1];
        out[i] = (nibble & 0x7) === 0 ? 0 : 1;
      }
      return;
    case 'int8':
    case 'uint8':
    case 'bool':
    case 'float8_e4m3fnuz': // 0x80 is NaN in the FNUZ formats: only 0x00 is zero
    case 'float8_e5m2fnuz':
      for (let i = 0; i < count; i++) out[i] = bytes[i] === 0 ? 0 : 1;
      return;
    case 'int16':
    case 'uint16': {
      const u = new Uint16Array(buf, off, count);
      for (let i = 0; i < count; i++) out[i] = u[i] === 0 ? 0 : 1;
      return;
    }
    case 'int32':
    case 'uint32': {
      const u = new Uint32Array(buf, off, count);
      for (let i = 0; i < count; i++) out[i] = u[i] === 0 ? 0 : 1;
      return;
    }
    case 'int64':
    case 'uint64': {
      const u = new Uint32Array(buf, off, count * 2);
      for (let i = 0; i < count; i++) out[i] = (u[2 * i] | u[2 * i + 1]) === 0 ? 0 : 1;
      return;
    }
  }
}

function buildFloat8Table(decode: (b: number) => number): Float64Array {
  const t = new Float64Array(256);
  for (let b = 0; b < 256; b++) t[b] = decode(b);
  return t;
}

/** Decodes an 8-bit float with `expBits`/`manBits`, exponent bias `bias`, and the format's special values. */
function float8(b: number, expBits: number, manBits: number, bias: number, kind: 'fn' | 'ieee' | 'fnuz'): number {
  if (kind === 'fnuz' && b === 0x80) return NaN;
  const sign = b & 0x80 ? -1 : 1;
  const exp = (b >> manBits) & ((1 << expBits) - 1);
  const man = b & ((1 << manBits) - 1);
  const expMax = (1 << expBits) - 1;
  if (kind === 'ieee' && exp === expMax) return man === 0 ? sign * Infinity : NaN;
  if (kind === 'fn' && exp === expMax && man === (1 << manBits) - 1) return NaN;
  if (exp === 0) return sign * (man / (1 << manBits)) * 2 ** (1 - bias);
  return sign * (1 + man / (1 << manBits)) * 2 ** (exp - bias);
}

const FLOAT8_TABLES: Partial<Record<DType, Float64Array>> = {
  float8_e4m3fn: buildFloat8Table((b) => float8(b, 4, 3, 7, 'fn')),
  float8_e5m2: buildFloat8Table((b) => float8(b, 5, 2, 15, 'ieee')),
  float8_e4m3fnuz: buildFloat8Table((b) => float8(b, 4, 3, 8, 'fnuz')),
  float8_e5m2fnuz: buildFloat8Table((b) => float8(b, 5, 2, 16, 'fnuz')),
  float8_e8m0: buildFloat8Table((b) => (b === 0xff ? NaN : 2 ** (b - 127))),
};

const FLOAT4_VALUES = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

let float16Table: Float32Array | undefined;
function float16Values(): Float32Array {
  if (!float16Table) {
    float16Table = new Float32Array(65536);
    const view = new DataView(new ArrayBuffer(2));
    for (let h = 0; h < 65536; h++) {
      view.setUint16(0, h, true);
      float16Table[h] = getFloat16(view, 0, true);
    }
  }
  return float16Table;
}

/**
 * Decodes `count` elements to float64 (complex: magnitude; 64-bit integers: nearest double).
 * `bytes` must be aligned to the element size.
 */
export function decodeToFloat64(dtype: DType, bytes: Uint8Array, count: number): Float64Array {
  const buf = bytes.buffer;
  const off = bytes.byteOffset;
  const out = new Float64Array(count);
  switch (dtype) {
    case 'float32':
      out.set(new Float32Array(buf, off, count));
      break;
    case 'float64':
      out.set(new Float64Array(buf, off, count));
      break;
    case 'float16': {
      const u = new Uint16Array(buf, off, count);
      const table = float16Values();
      for (let i = 0; i < count; i++) out[i] = table[u[i]];
      break;
    }
    case 'bfloat16': {
      const u = new Uint16Array(buf, off, count);
      const f = new Float32Array(1);
      const fu = new Uint32Array(f.buffer);
      for (let i = 0; i < count; i++) {
        fu[0] = u[i] << 16;
        out[i] = f[0];
      }
      break;
    }
    case 'float8_e4m3fn':
    case 'float8_e5m2':
    case 'float8_e4m3fnuz':
    case 'float8_e5m2fnuz':
    case 'float8_e8m0': {
      const table = FLOAT8_TABLES[dtype]!;
      for (let i = 0; i < count; i++) out[i] = table[bytes[i]];
      break;
    }
    case 'float4_e2m1':
      for (let i = 0; i < count; i++) {
        const nibble = i & 1 ? bytes[i >> 1] >> 4 : bytes[i >> 1] & 0xf;
        out[i] = (nibble & 0x8 ? -1 : 1) * FLOAT4_VALUES[nibble & 0x7];
      }
      break;
    case 'complex64': {
      const f = new Float32Array(buf, off, count * 2);
      for (let i = 0; i < count; i++) out[i] = Math.hypot(f[2 * i], f[2 * i + 1]);
      break;
    }
    case 'complex128': {
      const f = new Float64Array(buf, off, count * 2);
      for (let i = 0; i < count; i++) out[i] = Math.hypot(f[2 * i], f[2 * i + 1]);
      break;
    }
    case 'int8':
      out.set(new Int8Array(buf, off, count));
      break;
    case 'uint8':
    case 'bool':
      out.set(bytes.subarray(0, count));
      break;
    case 'int16':
      out.set(new Int16Array(buf, off, count));
      break;
    case 'uint16':
      out.set(new Uint16Array(buf, off, count));
      break;
    case 'int32':
      out.set(new Int32Array(buf, off, count));
      break;
    case 'uint32':
      out.set(new Uint32Array(buf, off, count));
      break;
    case 'int64': {
      const v = new BigInt64Array(buf, off, count);
      for (let i = 0; i < count; i++) out[i] = Number(v[i]);
      break;
    }
    case 'uint64': {
      const v = new BigUint64Array(buf, off, count);
      for (let i = 0; i < count; i++) out[i] = Number(v[i]);
      break;
    }
  }
  return out;
}

/** Byte alignment typed-array views of this dtype need. */
export function elementAlignment(dtype: DType): number {
  const bits = DTYPE_BITS[dtype];
  if (dtype === 'complex64') return 4;
  if (dtype === 'complex128') return 8;
  return Math.max(1, bits / 8);
}

/** Bytes per element; fractional for packed sub-byte types (float4: 0.5). */
export function itemSize(dtype: DType): number {
  return DTYPE_BITS[dtype] / 8;
}

/** Bytes reversed by a byte-order swap: the element, or each half of a complex number. */
export function byteSwapUnit(dtype: DType): number {
  return dtype === 'complex64' || dtype === 'complex128' ? DTYPE_BITS[dtype] / 16 : Math.max(1, DTYPE_BITS[dtype] / 8);
}

/** Reverses the bytes of every `unit`-byte value in place (big-endian ↔ little-endian). */
export function swapBytes(bytes: Uint8Array, unit: number): void {
  if (unit <= 1) return;
  for (let at = 0; at + unit <= bytes.length; at += unit) {
    for (let a = at, b = at + unit - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/** `bytes` itself when typed arrays of `alignment`-byte elements can view it, else an aligned copy. */
export function alignedBytes(bytes: Uint8Array, alignment: number): Uint8Array {
  return bytes.byteOffset % Math.max(1, alignment) === 0 ? bytes : bytes.slice();
}
