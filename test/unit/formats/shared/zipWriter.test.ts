import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { CheckpointError } from '../../../../src/core/errors';
import { readZipDirectory, storedZipMember } from '../../../../src/core/formats/shared/zip';
import { writeZipWithEdits, type ZipMemberEdit } from '../../../../src/core/formats/shared/zipWriter';
import { withFile } from '../../../../src/core/randomAccessFile';
import { sliceOf, type StoredZipMember } from '../../../../src/core/storedTensor';
import { fixture, makeTempDir, REPO } from '../../../helpers/fixtures';
import { zipOf } from '../../../helpers/writers';

const SHARED = process.env.SPARSITY_LENS_SHARED_DATA ?? path.join(REPO, '..', 'shared', 'data');

/** A member as this test's own walk of an archive finds it, every header cross-checked. */
interface WalkedMember {
  readonly name: string;
  readonly localHeaderOffset: number;
  readonly centralHeaderOffset: number;
  readonly dataOffset: number;
  readonly compressedSize: number;
  /** End of the data descriptor, or of the data when there is none. */
  readonly end: number;
  /** Where the CRC-32 is written: central header, local header (unless a descriptor stands for it), descriptor. */
  readonly crcFields: readonly number[];
  readonly data: Uint8Array;
}

/**
 * Walks `zip` as `unzip -t` does, independently of the code under test: the end record (zip64
 * when its locator is there), each central header, the local header it points to (same name,
 * flags, method, CRC-32 unless a descriptor holds it, sizes in a zip64 field), the data (inflated, checked against the
 * size and CRC-32), the data descriptor.
 */
function walkZip(zip: Buffer): { members: WalkedMember[]; comment: Buffer } {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 5, 6]));
  assert.ok(end >= 0, 'an end record');
  const comment = zip.subarray(end + 22, end + 22 + zip.readUInt16LE(end + 20));
  assert.equal(end + 22 + comment.length, zip.length, 'the end record ends the file');
  let count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  if (end >= 20 && zip.readUInt32LE(end - 20) === 0x07064b50) {
    const record = Number(zip.readBigUInt64LE(end - 12));
    assert.equal(zip.readUInt32LE(record), 0x06064b50, 'the zip64 end record');
    count = Number(zip.readBigUInt64LE(record + 32));
    at = Number(zip.readBigUInt64LE(record + 48));
  }
  const members: WalkedMember[] = [];
  for (let i = 0; i < count; i++) {
    assert.equal(zip.readUInt32LE(at), 0x02014b50, `central header ${i}`);
    const [flags, method, crc] = [zip.readUInt16LE(at + 8), zip.readUInt16LE(at + 10), zip.readUInt32LE(at + 16)];
    let [compressedSize, size, localHeaderOffset] = [zip.readUInt32LE(at + 20), zip.readUInt32LE(at + 24), zip.readUInt32LE(at + 42)];
    const nameEnd = at + 46 + zip.readUInt16LE(at + 28);
    const extraEnd = nameEnd + zip.readUInt16LE(at + 30);
    const name = zip.subarray(at + 46, nameEnd).toString('utf8');
    for (let e = nameEnd; e < extraEnd; e += 4 + zip.readUInt16LE(e + 2)) {
      if (zip.readUInt16LE(e) !== 1) continue;
      let field = e + 4;
      const next = () => Number(zip.readBigUInt64LE((field += 8) - 8));
      if (size === 0xffffffff) size = next();
      if (compressedSize === 0xffffffff) compressedSize = next();
      if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
    }
    const local = localHeaderOffset;
    assert.equal(zip.readUInt32LE(local), 0x04034b50, `${name}: local header`);
    assert.deepEqual([zip.readUInt16LE(local + 6), zip.readUInt16LE(local + 8)], [flags, method], `${name}: flags and method`);
    const localNameEnd = local + 30 + zip.readUInt16LE(local + 26);
    assert.equal(zip.subarray(local + 30, localNameEnd).toString('utf8'), name);
    const dataOffset = localNameEnd + zip.readUInt16LE(local + 28);
    for (let e = localNameEnd; e < dataOffset; e += 4 + zip.readUInt16LE(e + 2)) {
      if (zip.readUInt16LE(e) !== 1) continue;
      const sizes = [Number(zip.readBigUInt64LE(e + 4)), Number(zip.readBigUInt64LE(e + 12))];
      assert.deepEqual(sizes, [size, compressedSize], `${name}: the local zip64 field's sizes`);
    }
    const crcFields = [at + 16];
    const hasDescriptor = (flags & 8) !== 0;
    if (!hasDescriptor || zip.readUInt32LE(local + 14) !== 0) {
      assert.equal(zip.readUInt32LE(local + 14), crc, `${name}: the local header's CRC-32`);
      crcFields.push(local + 14);
    }
    const raw = zip.subarray(dataOffset, dataOffset + compressedSize);
    const data = method === 0 ? raw : inflateRawSync(raw);
    assert.equal(data.length, size, `${name}: size`);
    assert.equal(crc32(data), crc, `${name}: the data's CRC-32`);
    let memberEnd = dataOffset + compressedSize;
    if (hasDescriptor) {
      if (zip.readUInt32LE(memberEnd) === 0x08074b50 && zip.readUInt32LE(memberEnd + 4) === crc) memberEnd += 4;
      assert.equal(zip.readUInt32LE(memberEnd), crc, `${name}: the descriptor's CRC-32`);
      crcFields.push(memberEnd);
      memberEnd += 12;
    }
    members.push({ name, localHeaderOffset, centralHeaderOffset: at, dataOffset, compressedSize, end: memberEnd, crcFields, data });
    at = extraEnd + zip.readUInt16LE(at + 32);
  }
  return { members, comment };
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The record of all of member `name` of `file`, as a reader would give it. */
async function memberRecord(file: string, name: string): Promise<StoredZipMember> {
  const entries = await withFile(file, readZipDirectory);
  const entry = entries.find((e) => e.name === name);
  assert.ok(entry, `${name} is in ${file}`);
  return storedZipMember(file, entry);
}

