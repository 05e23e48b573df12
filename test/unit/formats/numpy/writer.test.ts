import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Checkpoint, TensorEntry, TensorSource } from '../../../../src/core/checkpoint';
import { itemSize } from '../../../../src/core/dtype';
import { writeNumpy } from '../../../../src/core/formats/numpy/writer';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { readZipDirectory, readZipMember } from '../../../../src/core/formats/shared/zip';
import type { StoredEdit } from '../../../../src/core/formats/writer';
import { withFile } from '../../../../src/core/randomAccessFile';
import type { StoredRange, StoredZipMember } from '../../../../src/core/storedTensor';
import { readSpan } from '../../../../src/core/tensorBytes';
import { fixture, makeTempDir, REPO } from '../../../helpers/fixtures';

const SHARED = process.env.SPARSITY_LENS_SHARED_DATA ?? path.join(REPO, '..', 'shared', 'data');

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The stored bytes that hold `t`'s values (big-endian ones before their swap) and their element size. */
function editTarget(t: TensorEntry): { target: StoredRange | StoredZipMember; size: number } {
  const target = t.stored.kind === 'derived' && t.stored.op === 'byteSwap' ? t.stored.from : t.stored;
  assert.ok(target.kind === 'range' || target.kind === 'zipMember', `${t.name} is stored in element order`);
  return { target, size: itemSize(t.dtype) };
}

/** The bytes `target` names, as the file holds them (a deflated member inflated). */
async function storedBytes(target: StoredRange | StoredZipMember): Promise<Uint8Array> {
  if (target.kind === 'range') return withFile(target.file, (f) => f.read(target.offset, target.length));
  return withFile(target.archive, async (f) => {
    const entry = (await readZipDirectory(f)).find((e) => e.localHeaderOffset === target.localHeaderOffset)!;
    return (await readZipMember(f, entry, entry.uncompressedSize)).slice(target.offset, target.offset + target.length);
  });
}

const allBytes = (source: TensorSource) => readSpan(source, 0, source.kind === 'file' ? source.length : source.bytes.length);

/**
 * Writes `file` with every third element of tensor `name`'s stored bytes zeroed, then checks the
 * output as it re-opens: that tensor's zeroed elements read 0 and its others as before, every
 * other tensor's bytes unchanged, the input untouched. Returns the output and the edit.
 */
async function zeroEveryThird(file: string, name: string, folder: string): Promise<{ output: string; edit: StoredEdit }> {
  const before = sha256(file);
  const input = await openCheckpoint(file);
  const tensor = input.tensors.find((t) => t.name === name)!;
  const { target, size } = editTarget(tensor);
  const bytes = await storedBytes(target);
  for (let i = 0; i < bytes.length / size; i += 3) bytes.fill(0, i * size, (i + 1) * size);
  const edit: StoredEdit = { target, bytes };
  const request = {
    checkpoint: input,
    edits: [edit],
    provenance: { 'sparsity_lens.pruned': 'yes' },
    // Named as the input: an .npy file's array is named after its file.
    output: path.join('/elsewhere', path.basename(file)),
    folder,
  };
  assert.deepEqual(await writeNumpy(request), [path.basename(file)]);
  const output = path.join(folder, path.basename(file));
  await assertRewritten(input, await openCheckpoint(output), name);
  assert.equal(sha256(file), before, 'the input is untouched');
  return { output, edit };
}

/** `output` holds `input`'s tensors, `edited`'s every third element 0 (float32) and the others unchanged. */
async function assertRewritten(input: Checkpoint, output: Checkpoint, edited: string): Promise<void> {
  assert.deepEqual(
    output.tensors.map((t) => t.name),
    input.tensors.map((t) => t.name),
  );
  for (const [i, tensor] of input.tensors.entries()) {
    const [was, is] = [await allBytes(tensor.source), await allBytes(output.tensors[i].source)];
    if (tensor.name !== edited) {
      assert.ok(Buffer.from(is).equals(was), `${tensor.name} is unchanged`);
      continue;
    }
    assert.equal(tensor.dtype, 'float32');
    // Copies: an inline source may be a Buffer, whose slice() is a view of a larger pool.
    const [before, after] = [new Float32Array(Uint8Array.from(was).buffer), new Float32Array(Uint8Array.from(is).buffer)];
    assert.ok(
      before.some((v, e) => e % 3 === 0 && v !== 0),
      'the edit zeroes some non-zero values',
    );
    for (let e = 0; e < before.length; e++) {
      if (e % 3 === 0) assert.ok(after[e] === 0, `${edited}[${e}] is 0`);
      else assert.ok(Object.is(after[e], before[e]), `${edited}[${e}] is unchanged`);
    }
  }
}

