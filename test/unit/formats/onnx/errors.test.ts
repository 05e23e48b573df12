import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from '../../../../src/core/errors';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { expectCheckpointError } from '../../../helpers/errors';
import { fixture, makeTempDir } from '../../../helpers/fixtures';

/** What a model cut at an arbitrary byte is: truncated, or a prefix that parses but is no model. */
const CUT: readonly CheckpointError['problem'][] = ['truncated', 'corrupt'];

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
    await expectCheckpointError(write('empty.onnx', ''), 'empty', /the file is empty/);
  });

  it('a text file named .onnx', async () => {
    await expectCheckpointError(
      write('notes.onnx', 'these are my notes, not a model\n'),
      'corrupt',
      /malformed protobuf|not an ONNX model/,
    );
  });

  it('a JSON file named .onnx', async () => {
    const e = await expectCheckpointError(write('config.onnx', '{"hidden_size": 768}'), 'corrupt', /malformed protobuf: invalid wire type/);
    assert.equal(e.offset, 0);
  });

  it('a real model cut in half', async () => {
    const e = await expectCheckpointError(
      write('half.onnx', real.subarray(0, real.length >> 1)),
      'truncated',
      /runs past its message or the file/,
    );
    assert.equal(typeof e.offset, 'number');
  });

  for (const cut of [1, 2, 50, 300, real.length - 1]) {
    it(`a real model cut after ${cut} bytes never crashes or hangs`, async () => {
      await expectCheckpointError(write(`cut${cut}.onnx`, real.subarray(0, cut)), CUT, /malformed protobuf|not an ONNX model/);
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
    await expectCheckpointError(
      write('dims.onnx', bytes),
      'corrupt',
      /tensor "fc3.bias": raw_data holds 40 bytes but float32\[11\] needs 44/,
    );
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
    await expectCheckpointError(
      modelPointingAt('dotdot', '../secret.x'),
      'unsafe',
      /external data location "..\/secret.x" leaves the model's folder/,
    );
  });

  it('refuses an absolute path', async () => {
    await expectCheckpointError(modelPointingAt('absolute', '/etc/passwd'), 'unsafe', /location "\/etc\/passwd" leaves the model's folder/);
  });

  it('refuses a link that leads outside the folder', async () => {
    writeFileSync(path.join(tmp.dir, 'outside.bin'), weights);
    const file = modelPointingAt('linked', 'weights.bin');
    symlinkSync(path.join(tmp.dir, 'outside.bin'), path.join(tmp.dir, 'linked', 'weights.bin'));
    await expectCheckpointError(file, 'unsafe', /links outside the model's folder/);
  });

  it('a missing or short external file is a clear error', async () => {
    await expectCheckpointError(modelPointingAt('missing', 'weights.bin'), 'io', /external data location "weights.bin" not found/);
    writeFileSync(path.join(tmp.dir, 'missing', 'weights.bin'), weights.subarray(0, 9000));
    await expectCheckpointError(path.join(tmp.dir, 'missing', 'model.onnx'), 'truncated', /external data needs bytes/);
  });
});
