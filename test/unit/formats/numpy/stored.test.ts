import { strict as assert } from 'node:assert';
import { readFileSync, statSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import type { TensorEntry } from '../../../../src/core/checkpoint';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { readZipDirectory } from '../../../../src/core/formats/shared/zip';
import { withFile } from '../../../../src/core/randomAccessFile';
import { storageNote, type StoredRange, type StoredTensor } from '../../../../src/core/storedTensor';
import { fixture } from '../../../helpers/fixtures';

async function only(file: string): Promise<TensorEntry> {
  const checkpoint = await openCheckpoint(file);
  assert.equal(checkpoint.tensors.length, 1);
  return checkpoint.tensors[0];
}

/** The data of a one-array .npy file: everything after the header, to the end of the file. */
function dataRange(file: string, byteOrder: 'little' | 'big'): StoredRange {
  const size = statSync(file).size;
  const bytes = readFileSync(file);
  const headerEnd = 10 + bytes.readUInt16LE(8);
  return { kind: 'range', file, offset: headerEnd, length: size - headerEnd, byteOrder };
}

describe('NumPy: how each tensor is stored', () => {
  it('a C-order little-endian .npy is the range after its header', async () => {
    const file = fixture('numpy', 'w_c.weight.npy');
    const t = await only(file);
    assert.deepEqual(t.stored, dataRange(file, 'little'));
    assert.equal(storageNote(t.stored), undefined);
  });

  it('a Fortran-order .npy is that range transposed: op fortranOrder', async () => {
    const file = fixture('numpy', 'w_fortran.weight.npy');
    const t = await only(file);
    assert.deepEqual(t.stored, { kind: 'derived', op: 'fortranOrder', itemSize: 4, from: dataRange(file, 'little') });
    assert.equal(storageNote(t.stored), 'transposed from Fortran order');
  });

  it('a big-endian .npy is its big-endian range byte-swapped: op byteSwap', async () => {
    const file = fixture('numpy', 'w_bigendian.weight.npy');
    const t = await only(file);
    assert.equal(t.stored.kind, 'derived');
    const stored = t.stored as Extract<StoredTensor, { op: 'byteSwap' }>;
    assert.equal(stored.op, 'byteSwap');
    assert.deepEqual(stored.from, dataRange(file, 'big'));
    assert.equal(stored.unit, 4);
  });

  it('a big-endian Fortran-order .npy is swapped, then transposed', async () => {
    const file = fixture('numpy', 'conv_fortran_be.weight.npy');
    const t = await only(file);
    const swap: StoredTensor = { kind: 'derived', op: 'byteSwap', unit: 8, from: dataRange(file, 'big') };
    assert.deepEqual(t.stored, { kind: 'derived', op: 'fortranOrder', itemSize: 8, from: swap });
    assert.equal(storageNote(t.stored), 'byte-swapped from big-endian, transposed from Fortran order');
  });

  it("a stored .npz member: compression 'stored', the zip's CRC-32, the data at dataOffset + offset", async () => {
    const file = fixture('numpy', 'mlp.npz');
    const entries = await withFile(file, readZipDirectory);
    for (const t of (await openCheckpoint(file)).tensors) {
      const entry = entries.find((e) => e.name === `${t.name}.npy`)!;
      assert.equal(t.stored.kind, 'zipMember', t.name);
      if (t.stored.kind !== 'zipMember' || t.source.kind !== 'file') return assert.fail(`${t.name}: a stored member's file range`);
      assert.equal(t.stored.compression, 'stored');
      assert.equal(t.stored.crc32, entry.crc32);
      assert.equal(t.stored.member, entry.name);
      assert.equal(t.stored.dataOffset, entry.dataOffset);
      assert.equal(t.stored.offset + t.stored.length, entry.uncompressedSize, 'the array data ends the member');
      assert.equal(t.source.offset, t.stored.dataOffset + t.stored.offset);
      assert.equal(t.source.length, t.stored.length);
    }
  });

  it("a deflated .npz member: compression 'deflate', the zip's CRC-32 and sizes, the analysed bytes a part of the inflated member", async () => {
    const file = fixture('numpy', 'mlp_compressed.npz');
    const archive = readFileSync(file);
    const entries = await withFile(file, readZipDirectory);
    const tensors = (await openCheckpoint(file)).tensors;
    assert.ok(tensors.length > 0);
    for (const t of tensors) {
      const entry = entries.find((e) => e.name === `${t.name}.npy`)!;
      if (t.stored.kind !== 'zipMember' || t.source.kind !== 'inline') return assert.fail(`${t.name}: an inflated member`);
      assert.deepEqual(
        [
          t.stored.archive,
          t.stored.compression,
          t.stored.crc32,
          t.stored.compressedSize,
          t.stored.uncompressedSize,
          t.stored.localHeaderOffset,
        ],
        [file, 'deflate', entry.crc32, entry.compressedSize, entry.uncompressedSize, entry.localHeaderOffset],
        t.name,
      );
      const inflated = inflateRawSync(archive.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize));
      assert.deepEqual(Buffer.from(t.source.bytes), inflated.subarray(t.stored.offset, t.stored.offset + t.stored.length), t.name);
    }
  });
});
