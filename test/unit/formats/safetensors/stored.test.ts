import { strict as assert } from 'node:assert';
import { readFileSync, realpathSync } from 'node:fs';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { fixture } from '../../../helpers/fixtures';

/** The tensors of a safetensors file by name, with their byte ranges from the header as the file writes them. */
function headerRanges(file: string): Map<string, { offset: number; length: number }> {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets: [number, number] }>;
  const ranges = new Map<string, { offset: number; length: number }>();
  for (const [name, info] of Object.entries(header)) {
    if (name !== '__metadata__')
      ranges.set(name, { offset: 8 + n + info.data_offsets[0], length: info.data_offsets[1] - info.data_offsets[0] });
  }
  return ranges;
}

describe('safetensors: how each tensor is stored', () => {
  it("a tensor's record is the little-endian range its header's data_offsets give, after the header", async () => {
    const file = fixture('digits_mlp.safetensors');
    const ranges = headerRanges(file);
    const checkpoint = await openCheckpoint(file);
    assert.equal(checkpoint.tensors.length, ranges.size);
    for (const t of checkpoint.tensors) {
      const want = ranges.get(t.name)!;
      assert.deepEqual(t.stored, { kind: 'range', file, offset: want.offset, length: want.length, byteOrder: 'little' }, t.name);
      assert.deepEqual(t.source, { kind: 'file', path: file, offset: want.offset, length: want.length }, t.name);
    }
  });

  it("a sharded model's tensors each name their own shard file and its header's range", async () => {
    const checkpoint = await openCheckpoint(fixture('shards', 'sharded', 'model.safetensors.index.json'));
    const index = JSON.parse(readFileSync(fixture('shards', 'sharded', 'model.safetensors.index.json'), 'utf8')) as {
      weight_map: Record<string, string>;
    };
    for (const t of checkpoint.tensors) {
      const shard = realpathSync(fixture('shards', 'sharded', index.weight_map[t.name]));
      const want = headerRanges(shard).get(t.name)!;
      assert.deepEqual(t.stored, { kind: 'range', file: shard, offset: want.offset, length: want.length, byteOrder: 'little' }, t.name);
    }
  });
});
