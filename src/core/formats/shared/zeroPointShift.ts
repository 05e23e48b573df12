import { DTYPE_BITS } from '../../dtype';
import type { ShiftedDType } from '../../storedTensor';

/** Elements read and shifted at a time: bounded scratch memory beside the output copy. */
const CHUNK = 1 << 20;

/**
 * Quantized weights whose "zero" is a zero point: computes value − zero point for each of `numel`
 * elements, as inline little-endian `wider` bytes, so zero means zero again for the kernels. One
 * zero point applies to the whole tensor, or `zeroPoints[c]` to each run of `inner` consecutive
 * elements of channel c, cycling over the channels (a per-axis zero point: `inner` is the element
 * count after the channel axis). `readChunk(first, count)` gives the stored values of a chunk.
 * Used by the ONNX and PyTorch readers.
 */
export async function shiftByZeroPoints(
  numel: number,
  wider: ShiftedDType,
  zeroPoints: ArrayLike<number>,
  inner: number,
  readChunk: (first: number, count: number) => Promise<ArrayLike<number>> | ArrayLike<number>,
): Promise<Uint8Array> {
  const out = new ArrayBuffer((numel * DTYPE_BITS[wider]) / 8);
  const write = writerOf(wider, out);
  let channel = 0;
  let left = inner;
  for (let first = 0; first < numel; first += CHUNK) {
    const count = Math.min(CHUNK, numel - first);
    const stored = await readChunk(first, count);
    for (let i = 0; i < count; i++) {
      write(first + i, stored[i] - zeroPoints[channel]);
      if (--left === 0) {
        left = inner;
        if (++channel === zeroPoints.length) channel = 0;
      }
    }
  }
  return new Uint8Array(out);
}

function writerOf(dtype: ShiftedDType, buffer: ArrayBuffer): (index: number, value: number) => void {
  switch (dtype) {
    case 'int8': {
      const a = new Int8Array(buffer);
      return (i, v) => (a[i] = v);
    }
    case 'int16': {
      const a = new Int16Array(buffer);
      return (i, v) => (a[i] = v);
    }
    case 'int32': {
      const a = new Int32Array(buffer);
      return (i, v) => (a[i] = v);
    }
    case 'int64': {
      const a = new BigInt64Array(buffer);
      return (i, v) => (a[i] = BigInt(v));
    }
  }
}
