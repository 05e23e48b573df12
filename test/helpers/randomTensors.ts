import { writeFileSync } from 'node:fs';
import type { TensorSource } from '../../src/core/checkpoint';
import { DTYPE_BITS, type DType } from '../../src/core/dtype';
import { seededRandom } from './random';

/** -0.0, NaN, +Inf and -Inf (where the dtype has them) as little-endian element bytes. */
export const SPECIAL_VALUES: Partial<Record<DType, number[][]>> = {
  float32: [
    [0, 0, 0, 0x80],
    [0, 0, 0xc0, 0x7f],
    [0, 0, 0x80, 0x7f],
    [0, 0, 0x80, 0xff],
  ],
  float64: [
    [0, 0, 0, 0, 0, 0, 0, 0x80],
    [0, 0, 0, 0, 0, 0, 0xf8, 0x7f],
    [0, 0, 0, 0, 0, 0, 0xf0, 0x7f],
    [0, 0, 0, 0, 0, 0, 0xf0, 0xff],
  ],
  float16: [
    [0, 0x80],
    [0, 0x7e],
    [0, 0x7c],
    [0, 0xfc],
  ],
  bfloat16: [
    [0, 0x80],
    [0xc0, 0x7f],
    [0x80, 0x7f],
    [0x80, 0xff],
  ],
  float8_e4m3fn: [[0x80], [0x7f], [0xff]],
  float8_e5m2: [[0x80], [0x7f], [0x7c], [0xfc]],
  float8_e4m3fnuz: [[0x80]],
  float8_e5m2fnuz: [[0x80]],
  float8_e8m0: [[0xff]],
  // (NaN, 1), (+Inf, NaN), (-0, -0), (-Inf, 0)
  complex64: [
    [0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x3f],
    [0, 0, 0x80, 0x7f, 0, 0, 0xc0, 0x7f],
    [0, 0, 0, 0x80, 0, 0, 0, 0x80],
    [0, 0, 0x80, 0xff, 0, 0, 0, 0],
  ],
  complex128: [
    [0, 0, 0, 0, 0, 0, 0xf8, 0x7f, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f],
    [0, 0, 0, 0, 0, 0, 0xf0, 0x7f, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f],
    [0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x80],
  ],
};

export interface RandomBytesOptions {
  /** Share of elements left zero. */
  readonly zeros?: number;
  /** Share of elements set to one of SPECIAL_VALUES (where the dtype has them). */
  readonly specials?: number;
  /** Magnitudes from a small set (either sign), so that ranking weights has to break ties. */
  readonly fewValues?: boolean;
}

/** Random element bytes of `dtype`: zeros, special values, and random bit patterns (or a few values). */
export function randomTensorBytes(dtype: DType, numel: number, seed: number, options: RandomBytesOptions = {}): Uint8Array {
  const { zeros = 0.4, specials: specialShare = 0.1, fewValues = false } = options;
  const rnd = seededRandom(seed);
  const bits = DTYPE_BITS[dtype];
  if (bits === 4) return Uint8Array.from({ length: Math.ceil(numel / 2) }, () => (rnd() < zeros ? 0 : Math.floor(rnd() * 256)));
  const size = bits / 8;
  const bytes = new Uint8Array(numel * size);
  const specials = SPECIAL_VALUES[dtype] ?? [];
  const palette = Array.from({ length: 3 }, () => Array.from({ length: size }, () => Math.floor(rnd() * 256)));
  for (let i = 0; i < numel; i++) {
    const r = rnd();
    const at = i * size;
    if (r < zeros) continue;
    if (r < zeros + specialShare && specials.length) bytes.set(specials[Math.floor(rnd() * specials.length)], at);
    else if (fewValues) {
      bytes.set(palette[Math.floor(rnd() * palette.length)], at);
      if (rnd() < 0.5) bytes[at + size - 1] ^= 0x80; // same magnitude, other sign
    } else for (let b = 0; b < size; b++) bytes[at + b] = Math.floor(rnd() * 256);
  }
  return bytes;
}

/** The same bytes inline, and as a range of `file` at an odd offset with other bytes around it. */
export function inlineAndFile(bytes: Uint8Array, file: string): TensorSource[] {
  const offset = 13;
  writeFileSync(file, Buffer.concat([Buffer.alloc(offset, 0xab), bytes, Buffer.alloc(5, 0xcd)]));
  return [
    { kind: 'inline', bytes },
    { kind: 'file', path: file, offset, length: bytes.length },
  ];
}
