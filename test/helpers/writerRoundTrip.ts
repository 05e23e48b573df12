import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Checkpoint, TensorEntry, TensorSource } from '../../src/core/checkpoint';
import { itemSize } from '../../src/core/dtype';
import { openCheckpoint } from '../../src/core/formats/registry';
import { readZipDirectory, readZipMember } from '../../src/core/formats/shared/zip';
import type { CheckpointWriter, StoredEdit } from '../../src/core/formats/writer';
import { withFile } from '../../src/core/randomAccessFile';
import type { StoredRange, StoredZipMember } from '../../src/core/storedTensor';
import { readSpan } from '../../src/core/tensorBytes';
import { REPO } from './fixtures';

/**
 * Round trips of the writers of byte-range and zip formats (.pt, .npy, .npz): every third element
 * of one tensor zeroed through its stored bytes, the output re-opened and compared.
 */

export const SHARED = process.env.SPARSITY_LENS_SHARED_DATA ?? path.join(REPO, '..', 'shared', 'data');

export const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * The stored bytes that hold `t`'s values and their element size: a pruning pair's mask (zeroing
 * it prunes), a big-endian array's bytes before their swap, else the tensor's own.
 */
function editTarget(t: TensorEntry): { target: StoredRange | StoredZipMember; size: number } {
  const stored = t.stored.kind === 'derived' && t.stored.op === 'prunePair' ? t.stored.mask : t;
  const target = stored.stored.kind === 'derived' && stored.stored.op === 'byteSwap' ? stored.stored.from : stored.stored;
  assert.ok(target.kind === 'range' || target.kind === 'zipMember', `${t.name} is stored as it is`);
  return { target, size: itemSize(stored.dtype) };
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
export async function zeroEveryThird(
  writer: CheckpointWriter,
  file: string,
  name: string,
  folder: string,
  outputName: string,
): Promise<{ output: string; edit: StoredEdit }> {
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
    output: path.join('/elsewhere', outputName),
    folder,
  };
  assert.deepEqual(await writer(request), [outputName]);
  const output = path.join(folder, outputName);
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
export async function assertMembersCheck(file: string): Promise<void> {
  await withFile(file, async (f) => {
    for (const entry of await readZipDirectory(f)) await readZipMember(f, entry, entry.uncompressedSize);
  });
}
