import { numelOf, type TensorEntry } from '../checkpoint';
import { DTYPE_BITS, swapBytes } from '../dtype';
import { CheckpointError, printable } from '../errors';
import type { StoredEdit } from '../formats/writer';
import { readZipMember, zipEntryOf } from '../formats/shared/zip';
import { withFile } from '../randomAccessFile';
import { storedPlaces, type StoredTensor } from '../storedTensor';
import { zeroPruned } from './signedZeros';

/** Clears, in place, every element of `bytes` whose `keep` byte is 0 to all-zero bytes (a torch.nn.utils.prune mask's 0). */
function clearPruned(bytes: Uint8Array, elementSize: number, keep: Uint8Array): Uint8Array {
  for (let i = 0; i < keep.length; i++) if (!keep[i]) bytes.fill(0, i * elementSize, (i + 1) * elementSize);
  return bytes;
}

function notWritable(file: string, tensor: string, why: string): CheckpointError {
  return new CheckpointError(
    file,
    'unsupported',
    `tensor "${printable(tensor)}" ${why}: it cannot be written back yet (leave it out with --exclude)`,
  );
}

/** The file a stored form lives in, for messages. */
function fileOf(stored: StoredTensor): string {
  return storedPlaces(stored)[0]?.file ?? '';
}

/** The stored bytes of a plain form as the file holds them (a deflated member is inflated). */
async function readStored(stored: StoredTensor, tensor: string): Promise<Uint8Array> {
  switch (stored.kind) {
    case 'range':
      return withFile(stored.file, (f) => f.read(stored.offset, stored.length));
    case 'onnxField': {
      if (stored.encoding === 'varint') break;
      const { starts, ends } = stored.fields ?? { starts: [stored.offset], ends: [stored.offset + stored.length] };
      return withFile(stored.file, async (f) => {
        const out = new Uint8Array(stored.length);
        for (let i = 0, at = 0; i < starts.length; at += ends[i] - starts[i], i++)
          out.set(await f.read(starts[i], ends[i] - starts[i]), at);
        return out;
      });
    }
    case 'zipMember':
      return withFile(stored.archive, async (f) => {
        if (stored.compression === 'stored') return f.read(stored.dataOffset + stored.offset, stored.length);
        const member = await readZipMember(f, zipEntryOf(stored), stored.uncompressedSize);
        return member.subarray(stored.offset, stored.offset + stored.length);
      });
  }
  throw notWritable(fileOf(stored), tensor, 'is stored in a form whose bytes are not read as they are');
}

/** The plain stored form new bytes go to (through a byte swap, which changes no element's place). */
function editTarget(stored: StoredTensor, tensor: string): { target: StoredEdit['target']; swapped: boolean } {
  if (stored.kind === 'derived' && stored.op === 'byteSwap')
    return { target: editTarget(stored.from, tensor).target, swapped: stored.unit > 1 };
  if (stored.kind === 'range' || stored.kind === 'zipMember') return { target: stored, swapped: false };
  if (stored.kind === 'onnxField') {
    if (stored.encoding === 'varint') throw notWritable(stored.file, tensor, `is stored as ONNX ${stored.field} varints`);
    return { target: stored, swapped: false };
  }
  const why =
    stored.kind === 'derived'
      ? {
          fortranOrder: 'is stored in Fortran order',
          stridedView: 'is a non-contiguous view of its storage',
          unpackInt4: 'is stored as packed 4-bit integers',
          zeroPoint: 'is quantized with a zero point',
          prunePair: 'is a pruning pair inside a pruning pair',
          dequantize: 'is quantized',
          float16Quantization: 'is stored with TF.js float16 quantization',
          condensed: 'is stored condensed',
          byteSwap: '',
        }[stored.op]
      : stored.kind === 'ranges'
        ? 'runs across several files'
        : 'has no stored bytes';
  throw notWritable(fileOf(stored), tensor, why);
}

/**
 * The stored bytes that prune `tensor` to `keep` (1 = keep, one byte per element in storage
 * order): its own bytes with pruned weights set to ±0, or for a torch.nn.utils.prune pair the
 * mask with pruned positions set to 0 (the orig keeps its values, as the library's own pruning
 * does: the mask ANDs with the one already there).
 */
export async function prunedEdits(tensor: TensorEntry, keep: Uint8Array): Promise<StoredEdit[]> {
  if (keep.length !== numelOf(tensor.shape))
    throw new RangeError(`${tensor.name}: ${keep.length} mask bytes for ${numelOf(tensor.shape)} weights`);
  if (keep.length === 0) return [];
  const stored = tensor.stored;
  if (stored.kind === 'derived' && stored.op === 'prunePair') {
    const mask = stored.mask;
    const { target } = editTarget(mask.stored, mask.name);
    const elementSize = DTYPE_BITS[mask.dtype] / 8;
    if (!Number.isInteger(elementSize)) throw notWritable(fileOf(mask.stored), mask.name, `is a ${mask.dtype} mask`);
    return [{ target, bytes: clearPruned(await readStored(target, mask.name), elementSize, keep) }];
  }
  const { target, swapped } = editTarget(stored, tensor.name);
  const current = await readStored(target, tensor.name);
  return [{ target, bytes: zeroPruned(current, DTYPE_BITS[tensor.dtype] / 8, keep, swapped ? 'big' : 'little') }];
}

/**
 * The stored edit that gives `tensor` new values: `bytes` holds every element little-endian in
 * the tensor's own dtype and storage order (swapped here for a big-endian store).
 */
export function replacedEdits(tensor: TensorEntry, bytes: Uint8Array): StoredEdit[] {
  if (tensor.stored.kind === 'derived' && tensor.stored.op === 'prunePair')
    throw notWritable(fileOf(tensor.stored), tensor.name, 'is a pruning pair (weight_orig and weight_mask)');
  const { target, swapped } = editTarget(tensor.stored, tensor.name);
  if (!swapped) return [{ target, bytes }];
  const copy = bytes.slice();
  swapBytes(copy, DTYPE_BITS[tensor.dtype] / 8);
  return [{ target, bytes: copy }];
}