/** Every member of the zip `file` reads back with its CRC-32. */
async function assertMembersCheck(file: string): Promise<void> {
  await withFile(file, async (f) => {
    for (const entry of await readZipDirectory(f)) await readZipMember(f, entry, entry.uncompressedSize);
  });
}

describe('numpy writer', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());
  const folder = () => mkdtempSync(path.join(tmp.dir, 'out-'));

  for (const [file, name] of [
    [fixture('numpy', 'mlp.npz'), 'fc1.weight'],
    [fixture('numpy', 'mlp_zip64.npz'), 'fc2.weight'],
    [fixture('numpy', 'mlp_compressed.npz'), 'fc1.weight'],
    [path.join(SHARED, 'digits_mlp.npz'), 'fc2.weight'],
  ] as const) {
    it(`.npz (${path.basename(file)}): ${name} is edited, its member's CRC-32 rewritten, all else kept`, async () => {
      const { output } = await zeroEveryThird(file, name, folder());
      await assertMembersCheck(output);
    });
  }

  for (const [file, name] of [
    [fixture('numpy', 'w_c.weight.npy'), 'w_c.weight'],
    [fixture('numpy', 'w_bigendian.weight.npy'), 'w_bigendian.weight'],
  ] as const) {
    it(`.npy (${path.basename(file)}): only the edited range differs`, async () => {
      const { output, edit } = await zeroEveryThird(file, name, folder());
      const [input, result] = [readFileSync(file), readFileSync(output)];
      assert.equal(result.length, input.length);
      const { offset, length } = edit.target as StoredRange;
      for (let i = 0; i < input.length; i++) if (input[i] !== result[i]) assert.ok(i >= offset && i < offset + length, `byte ${i} changed`);
    });
  }

  describe('refuses edits it cannot apply exactly', () => {
    const write = async (file: string, edits: (checkpoint: Checkpoint) => StoredEdit[], pattern: RegExp) => {
      const checkpoint = await openCheckpoint(file);
      const request = { checkpoint, edits: edits(checkpoint), provenance: {}, output: path.basename(file), folder: folder() };
      await assert.rejects(writeNumpy(request), pattern);
    };
    const npy = fixture('numpy', 'w_c.weight.npy');
    const npz = fixture('numpy', 'mlp.npz');
    const range = (checkpoint: Checkpoint) => checkpoint.tensors[0].stored as StoredRange;
    const member = (checkpoint: Checkpoint, name: string) => checkpoint.tensors.find((t) => t.name === name)!.stored as StoredZipMember;

    it('past the end of the file or member', async () => {
      const size = readFileSync(npy).length;
      await write(npy, (c) => [{ target: { ...range(c), offset: size - 4, length: 8 }, bytes: new Uint8Array(8) }], /lies outside/);
      await write(npz, (c) => [{ target: { ...member(c, 'fc2.bias'), length: 48 }, bytes: new Uint8Array(48) }], /lies outside/);
    });

    it('overlapping another edit', async () => {
      await write(
        npy,
        (c) => [
          { target: { ...range(c), length: 8 }, bytes: new Uint8Array(8) },
          { target: { ...range(c), offset: range(c).offset + 4, length: 8 }, bytes: new Uint8Array(8) },
        ],
        /overlaps another edit/,
      );
      await write(
        npz,
        (c) => [
          { target: { ...member(c, 'fc1.bias'), length: 8 }, bytes: new Uint8Array(8) },
          { target: { ...member(c, 'fc1.bias'), offset: member(c, 'fc1.bias').offset + 4, length: 8 }, bytes: new Uint8Array(8) },
        ],
        /overlaps another edit/,
      );
    });

    it('of another file', async () => {
      await write(
        npy,
        (c) => [{ target: { ...range(c), file: npz }, bytes: new Uint8Array(range(c).length) }],
        /not a byte range of this file/,
      );
      await write(
        npz,
        (c) => [{ target: { ...member(c, 'fc1.bias'), archive: npy }, bytes: new Uint8Array(member(c, 'fc1.bias').length) }],
        /not a member of this zip archive/,
      );
    });
  });
});
