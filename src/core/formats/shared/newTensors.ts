import { numelOf } from '../../checkpoint';

/**
 * Tensors held in memory, to be written into a new file (the writers beside the readers only
 * patch an existing file): see formats/newFile.ts and each format's create.ts.
 */

/** Element types a new file holds: float32 weights and uint8 masks. */
export type NewTensorDType = 'float32' | 'uint8';

/** Bytes per element of each NewTensorDType. */
export const NEW_TENSOR_ITEM_SIZE: Readonly<Record<NewTensorDType, number>> = { float32: 4, uint8: 1 };

/** A tensor to write into a new file: `bytes` are its elements in C order, little-endian. */
export interface NewTensor {
  readonly name: string;
  readonly dtype: NewTensorDType;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

/**
 * Throws unless every tensor has a non-empty name no other has, a shape of non-negative integers
 * and exactly the bytes its shape and dtype need: callers build these, so a mismatch is a bug.
 */
export function checkNewTensors(tensors: readonly NewTensor[]): void {
  const names = new Set<string>();
  for (const t of tensors) {
    if (t.name === '') throw new RangeError('a tensor to write has an empty name');
    if (names.has(t.name)) throw new RangeError(`two tensors to write are named "${t.name}"`);
    names.add(t.name);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new RangeError(`tensor "${t.name}": shape [${t.shape.join(', ')}] is not a list of non-negative integers`);
    if (!(t.dtype in NEW_TENSOR_ITEM_SIZE)) throw new RangeError(`tensor "${t.name}": dtype ${String(t.dtype)} cannot be written`);
    const expected = numelOf(t.shape) * NEW_TENSOR_ITEM_SIZE[t.dtype];
    if (t.bytes.length !== expected)
      throw new RangeError(`tensor "${t.name}" brings ${t.bytes.length} bytes; [${t.shape.join(', ')}] of ${t.dtype} takes ${expected}`);
  }
}
