import { endianness } from 'node:os';
import type { ByteOrder } from '../storedTensor';

/**
 * Pruned weights as zeros of their own sign, over the float types pruning takes (2, 4 or 8 bytes
 * an element). Both loops run over every weight of a tensor, so they work on 16- or 32-bit words
 * where the bytes are aligned (one masked store a weight instead of a byte loop), else byte by
 * byte; the results are the same.
 */

const HOST_LITTLE = endianness() === 'LE';

/**
 * The 16- or 32-bit words of `bytes` for elements of `size` bytes, when aligned on this
 * (little-endian) host. Signed 32-bit words: their values stay small integers to the engine,
 * where unsigned ones past 2^31 would be boxed.
 */
function wordsOf(bytes: Uint8Array, size: number): Uint16Array | Int32Array | undefined {
  if (!HOST_LITTLE) return undefined;
  if (size === 2 && bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
  if ((size === 4 || size === 8) && bytes.byteOffset % 4 === 0) return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
  return undefined;
}

/** For each of an element's words (of `wordsOf`), the bits that hold its sign when it is stored in `order`. */
function signBits(size: number, order: ByteOrder): readonly number[] {
  if (size === 2) return [order === 'little' ? 0x8000 : 0x0080];
  if (size === 4) return [order === 'little' ? 0x80000000 | 0 : 0x00000080];
  return order === 'little' ? [0, 0x80000000 | 0] : [0x00000080, 0];
}

/**
 * Sets, in place, every element of `bytes` (elements of `size` bytes in `order`) whose `keep` byte
 * is 0 to a zero of its own sign: -0.0 where the weight was negative, +0.0 elsewhere, exactly what
 * PyTorch's `w * mask` (NVIDIA ASP, torch.nn.utils.prune) leaves. Kept elements are not touched.
 */
export function zeroPruned(bytes: Uint8Array, size: number, keep: Uint8Array, order: ByteOrder): Uint8Array {
  const words = wordsOf(bytes, size);
  if (words) {
    const [s0, s1] = signBits(size, order);
    // Branch-free (keep is 0 or 1, so (keep << 31) >> 31 is 0 or all ones, in integers): a mask half kept, half pruned at
    // random would mispredict every other branch.
    if (s1 === undefined) for (let i = 0; i < keep.length; i++) words[i] &= s0 | ((keep[i] << 31) >> 31);
    else
      for (let i = 0; i < keep.length; i++) {
        const k = (keep[i] << 31) >> 31;
        words[2 * i] &= s0 | k;
        words[2 * i + 1] &= s1 | k;
      }
    return bytes;
  }
  const signByte = order === 'little' ? size - 1 : 0;
  for (let i = 0; i < keep.length; i++) {
    if (keep[i]) continue;
    const at = i * size;
    const sign = bytes[at + signByte] & 0x80;
    bytes.fill(0, at, at + size);
    bytes[at + signByte] = sign;
  }
  return bytes;
}

/**
 * Whether `pruned` is `original` (little-endian elements of `size` bytes) pruned to `keep`: the
 * same bits where keep is 1, a zero of either sign where it is 0.
 */
export function isPrunedCopy(original: Uint8Array, pruned: Uint8Array, size: number, keep: Uint8Array): boolean {
  const [a, b] = [wordsOf(original, size), wordsOf(pruned, size)];
  if (a && b) {
    // Branch-free as above: a kept word contributes a ^ b, a pruned one its bits but the sign.
    const [n0, n1] = signBits(size, 'little').map((s) => ~s);
    let differs = 0;
    if (n1 === undefined)
      for (let i = 0; i < keep.length; i++) {
        const k = (keep[i] << 31) >> 31;
        differs |= ((a[i] ^ b[i]) & k) | (b[i] & n0 & ~k);
      }
    else
      for (let i = 0; i < keep.length; i++) {
        const k = (keep[i] << 31) >> 31;
        const [w0, w1] = [2 * i, 2 * i + 1];
        differs |= ((a[w0] ^ b[w0]) & k) | (b[w0] & n0 & ~k) | ((a[w1] ^ b[w1]) & k) | (b[w1] & n1 & ~k);
      }
    return differs === 0;
  }
  for (let i = 0; i < keep.length; i++) {
    const at = i * size;
    for (let j = 0; j < size; j++) {
      // A pruned element may keep only its sign: the top bit of its last byte.
      const ok = keep[i] ? original[at + j] === pruned[at + j] : (j === size - 1 ? pruned[at + j] & 0x7f : pruned[at + j]) === 0;
      if (!ok) return false;
    }
  }
  return true;
}
