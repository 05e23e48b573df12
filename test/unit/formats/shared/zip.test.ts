import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { createDeflateRaw, crc32, deflateRawSync } from 'node:zlib';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { memberSource, readZipDirectory, readZipMember } from '../../../../src/core/formats/shared/zip';
import { readNumpy } from '../../../../src/core/formats/numpy/reader';
import { DerivedBytesBudget } from '../../../../src/core/derivedBytes';
import { withFile } from '../../../../src/core/randomAccessFile';
import { fixture, makeTempDir } from '../../../helpers/fixtures';
import { expectCheckpointError } from '../../../helpers/errors';
import { zipOf } from '../../../helpers/writers';

/** Deflates `megabytes` MiB of zeros without holding them in memory. */
async function deflatedZeros(megabytes: number): Promise<Buffer> {
  const deflate = createDeflateRaw({ level: 9 });
  const chunks: Buffer[] = [];
  deflate.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => deflate.on('end', resolve));
  const zeros = Buffer.alloc(1 << 20);
  for (let i = 0; i < megabytes; i++) {
    if (!deflate.write(zeros)) await new Promise((resolve) => deflate.once('drain', resolve));
  }
  deflate.end();
  await done;
  return Buffer.concat(chunks);
}

/** Deflates `megabytes` MiB of float32 zeros with a 1.5 every 97 elements (about 155 times smaller: no zip bomb). */
async function deflatedSparse(megabytes: number): Promise<Buffer> {
  const piece = Buffer.alloc(1 << 20);
  for (let i = 0; i < piece.length / 4; i += 97) piece.writeFloatLE(1.5, i * 4);
  const deflate = createDeflateRaw({ level: 6 });
  const chunks: Buffer[] = [];
  deflate.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => deflate.on('end', resolve));
  for (let i = 0; i < megabytes; i++) if (!deflate.write(piece)) await new Promise((resolve) => deflate.once('drain', resolve));
  deflate.end();
  await done;
  return Buffer.concat(chunks);
}

const npz = readFileSync(fixture('numpy', 'mlp.npz'));
const EOCD = 0x06054b50;

