import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { DerivedBytesBudget } from '../../../../src/core/derivedBytes';
import { CheckpointError } from '../../../../src/core/errors';
import { readOnnx } from '../../../../src/core/formats/onnx/reader';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { withFile } from '../../../../src/core/randomAccessFile';
import { expectCheckpointError } from '../../../helpers/errors';
import { makeTempDir, reportOf } from '../../../helpers/fixtures';
import { lenField, ONNX_DTYPE, onnxDims, onnxExternalEntry, tag, varint, varintField } from '../../../helpers/protobuf';

/**
 * Hostile ONNX files built byte by byte (a few lines of protobuf writing): huge typed-data lists,
 * floods of unknown fields, tensors sharing external bytes, names with control characters, a FIFO.
 */

/** ModelProto { ir_version 8, graph { …graph fields } }. */
const model = (...graphFields: Buffer[]) => Buffer.concat([varintField(1, 8), lenField(7, Buffer.concat(graphFields))]);
/** GraphProto.initializer = TensorProto fields. */
const initializer = (...tensorFields: Buffer[]) => lenField(5, Buffer.concat(tensorFields));

describe('ONNX hostile input: bounded memory, typed errors, quoted names', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let count = 0;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());
  const write = (bytes: Buffer, name = `m${count++}.onnx`) => {
    const file = path.join(tmp.dir, name);
    writeFileSync(file, bytes);
    return file;
  };

  it('int32_data packed with 300 000 values (past the call-stack limit of a spread) decodes them all', async () => {
    const n = 300_000;
    // Element i is i % 3 - 1: -1, 0, 1, …, so a third are zero; negatives take 10-byte varints.
    const values = Buffer.concat(Array.from({ length: n }, (_, i) => varint((i % 3) - 1)));
    const file = write(model(initializer(onnxDims(n), varintField(2, ONNX_DTYPE.int32), lenField(8, 'w'), lenField(5, values))));
    const checkpoint = await openCheckpoint(file);
    const w = checkpoint.tensors[0];
    assert.equal(w.dtype, 'int32');
    assert.ok(w.source.kind === 'inline');
    const decoded = new Int32Array(w.source.bytes.buffer, w.source.bytes.byteOffset, n);
    for (const i of [0, 1, 2, 3, n - 1]) assert.equal(decoded[i], (i % 3) - 1, `element ${i}`);
    const layer = (await reportOf(file)).layers[0];
    assert.equal(layer.nnz, n - Math.ceil(n / 3));
  });

  it('int64_data keeps 64-bit values, unpacked and packed fields adding up', async () => {
    const big = 2n ** 40n + 5n;
    const file = write(
      model(
        initializer(
          onnxDims(3),
          varintField(2, ONNX_DTYPE.int64),
          lenField(8, 'w'),
          varintField(7, big),
          lenField(7, Buffer.concat([varint(-2), varint(0)])),
        ),
      ),
    );
    const w = (await openCheckpoint(file)).tensors[0];
    assert.ok(w.source.kind === 'inline');
    assert.deepEqual([...new BigInt64Array(w.source.bytes.slice().buffer)], [big, -2n, 0n]);
  });

  it('a typed-data count that does not match the dims is refused before decoding', async () => {
    const tensor = (n: number, values: Buffer) =>
      write(model(initializer(onnxDims(n), varintField(2, ONNX_DTYPE.int32), lenField(8, 'w'), lenField(5, values))));
    await expectCheckpointError(
      tensor(1_000_000_000, Buffer.alloc(10, 1)),
      'corrupt',
      /tensor "w": at most 10 typed values for 1000000000 elements/,
    );
    await expectCheckpointError(tensor(10, Buffer.alloc(101, 0x81)), 'corrupt', /tensor "w": at least 11 typed values for 10 elements/);
    await expectCheckpointError(tensor(10, Buffer.alloc(11, 1)), 'corrupt', /tensor "w": more than 10 typed values for 10 elements/);
    // Nine values in ten bytes (the last takes two) pass the size check and are counted.
    await expectCheckpointError(
      tensor(10, Buffer.concat([Buffer.alloc(8, 1), varint(300)])),
      'corrupt',
      /tensor "w": 9 typed values for 10 elements/,
    );
  });

  it('a flood of unknown fields is skipped, not kept', async () => {
    // 2 bytes per field: field 15 = 1, half a million times, beside a valid raw_data.
    const junk = Buffer.alloc(1_000_000);
    for (let i = 0; i < junk.length; i += 2) {
      junk[i] = 15 << 3;
      junk[i + 1] = 1;
    }
    const raw = Buffer.alloc(8);
    raw.writeFloatLE(1.5, 4);
    const file = write(model(initializer(onnxDims(2), varintField(2, ONNX_DTYPE.float), lenField(8, 'w'), lenField(9, raw), junk)));
    const layer = (await reportOf(file)).layers[0];
    assert.deepEqual([layer.name, layer.numel, layer.nnz], ['w', 2, 1]);
  });

  it('float_data split into more separate fields than any exporter writes is refused', async () => {
    const n = (1 << 20) + 1;
    const field = Buffer.concat([tag(4, 5), Buffer.alloc(4)]);
    const file = write(
      model(
        initializer(onnxDims(n), varintField(2, ONNX_DTYPE.float), lenField(8, 'w'), Buffer.concat(Array.from({ length: n }, () => field))),
      ),
    );
    await expectCheckpointError(file, 'unsupported', /tensor "w": its data is split into more than 1048576 fields/);
  });

  it('a few separate float_data fields are joined', async () => {
    const f32 = (v: number) => {
      const b = Buffer.alloc(4);
      b.writeFloatLE(v);
      return Buffer.concat([tag(4, 5), b]);
    };
    const file = write(model(initializer(onnxDims(3), varintField(2, ONNX_DTYPE.float), lenField(8, 'w'), f32(0), f32(2), f32(-3))));
    assert.equal((await reportOf(file)).layers[0].nnz, 2);
    // The record lists each 4-byte payload, after its one-byte tag.
    const [w] = (await openCheckpoint(file)).tensors;
    assert.ok(w.stored.kind === 'onnxField' && w.stored.fields);
    assert.deepEqual([w.stored.field, w.stored.encoding, w.stored.length], ['float_data', 'fixed', 12]);
    const { starts, ends } = w.stored.fields;
    assert.deepEqual(
      [starts.length, ends.map((e, i) => e - starts[i]), starts[1] - starts[0], w.stored.offset],
      [3, [4, 4, 4], 5, starts[0]],
    );
  });

  it('more dims than any tensor has is refused', async () => {
    const ones = (n: number) => Array.from({ length: n }, () => 1);
    const unpacked = write(
      model(initializer(onnxDims(...ones(65)), varintField(2, ONNX_DTYPE.float), lenField(8, 'w'), lenField(9, Buffer.alloc(4)))),
    );
    await expectCheckpointError(unpacked, 'unsupported', /tensor "w" has 65 dimensions, more than the 64 read/);
    const packed = write(
      model(
        initializer(
          lenField(1, Buffer.alloc(1_000_000, 1)),
          varintField(2, ONNX_DTYPE.float),
          lenField(8, 'w'),
          lenField(9, Buffer.alloc(4)),
        ),
      ),
    );
    await expectCheckpointError(packed, 'unsupported', /tensor "w" has 1000000 dimensions/);
  });

  describe('tensors naming the same external bytes share one budget for their copies', () => {
    // 64 KiB of data; ten int4 tensors of 131 072 elements all read it from offset 0, and each
    // is unpacked to a 128 KiB int8 copy.
    const elements = 131_072;
    const data = Buffer.alloc(elements / 2);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 0xff;
    // Independent count of non-zero nibbles.
    let nonZero = 0;
    for (const b of data) nonZero += (b & 0x0f ? 1 : 0) + (b >> 4 ? 1 : 0);
    let file = '';
    before(() => {
      writeFileSync(path.join(tmp.dir, 'shared.bin'), data);
      const tensors = Array.from({ length: 10 }, (_, i) =>
        initializer(
          onnxDims(elements),
          varintField(2, ONNX_DTYPE.int4),
          lenField(8, `w${i}`),
          onnxExternalEntry('location', 'shared.bin'),
          varintField(14, 1),
        ),
      );
      file = write(model(...tensors), 'shared.onnx');
    });

    it('within the budget every tensor is unpacked, with the right figures', async () => {
      const report = await reportOf(file);
      assert.equal(report.layers.length, 10);
      for (const layer of report.layers) assert.deepEqual([layer.dtype, layer.numel, layer.nnz], ['int8', elements, nonZero]);
    });

    it('past the budget the rest are skipped with the reason', async () => {
      const checkpoint = await withFile(file, (f) => readOnnx(f, new DerivedBytesBudget(512 * 1024)));
      assert.deepEqual(
        checkpoint.tensors.map((t) => t.name),
        ['w0', 'w1', 'w2', 'w3'],
      );
      assert.equal(checkpoint.skipped.length, 6);
      assert.deepEqual(checkpoint.skipped[0], {
        name: 'w4',
        reason: 'unpacking its int4 values needs a 128.0 KiB copy, and the copies made for this file would pass 512.0 KiB',
      });
    });
  });

  it('typed values decoded in memory take from the budget too', async () => {
    const values = lenField(5, Buffer.alloc(1000, 1));
    const file = write(model(initializer(onnxDims(1000), varintField(2, ONNX_DTYPE.int32), lenField(8, 'w'), values)));
    const checkpoint = await withFile(file, (f) => readOnnx(f, new DerivedBytesBudget(3999)));
    assert.deepEqual(checkpoint.skipped, [
      {
        name: 'w',
        reason: 'decoding its typed values needs a 3.9 KiB copy, and the copies made for this file would pass 3.9 KiB',
      },
    ]);
  });

  it('names from the file are quoted in messages, control characters escaped', async () => {
    const file = write(
      model(initializer(onnxDims(2), varintField(2, ONNX_DTYPE.float), lenField(8, 'evil\nname\u001b[2J'), lenField(9, Buffer.alloc(4)))),
    );
    const e = await expectCheckpointError(file, 'corrupt', /tensor "evil\\nname\\u001b\[2J": raw_data holds 4 bytes/);
    // eslint-disable-next-line no-control-regex -- looks for raw control characters in a message
    assert.ok(!/[\n\u001b]/.test(e.message), 'no raw control characters');
    const location = write(
      model(
        initializer(
          onnxDims(1),
          varintField(2, ONNX_DTYPE.float),
          lenField(8, 'w'),
          onnxExternalEntry('location', 'a\nb.bin'),
          varintField(14, 1),
        ),
      ),
    );
    await expectCheckpointError(location, 'io', /external data location "a\\nb.bin" not found/);
  });

  it('a FIFO named .onnx is refused at once, not waited on', async function () {
    if (process.platform === 'win32') this.skip();
    const fifo = path.join(tmp.dir, 'pipe.onnx');
    execFileSync('mkfifo', [fifo]);
    const e = await openCheckpoint(fifo).then(
      () => assert.fail('a FIFO should be refused'),
      (err: unknown) => err,
    );
    assert.ok(e instanceof CheckpointError && e.problem === 'io' && /not a regular file/.test(e.message), String(e));
  });
});
