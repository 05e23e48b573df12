import { strict as assert } from 'node:assert';
import { mkdirSync, realpathSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { expectCheckpointError } from '../../../helpers/errors';
import { makeTempDir } from '../../../helpers/fixtures';

/** A safetensors file of float32 tensors (name → values), written here. */
function safetensors(tensors: Record<string, number[]>): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, values] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: [values.length], data_offsets: [offset, offset + 4 * values.length] };
    offset += 4 * values.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([size, json, ...Object.values(tensors).map((v) => Buffer.from(new Float32Array(v).buffer))]);
}

describe('sharded safetensors hostile input: shard counts, siblings leaving the folder, quoted names', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let count = 0;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());
  const dir = () => {
    const d = path.join(tmp.dir, `d${count++}`);
    mkdirSync(d);
    return d;
  };
  const A = 'model-00001-of-00002.safetensors';
  const B = 'model-00002-of-00002.safetensors';

  it('an index naming more distinct shards than the cap is refused before any is opened', async () => {
    const weightMap = Object.fromEntries(Array.from({ length: 100_001 }, (_, i) => [`t${i}`, `shard-${i}.safetensors`]));
    const index = path.join(dir(), 'model.safetensors.index.json');
    writeFileSync(index, JSON.stringify({ weight_map: weightMap }));
    await expectCheckpointError(index, 'unsupported', /weight_map names more than 100000 shard files/);
  });

  it('an index naming 50 000 distinct shards, none present, fails on the first missing one', async () => {
    const weightMap = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`t${i}`, `shard-${i}.safetensors`]));
    const index = path.join(dir(), 'model.safetensors.index.json');
    writeFileSync(index, JSON.stringify({ weight_map: weightMap }));
    await expectCheckpointError(index, 'io', /shard "shard-0.safetensors" not found/);
  });

  it('without an index, a sibling shard linking outside the folder is refused, not read', async () => {
    const d = dir();
    const outside = path.join(tmp.dir, 'outside-secret.safetensors');
    writeFileSync(outside, safetensors({ secret: [42] }));
    writeFileSync(path.join(d, A), safetensors({ a: [1, 0] }));
    symlinkSync(outside, path.join(d, B));
    await expectCheckpointError(path.join(d, A), 'unsafe', /shard "model-00002-of-00002.safetensors" links outside the model's folder/);
  });

  it('an index linking outside the folder is refused', async () => {
    const d = dir();
    const outside = path.join(tmp.dir, 'outside.index.json');
    writeFileSync(outside, JSON.stringify({ weight_map: { a: A, b: B } }));
    writeFileSync(path.join(d, A), safetensors({ a: [1, 0] }));
    symlinkSync(outside, path.join(d, 'model.safetensors.index.json'));
    await expectCheckpointError(path.join(d, A), 'unsafe', /index "model.safetensors.index.json" links outside the model's folder/);
  });

  it('siblings inside the folder (a link among them) make one model; a directory in place of a sibling leaves the shard alone', async () => {
    const d = dir();
    mkdirSync(path.join(d, 'store'));
    writeFileSync(path.join(d, A), safetensors({ a: [1, 0] }));
    writeFileSync(path.join(d, 'store', 'b.safetensors'), safetensors({ b: [0, 0, 3] }));
    symlinkSync(path.join(d, 'store', 'b.safetensors'), path.join(d, B));
    const whole = await openCheckpoint(path.join(d, A));
    assert.deepEqual(
      whole.tensors.map((t) => t.name),
      ['a', 'b'],
    );
    assert.equal(whole.metadata['shard files'], `${A}, ${B}`);

    const e = dir();
    writeFileSync(path.join(e, A), safetensors({ a: [1, 0] }));
    mkdirSync(path.join(e, B));
    const alone = await openCheckpoint(path.join(e, A));
    assert.deepEqual(
      alone.tensors.map((t) => t.name),
      ['a'],
    );
    assert.equal(alone.metadata.shards, undefined);
  });

  it('a tensor in two sibling shards is an error naming the second', async () => {
    const d = dir();
    writeFileSync(path.join(d, A), safetensors({ a: [1] }));
    writeFileSync(path.join(d, B), safetensors({ a: [2] }));
    await expectCheckpointError(path.join(d, A), 'corrupt', /tensor "a" is also in model-00001-of-00002.safetensors/, {
      named: realpathSync(path.join(d, B)),
    });
  });

  it('tensor and shard names from the index are quoted, control characters escaped', async () => {
    const d = dir();
    writeFileSync(path.join(d, A), safetensors({ a: [1] }));
    const index = path.join(d, 'model.safetensors.index.json');
    writeFileSync(index, JSON.stringify({ weight_map: { a: A, 'evil\n\u001b[2J': A } }));
    const e = await expectCheckpointError(
      index,
      'corrupt',
      /weight_map puts tensor "evil\\n\\u001b\[2J" in "model-00001-of-00002.safetensors"/,
    );
    // eslint-disable-next-line no-control-regex -- looks for raw control characters in a message
    assert.ok(!/[\n\u001b]/.test(e.message));
    writeFileSync(index, JSON.stringify({ weight_map: { a: 'x\ny.safetensors' } }));
    await expectCheckpointError(index, 'io', /shard "x\\ny.safetensors" not found/);
  });

  it('an index larger than any read is corrupt, without being read', async () => {
    const index = path.join(dir(), 'model.safetensors.index.json');
    writeFileSync(index, '');
    // A sparse file: its size is checked before anything is read.
    truncateSync(index, 100_000_001);
    await expectCheckpointError(index, 'corrupt', /a 100000001-byte JSON file is larger than any file of its kind read here/);
  });
});