describe('zip and .npz: bad input gives a typed error naming the file and the problem', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let zeros200: Buffer;
  before(async () => {
    tmp = makeTempDir();
    zeros200 = await deflatedZeros(200);
  });
  after(() => tmp.remove());

  const write = (name: string, bytes: Uint8Array) => tmp.write(name, bytes);
  const directory = (file: string) => withFile(file, (f) => readZipDirectory(f));
  const member = (file: string, index: number, maxBytes: number) =>
    withFile(file, async (f) => readZipMember(f, (await readZipDirectory(f))[index], maxBytes));

  it('the zip writer used below is sound: numpy reads what it writes', async () => {
    const npy = readFileSync(fixture('numpy', 'w_c.weight.npy'));
    const file = write(
      'ok.npz',
      zipOf([
        { name: 'a.weight.npy', data: npy },
        { name: 'b.weight.npy', data: deflateRawSync(npy), method: 8, uncompressedSize: npy.length, crc: crc32(npy) },
      ]),
    );
    const checkpoint = await openCheckpoint(file);
    assert.deepEqual(
      checkpoint.tensors.map((t) => [t.name, t.source.kind]),
      [
        ['a.weight', 'file'],
        ['b.weight', 'inline'],
      ],
    );
  });

  it('a truncated archive: the central directory is cut off', async () => {
    const file = write('cut.npz', npz.subarray(0, npz.length - 100));
    await expectCheckpointError(file, 'truncated', /not a complete zip archive: it has no zip directory at its end/);
    await expectCheckpointError(file, 'truncated', /truncated/, { opening: directory(file) });
  });

  it('a truncated archive: only the first half of the file', async () => {
    const file = write('half.npz', npz.subarray(0, npz.length >> 1));
    await expectCheckpointError(file, 'truncated', /truncated/);
  });

  it('the directory points past the end of the file', async () => {
    const bytes = Buffer.from(npz);
    const end = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    bytes.writeUInt32LE(bytes.length + 1000, end + 16); // central directory offset
    const file = write('far.npz', bytes);
    await expectCheckpointError(file, 'truncated', /points past the end of the file/);
  });

  it('a member whose local header lies past the end of the file', async () => {
    const bytes = Buffer.from(zipOf([{ name: 'a.npy', data: Buffer.alloc(10) }]));
    bytes.writeUInt32LE(1_000_000, bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 42);
    const file = write('member-far.npz', bytes);
    await expectCheckpointError(file, 'truncated', /zip member "a.npy" starts past the end/, { opening: directory(file) });
  });

  it('a member whose data runs past the end of the file', async () => {
    const bytes = Buffer.from(zipOf([{ name: 'a.npy', data: Buffer.alloc(10) }]));
    const at = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    bytes.writeUInt32LE(1_000_000, at + 20);
    bytes.writeUInt32LE(1_000_000, at + 24);
    const file = write('member-long.npz', bytes);
    await expectCheckpointError(file, 'truncated', /zip member "a.npy" needs bytes 35\.\.1000035/, { opening: directory(file) });
  });

  it('a bad local header signature', async () => {
    const bytes = Buffer.from(npz);
    bytes.writeUInt32LE(0xdeadbeef, bytes.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]), 4)); // the second member's
    const file = write('bad-local.npz', bytes);
    await expectCheckpointError(file, 'corrupt', /zip member "fc1.bias.npy" has no local file header/);
  });

  it('a bad central directory signature', async () => {
    const bytes = Buffer.from(npz);
    bytes.writeUInt32LE(0xdeadbeef, bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])));
    const file = write('bad-central.npz', bytes);
    await expectCheckpointError(file, 'corrupt', /central directory file header signature/);
  });

  it('an absurd member count is refused before reading entries', async () => {
    const bytes = Buffer.from(zipOf([{ name: 'a.npy', data: Buffer.alloc(10) }]));
    const end = bytes.length - 22;
    assert.equal(bytes.readUInt32LE(end), EOCD);
    bytes.writeUInt16LE(0xffff, end + 8);
    bytes.writeUInt16LE(0xffff, end + 10);
    const file = write('count.npz', bytes);
    await expectCheckpointError(file, 'corrupt', /claims 65535 members, more than a \d+-byte file can hold/, { opening: directory(file) });
  });

  it('a zip bomb: 200 MB of zeros declared honestly is refused by the size limit before inflating', async () => {
    const file = write('bomb.npz', zipOf([{ name: 'bomb.npy', data: zeros200, method: 8, uncompressedSize: 200 << 20, crc: 0 }]));
    assert.ok(zeros200.length < 300_000);
    await expectCheckpointError(file, 'unsafe', /zip member "bomb.npy" is 209715200 bytes uncompressed, more than the limit of 1048576/, {
      opening: member(file, 0, 1 << 20),
    });
  });

  it('a zip bomb: 200 MB of zeros declared as 250 kB stops inflating at the declared size', async () => {
    const file = write('liar.npz', zipOf([{ name: 'bomb.npy', data: zeros200, method: 8, uncompressedSize: 250_000, crc: 0 }]));
    await expectCheckpointError(file, 'unsafe', /zip member "bomb.npy" inflates to more than its declared 250000 bytes/);
    await expectCheckpointError(file, 'unsafe', /inflates to more than its declared 250000 bytes/, { opening: member(file, 0, 1 << 30) });
  });

  describe('a member of more than 16 MiB inflates piece by piece into the scratch file, checked as it goes', () => {
    it('one that inflates past its declared 20 MiB stops there (a zip bomb)', async () => {
      const file = write('liar20.npz', zipOf([{ name: 'bomb.npy', data: zeros200, method: 8, uncompressedSize: 20 << 20, crc: 0 }]));
      await expectCheckpointError(file, 'unsafe', /zip member "bomb.npy" inflates to more than its declared 20971520 bytes/);
    });

    it('one whose deflate stream is cut short', async () => {
      const sparse = await deflatedSparse(100);
      const cut = sparse.subarray(0, sparse.length >> 1);
      const file = write('cut.npz', zipOf([{ name: 'a.npy', data: cut, method: 8, uncompressedSize: 100 << 20, crc: 0 }]));
      await expectCheckpointError(
        file,
        'corrupt',
        /zip member "a.npy" (does not inflate|inflates to only \d+ bytes but declares 104857600)/,
      );
    });

    it('one that fails its CRC-32 once inflated', async () => {
      const data = await deflatedSparse(100);
      const file = write('crc100.npz', zipOf([{ name: 'a.npy', data, method: 8, uncompressedSize: 100 << 20, crc: 1234 }]));
      await expectCheckpointError(file, 'corrupt', /zip member "a.npy" fails its CRC-32 check/);
    });
  });

  it('a deflated member declaring far fewer bytes than its compressed data', async () => {
    const file = write('small-claim.npz', zipOf([{ name: 'bomb.npy', data: zeros200, method: 8, uncompressedSize: 1000, crc: 0 }]));
    await expectCheckpointError(file, 'corrupt', /zip member "bomb.npy" has \d+ compressed bytes for 1000 uncompressed/);
  });

  it('a deflated member that does not inflate', async () => {
    const garbage = Buffer.from('this is not deflate data at all, not at all');
    const file = write('garbage.npz', zipOf([{ name: 'a.npy', data: garbage, method: 8, uncompressedSize: 100 }]));
    await expectCheckpointError(file, 'corrupt', /zip member "a.npy" does not inflate/);
  });

  it('a member that fails its CRC-32', async () => {
    const file = write('crc.npz', zipOf([{ name: 'a.npy', data: Buffer.alloc(16, 1), crc: 1234 }]));
    await expectCheckpointError(file, 'corrupt', /zip member "a.npy" fails its CRC-32 check/, { opening: member(file, 0, 1000) });
  });

  it('an unsupported compression method', async () => {
    const file = write('lzma.npz', zipOf([{ name: 'a.npy', data: Buffer.alloc(16), method: 14 as 8 }]));
    await expectCheckpointError(file, 'unsupported', /compression method 14/, { opening: member(file, 0, 1000) });
    const checkpoint = await openCheckpoint(file);
    assert.deepEqual(checkpoint.skipped, [{ name: 'a', reason: 'zip compression method 14 is not supported' }]);
  });

  it('random bytes', async () => {
    let seed = 12345;
    const random = Buffer.alloc(4096);
    for (let i = 0; i < random.length; i++) random[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    const file = write('random.npz', random);
    await expectCheckpointError(file, 'corrupt', /not a NumPy file/);
    await expectCheckpointError(file, 'truncated', /not a complete zip archive: it has no zip directory at its end/, {
      opening: directory(file),
    });
    random.writeUInt32LE(0x04034b50, 0); // a zip signature in front of noise
    const zipLike = write('random-zip.npz', random);
    await expectCheckpointError(zipLike, 'truncated', /not a complete zip archive: it has no zip directory at its end/);
  });

  it('a PyTorch checkpoint named .npz is recognised as such', async () => {
    const file = write('model.npz', readFileSync(fixture('numpy', 'torch_state.pt')));
    await expectCheckpointError(file, 'unsupported', /PyTorch checkpoint/);
  });

  it('names that would escape a folder are listed with a warning, not refused', async () => {
    const npy = readFileSync(fixture('numpy', 'w_c.weight.npy'));
    const file = write('slip.npz', zipOf([{ name: '../evil.weight.npy', data: npy }]));
    const [entry] = await directory(file);
    assert.equal(entry.name, '../evil.weight.npy');
    assert.match(entry.nameWarning ?? '', /invalid relative path/);
    assert.deepEqual(
      (await openCheckpoint(file)).tensors.map((t) => t.name),
      ['../evil.weight'],
    );
  });

  it('an array of an unsupported dtype is skipped with the reason; the others are still read', async () => {
    const good = readFileSync(fixture('numpy', 'w_c.weight.npy'));
    const header = "{'descr': '|V2', 'fortran_order': False, 'shape': (4,), }";
    const text = header + ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
    const v2 = Buffer.concat([
      Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]),
      Buffer.from([text.length & 0xff, text.length >> 8]),
      Buffer.from(text, 'latin1'),
      Buffer.alloc(8),
    ]);
    const file = write(
      'mixed.npz',
      zipOf([
        { name: 'bf16.weight.npy', data: v2 },
        { name: 'fc.weight.npy', data: good },
      ]),
    );
    const checkpoint = await openCheckpoint(file);
    assert.deepEqual(
      checkpoint.tensors.map((t) => t.name),
      ['fc.weight'],
    );
    assert.equal(checkpoint.skipped.length, 1);
    assert.equal(checkpoint.skipped[0].name, 'bf16.weight');
    assert.match(checkpoint.skipped[0].reason, /dtype descr '\|V2' is not supported/);
  });

  it('members that are not .npy arrays are listed as skipped', async () => {
    const npy = readFileSync(fixture('numpy', 'w_c.weight.npy'));
    const file = write(
      'extra.npz',
      zipOf([
        { name: 'README.txt', data: Buffer.from('hello') },
        { name: 'fc.weight.npy', data: npy },
      ]),
    );
    const checkpoint = await openCheckpoint(file);
    assert.deepEqual(
      checkpoint.tensors.map((t) => t.name),
      ['fc.weight'],
    );
    assert.deepEqual(checkpoint.skipped, [{ name: 'README.txt', reason: 'not a .npy member' }]);
  });

  it('.npz members share one memory budget: inflated members, byte swaps and Fortran copies', async () => {
    const npy = readFileSync(fixture('numpy', 'w_c.weight.npy'));
    const dataBytes = 16 * 32 * 4;
    const deflated = { data: deflateRawSync(npy), method: 8 as const, uncompressedSize: npy.length, crc: crc32(npy) };
    const file = write(
      'budget.npz',
      zipOf([
        { name: 'a.weight.npy', ...deflated },
        { name: 'b.weight.npy', ...deflated },
        { name: 'c.weight.npy', data: npy },
      ]),
    );
    // Room for one inflated member and nothing else; the stored member needs no copy.
    const checkpoint = await withFile(file, (f) => readNumpy(f, new DerivedBytesBudget(npy.length + dataBytes - 1)));
    assert.deepEqual(
      checkpoint.tensors.map((t) => [t.name, t.source.kind]),
      [
        ['a.weight', 'inline'],
        ['c.weight', 'file'],
      ],
    );
    assert.deepEqual(
      checkpoint.skipped.map((s) => s.name),
      ['b.weight'],
    );
    assert.match(
      checkpoint.skipped[0].reason,
      new RegExp(
        `^compressed zip member "b\\.weight\\.npy" needs a ${(npy.length / 1024).toFixed(1)} KiB copy, and the copies made for this file would pass`,
      ),
    );
  });

  it('memberSource: a stored member is a file range, a deflated one is inflated only within the budget', async () => {
    const data = Buffer.from('0123456789'.repeat(50));
    const file = write(
      'members.zip',
      zipOf([
        { name: 'stored', data: data },
        { name: 'deflated', data: deflateRawSync(data), method: 8, uncompressedSize: data.length, crc: crc32(data) },
      ]),
    );
    await withFile(file, async (f) => {
      const [stored, deflated] = await readZipDirectory(f);
      const budget = new DerivedBytesBudget(data.length);
      const range = await memberSource(f, stored, budget);
      assert.equal(range.kind, 'file');
      if (range.kind === 'file') assert.deepEqual(Buffer.from(await f.read(range.offset, range.length)), data);
      const inline = await memberSource(f, deflated, budget);
      assert.ok(inline.kind === 'inline' && Buffer.from(inline.bytes).equals(data));
      const refused = await memberSource(f, deflated, budget);
      assert.equal(refused.kind, 'skipped');
    });
  });
});
