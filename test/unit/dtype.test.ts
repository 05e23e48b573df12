import { strict as assert } from 'node:assert';
import { ALL_DTYPES, decodeToFloat64, DTYPE_BITS, markNonZero, type DType } from '../../src/core/dtype';

function nonZeros(dtype: DType, bytes: number[], count = bytes.length / (DTYPE_BITS[dtype] / 8)): number[] {
  const out = new Uint8Array(count);
  markNonZero(dtype, new Uint8Array(bytes), count, out);
  return Array.from(out);
}

describe('dtype: zero tests on bit patterns', () => {
  it('float32: +0 and -0 are zero; NaN, Inf and the smallest subnormal are not', () => {
    const f = new Float32Array([0, -0, NaN, Infinity, 1.4e-45, -1]);
    assert.deepEqual(nonZeros('float32', Array.from(new Uint8Array(f.buffer))), [0, 0, 1, 1, 1, 1]);
  });

  it('float64: -0 is zero, a value in the low word only is not', () => {
    const f = new Float64Array([0, -0, 5e-324, NaN]);
    assert.deepEqual(nonZeros('float64', Array.from(new Uint8Array(f.buffer))), [0, 0, 1, 1]);
  });

  it('float16 and bfloat16: 0x0000 and 0x8000 are zero, 0x0001 and NaN are not', () => {
    const patterns = [0x0000, 0x8000, 0x0001, 0x7e00, 0x3c00];
    const bytes = patterns.flatMap((p) => [p & 0xff, p >> 8]);
    assert.deepEqual(nonZeros('float16', bytes), [0, 0, 1, 1, 1]);
    assert.deepEqual(nonZeros('bfloat16', bytes), [0, 0, 1, 1, 1]);
  });

  it('float8 e4m3fn / e5m2: 0x00 and 0x80 are zero; FNUZ: 0x80 is NaN, not zero', () => {
    assert.deepEqual(nonZeros('float8_e4m3fn', [0x00, 0x80, 0x01, 0x7f]), [0, 0, 1, 1]);
    assert.deepEqual(nonZeros('float8_e5m2', [0x00, 0x80, 0x01, 0x7c]), [0, 0, 1, 1]);
    assert.deepEqual(nonZeros('float8_e4m3fnuz', [0x00, 0x80, 0x01]), [0, 1, 1]);
    assert.deepEqual(nonZeros('float8_e5m2fnuz', [0x00, 0x80, 0x01]), [0, 1, 1]);
    assert.deepEqual(nonZeros('float8_e8m0', [0x00, 0x7f]), [1, 1], 'e8m0 has no zero');
  });

  it('float4 e2m1: two per byte, low nibble first, 0x8 is -0', () => {
    assert.deepEqual(nonZeros('float4_e2m1', [0x80, 0x21], 4), [0, 0, 1, 1]);
  });

  it('integers and bool: only 0 is zero', () => {
    assert.deepEqual(nonZeros('int8', [0, 0x80, 1]), [0, 1, 1]);
    assert.deepEqual(nonZeros('bool', [0, 1]), [0, 1]);
    assert.deepEqual(nonZeros('int16', [0, 0, 0, 0x80]), [0, 1]);
    assert.deepEqual(nonZeros('int32', [0, 0, 0, 0, 0, 0, 0, 0x80]), [0, 1]);
    assert.deepEqual(nonZeros('int64', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]), [0, 1], 'high word counts');
  });

  it('decoding: float8 specials and limits', () => {
    const decode = (dtype: DType, bytes: number[]) => Array.from(decodeToFloat64(dtype, new Uint8Array(bytes), bytes.length));
    assert.deepEqual(decode('float8_e4m3fn', [0x7e, 0xfe, 0x01, 0x38]), [448, -448, 2 ** -9, 1]);
    assert.ok(Number.isNaN(decode('float8_e4m3fn', [0x7f])[0]));
    assert.deepEqual(decode('float8_e5m2', [0x7b, 0x7c, 0xfc, 0x3c]), [57344, Infinity, -Infinity, 1]);
    assert.ok(Number.isNaN(decode('float8_e4m3fnuz', [0x80])[0]));
    assert.deepEqual(decode('float8_e8m0', [127, 128]), [1, 2]);
    assert.deepEqual(Array.from(decodeToFloat64('float4_e2m1', new Uint8Array([0xf7]), 2)), [6, -6], 'low nibble first');
  });

  it('decoding: float16 and bfloat16', () => {
    const bytes = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001]).buffer);
    assert.deepEqual(Array.from(decodeToFloat64('float16', bytes, 4)), [1, -2, 65504, 2 ** -24]);
    const bf = new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer);
    assert.deepEqual(Array.from(decodeToFloat64('bfloat16', bf, 2)), [1, -3]);
  });

  it('every dtype has a zero test and a decoder: all-zero bytes are zeros (e8m0 has none)', () => {
    for (const dtype of ALL_DTYPES) {
      const size = Math.max(1, DTYPE_BITS[dtype] / 8);
      const bytes = new Uint8Array(size * 2);
      const out = new Uint8Array(2).fill(7); // a dtype without a case would leave the 7s
      markNonZero(dtype, bytes, 2, out);
      const decoded = Array.from(decodeToFloat64(dtype, bytes, 2));
      if (dtype === 'float8_e8m0') {
        assert.deepEqual(Array.from(out), [1, 1], dtype);
        assert.deepEqual(decoded, [2 ** -127, 2 ** -127], dtype);
      } else {
        assert.deepEqual(Array.from(out), [0, 0], dtype);
        assert.deepEqual(decoded, [0, 0], dtype);
      }
    }
  });
});
