import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from '../../../../src/core/errors';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { fixture, makeTempDir } from '../../../helpers/fixtures';

async function rejection(file: string): Promise<CheckpointError> {
  const error = await openCheckpoint(file).then(
    () => assert.fail(`${path.basename(file)} should be rejected`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof CheckpointError, `a CheckpointError, not ${String(error)}`);
  assert.equal(error.file, file);
  assert.ok(error.message.startsWith(`${file}: `));
  return error;
}

describe('ONNX: bad input gives a typed error naming the file and the problem', () => {
  const real = readFileSync(fixture('digits_mlp.onnx'));
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());
  const write = (name: string, bytes: Buffer | string) => {
    const file = path.join(tmp.dir, name);
    writeFileSync(file, bytes);
    return file;
  };

  it('an empty .onnx file', async () => {
    assert.equal((await rejection(write('empty.onnx', ''))).problem, 'empty');
  });

  it('a text file named .onnx', async () => {
    const e = await rejection(write('notes.onnx', 'these are my notes, not a model\n'));
    assert.match(e.message, /malformed protobuf|not an ONNX model/);
  });

  it('a JSON file named .onnx', async () => {
    const e = await rejection(write('config.onnx', '{"hidden_size": 768}'));
    assert.match(e.message, /malformed protobuf: invalid wire type/);
    assert.equal(e.offset, 0);
  });

  it('a real model cut in half', async () => {
    const e = await rejection(write('half.onnx', real.subarray(0, real.length >> 1)));
    assert.equal(e.problem, 'truncated');
    assert.match(e.message, /runs past its message or the file/);
    assert.equal(typeof e.offset, 'number');
  });

  for (const cut of [1, 2, 50, 300, real.length - 1]) {
    it(`a real model cut after ${cut} bytes never crashes or hangs`, async () => {
      await rejection(write(`cut${cut}.onnx`, real.subarray(0, cut)));
    });
  }

  it('random bytes never crash or hang', async () => {
    let seed = 7;
    for (let trial = 0; trial < 50; trial++) {
      const bytes = Buffer.alloc(200 + trial * 13);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 16;
      bytes[0] = 0x08; // looks like an ONNX start, so the walker runs on it
      const file = write(`random${trial}.onnx`, bytes);
      await openCheckpoint(file).then(
        () => undefined,
        (e: unknown) => assert.ok(e instanceof CheckpointError, `trial ${trial}: ${String(e)}`),
      );
    }
  });

  it('a raw_data payload whose size does not match its dims', async () => {
    // Change fc3.bias dims from [10] to [11]: one byte in the dims varint.
    const bytes = Buffer.from(real);
    const name = Buffer.from('fc3.bias');
    const at = bytes.indexOf(Buffer.concat([Buffer.from([0x08, 0x0a, 0x10, 0x01, 0x42, name.length]), name]));
    assert.ok(at >= 0, 'found the fc3.bias TensorProto');
    bytes[at + 1] = 0x0b;
    const e = await rejection(write('dims.onnx', bytes));
    assert.match(e.message, /tensor "fc3.bias": raw_data holds 40 bytes but float32\[11\] needs 44/);
  });
});

describe('ONNX external data: only files inside the model folder are read', () => {
  const model = readFileSync(fixture('generated', 'external', 'model.onnx'));
  const weights = readFileSync(fixture('generated', 'external', 'weights.bin'));
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());

  /** The model with its 11-character location "weights.bin" replaced (same length keeps the protobuf valid). */
  function modelPointingAt(folder: string, location: string): string {
    assert.equal(location.length, 'weights.bin'.length);
    const bytes = Buffer.from(model.toString('latin1').split('weights.bin').join(location), 'latin1');
    mkdirSync(path.join(tmp.dir, folder), { recursive: true });
    const file = path.join(tmp.dir, folder, 'model.onnx');
    writeFileSync(file, bytes);
    return file;
  }

  it('reads the weights beside the model', async () => {
    const checkpoint = await openCheckpoint(fixture('generated', 'external', 'model.onnx'));
    const fc1 = checkpoint.tensors.find((t) => t.name === 'fc1.weight')!;
    assert.equal(fc1.source.kind, 'file');
    assert.ok(fc1.source.kind === 'file' && fc1.source.path.endsWith('weights.bin'));
  });

  it('refuses a ".." escape', async () => {
    writeFileSync(path.join(tmp.dir, 'secret.x'), weights);
    const e = await rejection(modelPointingAt('dotdot', '../secret.x'));
    assert.equal(e.problem, 'unsafe');
    assert.match(e.message, /external data location "..\/secret.x" leaves the model's folder/);
  });

  it('refuses an absolute path', async () => {
    const e = await rejection(modelPointingAt('absolute', '/etc/passwd'));
    assert.equal(e.problem, 'unsafe');
    assert.match(e.message, /location "\/etc\/passwd" leaves the model's folder/);
  });

  it('refuses a link that leads outside the folder', async () => {
    writeFileSync(path.join(tmp.dir, 'outside.bin'), weights);
    const file = modelPointingAt('linked', 'weights.bin');
    symlinkSync(path.join(tmp.dir, 'outside.bin'), path.join(tmp.dir, 'linked', 'weights.bin'));
    const e = await rejection(file);
    assert.equal(e.problem, 'unsafe');
    assert.match(e.message, /links outside the model's folder/);
  });

  it('a missing or short external file is a clear error', async () => {
    const missing = await rejection(modelPointingAt('missing', 'weights.bin'));
    assert.match(missing.message, /external data location "weights.bin" not found/);
    writeFileSync(path.join(tmp.dir, 'missing', 'weights.bin'), weights.subarray(0, 9000));
    const short = await rejection(path.join(tmp.dir, 'missing', 'model.onnx'));
    assert.equal(short.problem, 'truncated');
  });
});
