import { strict as assert } from 'node:assert';
import type { Checkpoint, TensorEntry } from '../../../../src/core/checkpoint';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { readZipDirectory } from '../../../../src/core/formats/shared/zip';
import { withFile } from '../../../../src/core/randomAccessFile';
import { storageNote, type DerivedTensor, type StoredTensor, type StoredZipMember } from '../../../../src/core/storedTensor';
import { fixture } from '../../../helpers/fixtures';

function tensor(checkpoint: Checkpoint, name: string): TensorEntry {
  const t = checkpoint.tensors.find((x) => x.name === name);
  assert.ok(t, `${name} is read`);
  return t;
}

function derived<Op extends DerivedTensor['op']>(stored: StoredTensor, op: Op): Extract<DerivedTensor, { op: Op }> {
  assert.equal(stored.kind, 'derived');
  assert.equal((stored as DerivedTensor).op, op);
  return stored as Extract<DerivedTensor, { op: Op }>;
}

function member(stored: StoredTensor): StoredZipMember {
  assert.equal(stored.kind, 'zipMember');
  return stored as StoredZipMember;
}

describe('PyTorch: how each tensor is stored', () => {
  it("a zip checkpoint's tensors are parts of their stored data/<key> records, with the zip's CRC-32", async () => {
    const file = fixture('pytorch', 'mlp.pt');
    const entries = await withFile(file, readZipDirectory);
    for (const t of (await openCheckpoint(file)).tensors) {
      const record = member(t.stored);
      const entry = entries.find((e) => e.name === record.member)!;
      assert.match(record.member, /^[^/]+\/data\/\d+$/);
      assert.deepEqual(
        [record.compression, record.crc32, record.dataOffset, record.byteOrder],
        ['stored', entry.crc32, entry.dataOffset, 'little'],
        t.name,
      );
      assert.deepEqual(t.source, { kind: 'file', path: file, offset: record.dataOffset + record.offset, length: record.length }, t.name);
    }
  });

  it("records deflated by another tool: compression 'deflate'", async () => {
    for (const t of (await openCheckpoint(fixture('pytorch', 'mlp_deflated.pt'))).tensors)
      assert.equal(member(t.stored).compression, 'deflate', t.name);
  });

  it('a pruning pair is derived from weight_orig and weight_mask, each with its own record', async () => {
    const checkpoint = await openCheckpoint(fixture('pytorch', 'pruned.pt'));
    const pair = derived(tensor(checkpoint, 'fc1.weight').stored, 'prunePair');
    assert.equal(pair.orig.name, 'fc1.weight_orig');
    assert.equal(pair.mask.name, 'fc1.weight_mask');
    assert.notEqual(member(pair.orig.stored).member, member(pair.mask.stored).member);
    assert.equal(storageNote(pair), 'effective weight = weight_orig × weight_mask');
  });

  it('views: a slice is a narrower part of the shared record, a transposed view a stridedView of it', async () => {
    const checkpoint = await openCheckpoint(fixture('pytorch', 'views.pt'));
    const embed = member(tensor(checkpoint, 'embed.weight').stored);
    const head = member(tensor(checkpoint, 'head.weight').stored);
    assert.equal(head.member, embed.member);
    assert.ok(head.offset > 0 && head.offset + head.length <= embed.length);
    const proj = derived(tensor(checkpoint, 'proj.weight').stored, 'stridedView');
    assert.deepEqual([proj.itemSize, proj.shape, proj.strides], [4, [10, 6], [1, 10]]);
    assert.equal(member(proj.from).member.endsWith('/data/1'), true);
  });

  it('the legacy format: storages are plain ranges of the file', async () => {
    const file = fixture('pytorch', 'views_legacy.pt');
    const checkpoint = await openCheckpoint(file);
    const head = tensor(checkpoint, 'head.weight');
    assert.deepEqual(head.stored, {
      kind: 'range',
      file,
      offset: (head.source as { offset: number }).offset,
      length: 256,
      byteOrder: 'little',
    });
    assert.equal(derived(tensor(checkpoint, 'cols.weight').stored, 'stridedView').from.kind, 'range');
  });

  it('big-endian storages are swapped from big-endian records', async () => {
    for (const t of (await openCheckpoint(fixture('pytorch', 'bigendian.pt'))).tensors) {
      const swap = derived(t.stored, 'byteSwap');
      assert.deepEqual([swap.unit, member(swap.from).byteOrder], [4, 'big'], t.name);
    }
  });

  it('quantized tensors: the zero point shifted away, per tensor or per channel; a zero point of 0 leaves the stored values', async () => {
    const checkpoint = await openCheckpoint(fixture('pytorch', 'quantized.pt'));
    const q = derived(tensor(checkpoint, 'q.weight').stored, 'zeroPoint');
    assert.deepEqual([q.typeName, q.storedDType, q.shiftedTo, q.zeroPoints, q.axis], ['qint8', 'int8', 'int16', [3], undefined]);
    const qc = derived(tensor(checkpoint, 'qc.weight').stored, 'zeroPoint');
    assert.deepEqual([qc.zeroPoints, qc.axis], [[0, 2, -3, 1, 5, 0], 0]);
    const q0 = derived(tensor(checkpoint, 'q0.weight').stored, 'zeroPoint');
    assert.deepEqual([q0.shiftedTo, q0.zeroPoints, member(q0.from).compression], [undefined, [0], 'stored']);
    assert.equal(storageNote(q0), 'qint8, zero point 0');
  });
});