/** An edit zeroing `length` bytes of `member` from `offset`, and the member's bytes after it. */
function zeroing(member: StoredZipMember, data: Uint8Array, offset: number, length: number): { edit: ZipMemberEdit; after: Uint8Array } {
  const after = Uint8Array.from(data);
  after.fill(0, offset, offset + length);
  return { edit: { member: sliceOf(member, offset, length), bytes: new Uint8Array(length) }, after };
}

function assertSameBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected), message ?? 'the same bytes');
}

/** The members a test edits: the largest one whose name contains `hint`. */
function largest(members: readonly WalkedMember[], hint: string): WalkedMember {
  return members.filter((m) => m.name.includes(hint)).reduce((a, b) => (b.data.length > a.data.length ? b : a));
}

describe('zip writer', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());
  let written = 0;
  const outputFor = (file: string) => path.join(tmp.dir, `${++written}-${path.basename(file)}`);

  const stored: readonly [string, string][] = [
    [fixture('pytorch', 'mlp.pt'), '/data/'],
    [fixture('pytorch', 'mlp_zip64.pt'), '/data/'],
    [fixture('pytorch', 'pruned.pt'), '/data/'],
    [fixture('numpy', 'mlp.npz'), 'weight'],
    [fixture('numpy', 'mlp_zip64.npz'), 'weight'],
    [path.join(SHARED, 'digits_mlp.pt'), '/data/'],
    [path.join(SHARED, 'digits_mlp.npz'), 'weight'],
  ];
  for (const [file, hint] of stored) {
    it(`stored members (${path.basename(file)}): only the edited bytes and the CRC-32 fields change`, async () => {
      const before = sha256(file);
      const input = readFileSync(file);
      const target = largest(walkZip(input).members, hint);
      // Two edits of one member, one of another: each member gets one CRC-32 for all its edits.
      const other = walkZip(input).members.find((m) => m.name !== target.name && m.data.length >= 8)!;
      const first = zeroing(await memberRecord(file, target.name), target.data, 4, 12);
      const second = zeroing(await memberRecord(file, target.name), first.after, target.data.length - 8, 8);
      const third = zeroing(await memberRecord(file, other.name), other.data, 0, 8);
      const output = outputFor(file);
      await writeZipWithEdits(file, output, [first.edit, third.edit, second.edit]);

      const result = readFileSync(output);
      assert.equal(result.length, input.length, 'sizes do not change');
      const allowed = new Set<number>();
      const allow = (start: number, length: number) => {
        for (let i = start; i < start + length; i++) allowed.add(i);
      };
      for (const [member, ranges] of [
        [
          target,
          [
            [4, 12],
            [target.data.length - 8, 8],
          ],
        ],
        [other, [[0, 8]]],
      ] as const) {
        for (const [offset, length] of ranges) allow(member.dataOffset + offset, length);
        for (const field of member.crcFields) allow(field, 4);
      }
      for (let i = 0; i < input.length; i++) if (input[i] !== result[i]) assert.ok(allowed.has(i), `byte ${i} changed`);

      const members = walkZip(result).members;
      assertSameBytes(members.find((m) => m.name === target.name)!.data, second.after);
      assertSameBytes(members.find((m) => m.name === other.name)!.data, third.after);
      assert.notEqual(crc32(second.after), crc32(target.data), 'the CRC-32 did change');
      assert.equal(sha256(file), before, 'the input is untouched');
    });
  }

  for (const [file, hint] of [
    [fixture('numpy', 'mlp_compressed.npz'), 'weight'],
    [fixture('pytorch', 'mlp_deflated.pt'), '/data/'],
  ] as const) {
    it(`a deflated member (${path.basename(file)}): the archive is rebuilt, other members copied byte for byte`, async () => {
      const before = sha256(file);
      const input = readFileSync(file);
      const inputMembers = walkZip(input).members;
      const target = largest(inputMembers, hint);
      const { edit, after } = zeroing(await memberRecord(file, target.name), target.data, 16, 64);
      const output = outputFor(file);
      await writeZipWithEdits(file, output, [edit]);

      const result = readFileSync(output);
      const members = walkZip(result).members;
      assert.deepEqual(
        members.map((m) => m.name),
        inputMembers.map((m) => m.name),
        'members in their order',
      );
      for (const [i, member] of inputMembers.entries()) {
        const copy = members[i];
        if (member.name === target.name) assertSameBytes(copy.data, after);
        else
          assertSameBytes(
            result.subarray(copy.localHeaderOffset, copy.end),
            input.subarray(member.localHeaderOffset, member.end),
            member.name,
          );
      }
      assert.equal(sha256(file), before, 'the input is untouched');
    });
  }

  it('a rebuilt archive keeps its comment, its data descriptors and the stored members edited beside a deflated one', async () => {
    const fc1 = Buffer.from(new Float32Array(64).map((_, i) => i + 1).buffer);
    const fc2 = Buffer.from(new Float32Array(32).map((_, i) => -i).buffer);
    const file = tmp.write('descriptors.zip', withDescriptorsAndComment([fc1, fc2], 'kept comment'));
    const output = outputFor(file);
    const deflated = zeroing(await memberRecord(file, 'm0'), fc1, 8, 32);
    const plain = zeroing(await memberRecord(file, 'm1'), fc2, 0, 4);
    await writeZipWithEdits(file, output, [deflated.edit, plain.edit]);
    const { members, comment } = walkZip(readFileSync(output));
    assert.equal(comment.toString(), 'kept comment');
    assert.deepEqual(
      members.map((m) => [m.name, m.crcFields.length]),
      [
        ['m0', 2],
        ['m1', 2],
      ],
      'a central and a descriptor CRC-32 each',
    );
    assertSameBytes(members[0].data, deflated.after);
    assertSameBytes(members[1].data, plain.after);
  });

  it('a member larger than a copy chunk: edits across chunk boundaries land exactly', async () => {
    const data = Buffer.alloc((9 << 20) + 123);
    for (let i = 0; i < data.length; i += 4096) data[i] = 1 + ((i >> 12) % 255);
    const file = tmp.write(
      'big.zip',
      zipOf([
        { name: 'head', data: Buffer.from('x') },
        { name: 'big', data },
      ]),
    );
    const member = await memberRecord(file, 'big');
    // Across a chunk of the member (read for its CRC-32) and a chunk of the archive (copied), and at the end.
    const edits = [(8 << 20) - 5, (8 << 20) - member.dataOffset - 5, data.length - 3].map((offset) => ({
      member: sliceOf(member, offset, Math.min(10, data.length - offset)),
      bytes: new Uint8Array(Math.min(10, data.length - offset)).fill(0xee),
    }));
    const expected = Buffer.from(data);
    for (const { member: at, bytes } of edits) expected.set(bytes, at.offset);
    const output = outputFor(file);
    await writeZipWithEdits(file, output, edits);
    assertSameBytes(walkZip(readFileSync(output)).members[1].data, expected);
  });

  it('a deflated member of a zip64 archive is refused, not rewritten wrongly', async () => {
    const data = Buffer.from(new Float32Array(16).fill(1).buffer);
    const file = tmp.write(
      'deflated64.zip',
      withZip64EndRecords(zipOf([{ name: 'a', data: deflateRawSync(data), method: 8, uncompressedSize: 64, crc: crc32(data) }])),
    );
    const { edit } = zeroing(await memberRecord(file, 'a'), data, 0, 4);
    const error = await writeZipWithEdits(file, outputFor(file), [edit]).then(
      () => assert.fail('refused'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof CheckpointError);
    assert.deepEqual([error.file, error.problem], [file, 'unsupported']);
    assert.match(error.message, /compressed zip64 member is not supported yet/);
  });

  describe('refuses edits it cannot apply exactly', () => {
    const file = fixture('numpy', 'mlp.npz');
    const refused = async (edits: readonly ZipMemberEdit[], pattern: RegExp) =>
      assert.rejects(writeZipWithEdits(file, outputFor(file), edits), pattern);

    it('past the end of the member, or overlapping another edit', async () => {
      const member = await memberRecord(file, 'fc2.bias.npy');
      await refused([{ member: sliceOf(member, member.length - 4, 8), bytes: new Uint8Array(8) }], /lies outside its 168 bytes/);
      await refused(
        [
          { member: sliceOf(member, 100, 8), bytes: new Uint8Array(8) },
          { member: sliceOf(member, 104, 8), bytes: new Uint8Array(8) },
        ],
        /overlaps another edit/,
      );
    });

    it('of a member that is not as the reader recorded it, or with the wrong number of bytes', async () => {
      const member = await memberRecord(file, 'fc2.bias.npy');
      await refused(
        [{ member: { ...sliceOf(member, 0, 4), crc32: member.crc32 ^ 1 }, bytes: new Uint8Array(4) }],
        /not in the archive as the edit describes it/,
      );
      await refused([{ member: { ...sliceOf(member, 0, 4), member: 'other.npy' }, bytes: new Uint8Array(4) }], /not in the archive/);
      await refused([{ member: sliceOf(member, 0, 4), bytes: new Uint8Array(3) }], /an edit of 4 bytes brings 3/);
    });

    it('over the input itself', async () => {
      const copy = tmp.write('self.npz', readFileSync(file));
      const member = await memberRecord(copy, 'fc2.bias.npy');
      await assert.rejects(
        writeZipWithEdits(copy, copy, [{ member: sliceOf(member, 0, 4), bytes: new Uint8Array(4) }]),
        /overwrite the input/,
      );
      assert.deepEqual(readFileSync(copy), readFileSync(file));
    });

    it('a member whose bytes fail their CRC-32 (a damaged input) is not given a fresh one', async () => {
      const data = Buffer.from(new Float32Array(8).fill(2).buffer);
      const damaged = tmp.write('damaged.zip', zipOf([{ name: 'a', data, crc: crc32(data) ^ 1 }]));
      const member = await memberRecord(damaged, 'a');
      const error = await writeZipWithEdits(damaged, outputFor(damaged), [
        { member: sliceOf(member, 0, 4), bytes: new Uint8Array(4) },
      ]).then(
        () => assert.fail('refused'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof CheckpointError);
      assert.deepEqual([error.file, error.problem], [damaged, 'corrupt']);
    });

    it('stops when its signal is aborted', async () => {
      const member = await memberRecord(file, 'fc2.bias.npy');
      await assert.rejects(
        writeZipWithEdits(file, outputFor(file), [{ member: sliceOf(member, 0, 4), bytes: new Uint8Array(4) }], AbortSignal.abort()),
        { name: 'AbortError' },
      );
    });
  });
});

