import { checkNewTensors, type NewTensor, type NewTensorDType } from '../shared/newTensors';
import { createStoredZip } from '../shared/storedZip';

/** New .npy members and .npz files from tensors held in memory, as numpy.save / numpy.savez write them. */

/** numpy.lib.format's ARRAY_ALIGN: magic, length and header together fill whole 64-byte blocks. */
const NPY_ALIGN = 64;
/** numpy.lib.format's GROWTH_AXIS_MAX_DIGITS: room left after the header so the first axis may grow in place. */
const GROWTH_AXIS_MAX_DIGITS = 21;
const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
const NPY_DESCR: Readonly<Record<NewTensorDType, string>> = { float32: '<f4', uint8: '|u1' };

/**
 * The header of an .npy stream as numpy.save writes it (numpy.lib.format `_write_array_header`):
 * the dict with sorted keys and Python reprs, spaces for the first axis to grow, then spaces and
 * '\n' up to the next multiple of 64 bytes (a whole 64 when it lands on one, as numpy pads);
 * format 1.0, or 2.0 when the header outgrows its 2-byte length.
 */
export function npyHeader(dtype: NewTensorDType, shape: readonly number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${NPY_DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  if (shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  for (const major of [1, 2]) {
    const lengthBytes = major === 1 ? 2 : 4;
    const hlen = dict.length + 1;
    const padlen = NPY_ALIGN - ((NPY_MAGIC.length + 2 + lengthBytes + hlen) % NPY_ALIGN);
    const total = hlen + padlen;
    if (major === 1 && total > 0xffff) continue;
    const out = new Uint8Array(NPY_MAGIC.length + 2 + lengthBytes + total);
    out.set(NPY_MAGIC, 0);
    out[6] = major;
    out[7] = 0;
    if (major === 1) view(out).setUint16(8, total, true);
    else view(out).setUint32(8, total, true);
    const text = dict + ' '.repeat(padlen) + '\n';
    for (let i = 0; i < text.length; i++) out[NPY_MAGIC.length + 2 + lengthBytes + i] = text.charCodeAt(i);
    return out;
  }
  throw new RangeError(`an .npy header for shape [${shape.join(', ')}] is too long`);
}

/**
 * Writes a new .npz at `path` (which must not exist): an uncompressed zip of one `<name>.npy`
 * member per tensor, in order, as numpy.savez writes it (numpy.load gives back each name).
 */
export async function createNpz(path: string, tensors: readonly NewTensor[]): Promise<void> {
  checkNewTensors(tensors);
  await createStoredZip(
    path,
    tensors.map((t) => ({ name: `${t.name}.npy`, parts: [npyHeader(t.dtype, t.shape), t.bytes] })),
  );
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
