import { createFile } from '../../outputFiles';
import { checkNewTensors, NEW_TENSOR_ITEM_SIZE, type NewTensor, type NewTensorDType } from '../shared/newTensors';
import { encodeHeader } from './writer';

/** Safetensors' name of each dtype a new file holds. */
const SAFETENSORS_NAME: Readonly<Record<NewTensorDType, string>> = { float32: 'F32', uint8: 'U8' };

/**
 * Writes a new safetensors file at `path` (which must not exist) from tensors held in memory: the
 * header lists them in the order given, `__metadata__` first (string values only, as the format
 * requires); their data is laid out largest element size first (stable), as condense and the
 * reference writer order it, so every tensor starts aligned to its element size.
 */
export async function createSafetensors(
  path: string,
  tensors: readonly NewTensor[],
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  checkNewTensors(tensors);
  const reserved = tensors.find((t) => t.name === '__metadata__');
  if (reserved) throw new RangeError('a safetensors tensor cannot be named "__metadata__"');
  const begins = new Map<NewTensor, number>();
  let offset = 0;
  for (const t of [...tensors].sort((a, b) => NEW_TENSOR_ITEM_SIZE[b.dtype] - NEW_TENSOR_ITEM_SIZE[a.dtype])) {
    begins.set(t, offset);
    offset += t.bytes.length;
  }
  const header = encodeHeader(
    metadata,
    tensors.map((t) => {
      const begin = begins.get(t)!;
      return [t.name, { dtype: SAFETENSORS_NAME[t.dtype], shape: t.shape, data_offsets: [begin, begin + t.bytes.length] }];
    }),
  );
  const out = await createFile(path);
  try {
    await out.write(header, 0);
    for (const t of tensors) await out.write(t.bytes, header.length + begins.get(t)!);
  } finally {
    await out.close();
  }
}