/**
 * A zip as streaming writers make it: member m0 deflated, the others stored, each with general
 * purpose flag bit 3 (zeros in the local header, the CRC-32 and sizes in a signed data
 * descriptor after the data), and an archive comment.
 */
function withDescriptorsAndComment(datas: readonly Buffer[], comment: string): Buffer {
  const parts: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  datas.forEach((data, i) => {
    const name = Buffer.from(`m${i}`);
    const method = i === 0 ? 8 : 0;
    const body = method === 8 ? deflateRawSync(data) : data;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(name.length, 26);
    const descriptor = Buffer.alloc(16);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(crc32(data), 4);
    descriptor.writeUInt32LE(body.length, 8);
    descriptor.writeUInt32LE(data.length, 12);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(8, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    parts.push(local, name, body, descriptor);
    centrals.push(central, name);
    offset += local.length + name.length + body.length + descriptor.length;
  });
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(datas.length, 8);
  end.writeUInt16LE(datas.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  end.writeUInt16LE(Buffer.byteLength(comment), 20);
  return Buffer.concat([...parts, directory, end, Buffer.from(comment)]);
}

/** `zip` (from zipOf: no comment) with a zip64 end record and locator before its end record, as torch.save writes them. */
function withZip64EndRecords(zip: Buffer): Buffer {
  const end = zip.length - 22;
  const [count, size, offset] = [zip.readUInt16LE(end + 10), zip.readUInt32LE(end + 12), zip.readUInt32LE(end + 16)];
  const record = Buffer.alloc(56);
  record.writeUInt32LE(0x06064b50, 0);
  record.writeBigUInt64LE(44n, 4);
  record.writeUInt16LE(45, 12);
  record.writeUInt16LE(45, 14);
  record.writeBigUInt64LE(BigInt(count), 24);
  record.writeBigUInt64LE(BigInt(count), 32);
  record.writeBigUInt64LE(BigInt(size), 40);
  record.writeBigUInt64LE(BigInt(offset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(end), 8);
  locator.writeUInt32LE(1, 16);
  return Buffer.concat([zip.subarray(0, end), record, locator, zip.subarray(end)]);
}
