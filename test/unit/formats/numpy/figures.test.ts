import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { readZipDirectory, readZipMember } from '../../../../src/core/formats/shared/zip';
import { withFile } from '../../../../src/core/randomAccessFile';
import { storageNote } from '../../../../src/core/storedTensor';
import { assertExpectedFigures, NM_PATTERNS, type ExpectedTensor } from '../../../helpers/expectedFigures';
import { BACKENDS, fixture, reportOf } from '../../../helpers/fixtures';

/**
 * Files written by numpy.save, numpy.lib.format.write_array (header versions 2.0 and 3.0),
 * numpy.savez, numpy.savez_compressed and a ZIP64 .npz, with figures computed by numpy in
 * scripts/fixtures/make_numpy_fixtures.py.
 */
interface Expected extends ExpectedTensor {
  descr: string;
  fortranOrder: boolean;
  bigEndian: boolean;
}
interface ZipMember {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  localHeaderOffset: number;
  dataOffset: number;
}

const expected = JSON.parse(readFileSync(fixture('numpy', 'expected.json'), 'utf8')) as {
  files: Record<string, { format: string; npyVersion?: string; members?: string[]; tensors: Expected[] }>;
  zipMembers: Record<string, ZipMember[]>;
};

describe('NumPy .npy and .npz files written by numpy, against numpy', () => {
  for (const [file, info] of Object.entries(expected.files)) {
    for (const backend of BACKENDS) {
      it(`${file} (${backend} kernels)`, async () => {
        const path = fixture('numpy', file);
        const checkpoint = await openCheckpoint(path);
        assert.equal(checkpoint.format, 'numpy');
        assert.deepEqual(checkpoint.skipped, []);
        for (const [key, n, m] of NM_PATTERNS) {
          const report = await reportOf(path, { n, m }, backend);
          assert.equal(report.format, 'numpy');
          assert.deepEqual(
            report.layers.map((l) => l.name),
            info.tensors.map((t) => t.name),
          );
          await assertExpectedFigures(file, report, checkpoint, info.tensors, key, backend);
        }
      });
    }
  }

  it('a C-order little-endian array stays on disk as a byte range; big-endian and Fortran-order arrays are materialized with a note', async () => {
    for (const [file, info] of Object.entries(expected.files)) {
      const checkpoint = await openCheckpoint(fixture('numpy', file));
      for (const want of info.tensors) {
        const tensor = checkpoint.tensors.find((t) => t.name === want.name)!;
        const what = `${file}: ${want.name}`;
        const derived = want.bigEndian || (want.fortranOrder && want.shape.length >= 2);
        const compressed = info.members?.includes('deflate') ?? false;
        assert.equal(tensor.source.kind, derived || compressed ? 'inline' : 'file', what);
        if (want.bigEndian) assert.match(storageNote(tensor.stored) ?? '', /byte-swapped from big-endian/, what);
        if (want.fortranOrder) assert.match(storageNote(tensor.stored) ?? '', /transposed from Fortran order/, what);
        if (!derived) assert.equal(storageNote(tensor.stored), undefined, what);
      }
    }
  });

  it('the Fortran-order and big-endian copies give the same values, element by element, as the C-order file', async () => {
    const bytesOf = async (file: string) => {
      const tensor = (await openCheckpoint(fixture('numpy', file))).tensors[0];
      if (tensor.source.kind === 'inline') return Buffer.from(tensor.source.bytes);
      const { offset, length } = tensor.source;
      return withFile(tensor.source.path, (f) => f.read(offset, length)).then((b) => Buffer.from(b));
    };
    const reference = await bytesOf('w_c.weight.npy');
    for (const file of ['w_fortran.weight.npy', 'w_bigendian.weight.npy', 'w_v2.weight.npy', 'w_v3.weight.npy']) {
      assert.ok(reference.equals(await bytesOf(file)), file);
    }
  });

  it('a single .npy is named after the file; its header version is kept as metadata', async () => {
    const v1 = await openCheckpoint(fixture('numpy', 'w_c.weight.npy'));
    assert.deepEqual(
      v1.tensors.map((t) => [t.name, t.role]),
      [['w_c.weight', 'linear']],
    );
    assert.equal(v1.metadata['npy version'], '1.0');
    assert.equal((await openCheckpoint(fixture('numpy', 'w_v2.weight.npy'))).metadata['npy version'], '2.0');
    assert.equal((await openCheckpoint(fixture('numpy', 'w_v3.weight.npy'))).metadata['npy version'], '3.0');
    assert.deepEqual(
      (await openCheckpoint(fixture('numpy', 'mask.npy'))).tensors.map((t) => [t.name, t.dtype, t.role]),
      [['mask', 'bool', 'other']],
    );
  });

  it('savez, savez_compressed and the ZIP64 archive hold the same arrays', async () => {
    const valuesOf = async (file: string) => {
      const checkpoint = await openCheckpoint(fixture('numpy', file));
      const out: Record<string, string> = {};
      for (const t of checkpoint.tensors) {
        const s = t.source;
        const bytes = s.kind === 'inline' ? s.bytes : await withFile(s.path, (f) => f.read(s.offset, s.length));
        out[t.name] = Buffer.from(bytes).toString('hex');
      }
      return out;
    };
    const stored = await valuesOf('mlp.npz');
    assert.deepEqual(Object.keys(stored), ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
    assert.deepEqual(await valuesOf('mlp_compressed.npz'), stored);
    assert.deepEqual(await valuesOf('mlp_zip64.npz'), stored);
  });
});

describe('zip directory and members, against Python zipfile', () => {
  for (const [file, members] of Object.entries(expected.zipMembers)) {
    it(`${file}: names, methods, sizes, CRCs and local-header data offsets`, async () => {
      await withFile(fixture('numpy', file), async (f) => {
        const entries = await readZipDirectory(f);
        assert.deepEqual(
          entries.map((e) => ({
            name: e.name,
            method: e.method,
            compressedSize: e.compressedSize,
            uncompressedSize: e.uncompressedSize,
            crc32: e.crc32,
            localHeaderOffset: e.localHeaderOffset,
            dataOffset: e.dataOffset,
          })),
          members,
        );
        for (const entry of entries) {
          const bytes = await readZipMember(f, entry, entry.uncompressedSize);
          assert.equal(bytes.length, entry.uncompressedSize, entry.name);
          if (entry.method === 0) assert.deepEqual(bytes, await f.read(entry.dataOffset, entry.compressedSize), entry.name);
        }
      });
    });
  }

  it('PyTorch archives align member data to 64 bytes through the local extra field', async () => {
    await withFile(fixture('numpy', 'torch_state.pt'), async (f) => {
      const entries = await readZipDirectory(f);
      assert.ok(entries.every((e) => e.dataOffset % 64 === 0));
      const version = entries.find((e) => e.name.endsWith('/version'))!;
      assert.match(Buffer.from(await readZipMember(f, version, 16)).toString('latin1'), /^\d+\n$/);
    });
  });
});
