import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Checkpoint } from '../../../../src/core/checkpoint';
import { writeTorch } from '../../../../src/core/formats/pytorch/writer';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import type { StoredEdit } from '../../../../src/core/formats/writer';
import type { StoredRange, StoredZipMember } from '../../../../src/core/storedTensor';
import { fixture, makeTempDir } from '../../../helpers/fixtures';
import { assertMembersCheck, SHARED, zeroEveryThird } from '../../../helpers/writerRoundTrip';

describe('pytorch writer', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());
  const folder = () => mkdtempSync(path.join(tmp.dir, 'out-'));

  for (const [file, name] of [
    [fixture('pytorch', 'mlp.pt'), 'fc1.weight'],
    [fixture('pytorch', 'mlp_zip64.pt'), 'conv.weight'],
    [fixture('pytorch', 'mlp_deflated.pt'), 'fc2.weight'],
    [fixture('pytorch', 'pruned.pt'), 'fc1.weight'],
    [path.join(SHARED, 'digits_mlp.pt'), 'fc2.weight'],
  ] as const) {
    it(`torch.save zip (${path.basename(file)}): ${name} is edited, its record's CRC-32 rewritten, all else kept`, async () => {
      const { output } = await zeroEveryThird(writeTorch, file, name, folder(), 'out.pt');
      await assertMembersCheck(output);
    });
  }

  it('a legacy file stays legacy: only the edited range differs', async () => {
    const file = fixture('pytorch', 'mlp_legacy.pt');
    const { output, edit } = await zeroEveryThird(writeTorch, file, 'fc1.weight', folder(), 'out.pt');
    const [input, result] = [readFileSync(file), readFileSync(output)];
    assert.equal(result.length, input.length);
    const { offset, length } = edit.target as StoredRange;
    for (let i = 0; i < input.length; i++) if (input[i] !== result[i]) assert.ok(i >= offset && i < offset + length, `byte ${i} changed`);
  });

  // Edits past the end or overlapping are refused by the same writer as NumPy's (its test covers them).
  describe('refuses edits it cannot apply exactly', () => {
    const write = async (file: string, edits: (checkpoint: Checkpoint) => StoredEdit[], pattern: RegExp) => {
      const checkpoint = await openCheckpoint(file);
      const request = { checkpoint, edits: edits(checkpoint), provenance: {}, output: 'out.pt', folder: folder() };
      await assert.rejects(writeTorch(request), pattern);
    };
    const target = (checkpoint: Checkpoint, name: string) => checkpoint.tensors.find((t) => t.name === name)!.stored as StoredRange;
    const legacy = fixture('pytorch', 'mlp_legacy.pt');

    it('of another file, or of a range in a zip', async () => {
      await write(
        legacy,
        (c) => [{ target: { ...target(c, 'fc1.bias'), file: fixture('pytorch', 'mlp.pt') }, bytes: new Uint8Array(32) }],
        /not a byte range of this file/,
      );
      const zip = fixture('pytorch', 'mlp.pt');
      await write(
        zip,
        (c) => [
          {
            target: c.tensors[0].stored as StoredZipMember,
            bytes: new Uint8Array(c.tensors[0].source.kind === 'file' ? c.tensors[0].source.length : 0),
          },
          { target: { kind: 'range', file: zip, offset: 0, length: 4, byteOrder: 'little' }, bytes: new Uint8Array(4) },
        ],
        /not a member of this zip archive/,
      );
    });
  });
});
