import { numelOf, type TensorSource } from './checkpoint';
import { alignedBytes, decodeToFloat64, DTYPE_BITS, elementAlignment, type DType } from './dtype';
import { RandomAccessFile, withFile } from './randomAccessFile';

/** Elements per chunk when streaming a tensor: bounded memory whatever the tensor's size. */
export const CHUNK_ELEMENTS = 1 << 20;

export interface TensorChunk {
  /** Element-aligned bytes of `count` elements, starting with element `first`. */
  readonly bytes: Uint8Array;
  readonly first: number;
  readonly count: number;
}

/**
 * Streams a tensor's elements in chunks of at most `chunkElements`, reading file ranges one
 * chunk at a time into a reused buffer (callers must not keep a chunk past the next one).
 */
export async function* tensorChunks(
  source: TensorSource,
  dtype: DType,
  numel: number,
  chunkElements = CHUNK_ELEMENTS,
  signal?: AbortSignal,
): AsyncGenerator<TensorChunk> {
  const bits = DTYPE_BITS[dtype];
  const perChunk = bits < 8 ? chunkElements - (chunkElements % 2) : chunkElements;
  const bytesOf = (count: number) => Math.ceil((count * bits) / 8);
  if (source.kind === 'inline') {
    const bytes = alignedBytes(source.bytes, elementAlignment(dtype));
    for (let first = 0; first < numel; first += perChunk) {
      signal?.throwIfAborted();
      const count = Math.min(perChunk, numel - first);
      yield { bytes: bytes.subarray(bytesOf(first), bytesOf(first) + bytesOf(count)), first, count };
    }
    return;
  }
  const file = await RandomAccessFile.open(source.path);
  try {
    const buffer = new Uint8Array(bytesOf(Math.min(perChunk, numel)));
    for (let first = 0; first < numel; first += perChunk) {
      signal?.throwIfAborted();
      const count = Math.min(perChunk, numel - first);
      const length = bytesOf(count);
      const bytes = await file.read(source.offset + bytesOf(first), length, buffer.subarray(0, length));
      yield { bytes, first, count };
    }
  } finally {
    await file.close();
  }
}

/** `length` bytes of a tensor's source from byte `offset` on (a small window: one read). */
export async function readSpan(source: TensorSource, offset: number, length: number): Promise<Uint8Array> {
  if (source.kind === 'inline') return source.bytes.slice(offset, offset + length);
  return withFile(source.path, (f) => f.read(source.offset + offset, length));
}

/**
 * Two tensors of `numel` elements read in step, chunk by chunk (a pair is valid until the next);
 * the second's file is closed however the loop ends.
 */
export async function* chunkPairs(
  a: { readonly source: TensorSource; readonly dtype: DType },
  b: { readonly source: TensorSource; readonly dtype: DType },
  numel: number,
  signal?: AbortSignal,
): AsyncGenerator<readonly [TensorChunk, TensorChunk]> {
  const chunksB = tensorChunks(b.source, b.dtype, numel, CHUNK_ELEMENTS, signal);
  try {
    for await (const chunkA of tensorChunks(a.source, a.dtype, numel, CHUNK_ELEMENTS, signal)) {
      const next = await chunksB.next();
      if (next.done || next.value.count !== chunkA.count) throw new Error('the two tensors are read in chunks that do not line up');
      yield [chunkA, next.value];
    }
  } finally {
    await chunksB.return(undefined);
  }
}

/** Every element of a tensor decoded to float64, in storage order (read whole, in chunks). */
export async function readValues(
  tensor: { readonly source: TensorSource; readonly dtype: DType; readonly shape: readonly number[] },
  signal?: AbortSignal,
): Promise<Float64Array> {
  const numel = numelOf(tensor.shape);
  const values = new Float64Array(numel);
  for await (const chunk of tensorChunks(tensor.source, tensor.dtype, numel, undefined, signal)) {
    values.set(decodeToFloat64(tensor.dtype, chunk.bytes, chunk.count), chunk.first);
  }
  return values;
}
