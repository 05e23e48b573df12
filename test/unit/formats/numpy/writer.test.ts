import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Checkpoint } from '../../../../src/core/checkpoint';
import { writeNumpy } from '../../../../src/core/formats/numpy/writer';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import type { StoredEdit } from '../../../../src/core/formats/writer';
import type { StoredRange, StoredZipMember } from '../../../../src/core/storedTensor';
import { fixture, makeTempDir } from '../../../helpers/fixtures';
import { assertMembersCheck, SHARED, zeroEveryThird } from '../../../helpers/writerRoundTrip';

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
      const { output } = await zeroEveryThird(writeNumpy, file, name, folder(), path.basename(file));
      await assertMembersCheck(output);
    });
  }

  for (const [file, name] of [
    [fixture('numpy', 'w_c.weight.npy'), 'w_c.weight'],
    [fixture('numpy', 'w_bigendian.weight.npy'), 'w_bigendian.weight'],
  ] as const) {
    it(`.npy (${path.basename(file)}): only the edited range differs`, async () => {
      const { output, edit } = await zeroEveryThird(writeNumpy, file, name, folder(), path.basename(file));
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
