import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { fixture, makeTempDir } from '../../../helpers/fixtures';
import { expectCheckpointError } from '../../../helpers/errors';
import { npy } from '../../../helpers/writers';

const C_ORDER = "{'descr': '<f4', 'fortran_order': False, 'shape': (16, 32), }";

describe('.npy: bad input gives a typed error naming the file and the problem', () => {
  const real = readFileSync(fixture('numpy', 'w_c.weight.npy'));
  const data = real.subarray(real.length - 16 * 32 * 4);
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());

  const write = (name: string, bytes: Uint8Array) => tmp.write(name, bytes);

  it('the .npy writer used below is sound: it rebuilds the numpy-written file byte for byte', async () => {
    assert.ok(npy(C_ORDER, data).equals(real));
    const checkpoint = await openCheckpoint(write('same.weight.npy', npy(C_ORDER, data)));
    assert.deepEqual(
      checkpoint.tensors.map((t) => [t.name, t.shape]),
      [['same.weight', [16, 32]]],
    );
  });

  it('an empty file', async () => {
    await expectCheckpointError(write('empty.npy', Buffer.alloc(0)), 'empty', /empty/);
  });

  it('a truncated preamble', async () => {
    await expectCheckpointError(write('preamble.npy', real.subarray(0, 8)), 'truncated', /only 8 bytes: the .npy preamble needs 10/);
  });

  it('a truncated header', async () => {
    const e = await expectCheckpointError(
      write('header.npy', real.subarray(0, 40)),
      'truncated',
      /the .npy header length 118 runs past the end of the 40 bytes/,
    );
    assert.equal(e.offset, 8);
  });

  it('a header length past the end of the file (version 1.0 and 2.0)', async () => {
    const v1 = Buffer.from(real);
    v1.writeUInt16LE(0xffff, 8);
    await expectCheckpointError(write('long1.npy', v1), 'truncated', /header length 65535 runs past the end/);
    const v2 = npy(C_ORDER, data, 2);
    v2.writeUInt32LE(0xffffffff, 8);
    await expectCheckpointError(write('long2.npy', v2), 'truncated', /header length 4294967295 runs past the end/);
  });

  it('truncated data', async () => {
    await expectCheckpointError(
      write('data.npy', real.subarray(0, real.length - 100)),
      'truncated',
      /shape \(16, 32\) of <f4 needs 2048 bytes of data but 1948 follow the header/,
    );
  });

  it('an absurd shape: far more elements than bytes', async () => {
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }";
    await expectCheckpointError(
      write('absurd.npy', npy(header, data)),
      'truncated',
      /shape \(1000000, 1000000\) of <f4 needs 4000000000000 bytes of data but 2048/,
    );
    const overflow = "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }";
    await expectCheckpointError(
      write('overflow.npy', npy(overflow, data)),
      'corrupt',
      /shape \(4294967296, 4294967296\) is absurdly large/,
    );
  });

  it('a shape that leaves bytes over', async () => {
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (16, 16), }";
    await expectCheckpointError(write('short-shape.npy', npy(header, data)), 'corrupt', /needs 1024 bytes of data but 2048 follow/);
  });

  it('an unsupported descr is named in the message', async () => {
    const v2 = "{'descr': '|V2', 'fortran_order': False, 'shape': (16, 32), }";
    await expectCheckpointError(
      write('bf16.npy', npy(v2, Buffer.alloc(1024))),
      'unsupported',
      /dtype descr '\|V2' is not supported \(raw void bytes/,
    );
    const object = "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }";
    await expectCheckpointError(
      write('object.npy', npy(object, Buffer.alloc(16))),
      'unsupported',
      /'\|O' is not supported \(Python objects/,
    );
    const longDouble = "{'descr': '<f16', 'fortran_order': False, 'shape': (2,), }";
    await expectCheckpointError(write('f128.npy', npy(longDouble, Buffer.alloc(32))), 'unsupported', /'<f16' is not supported/);
    const record = "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,), }";
    await expectCheckpointError(write('record.npy', npy(record, Buffer.alloc(16))), 'unsupported', /structured \(record\) arrays/);
  });

  it('an unknown format version', async () => {
    const bytes = Buffer.from(real);
    bytes[6] = 9;
    await expectCheckpointError(write('v9.npy', bytes), 'unsupported', /\.npy format version 9\.0 is not supported/);
  });

  it('a header that is not a dict', async () => {
    await expectCheckpointError(write('list.npy', npy("['<f4', False, (16, 32)]", data)), 'corrupt', /the .npy header is not a dict/);
    await expectCheckpointError(
      write('garbage.npy', npy('hello world', data)),
      'corrupt',
      /not a plain Python literal: unexpected name "hello"/,
    );
  });

  it('a malicious header is rejected, never evaluated', async () => {
    const marker = path.join(tmp.dir, 'pwned');
    const header = `{'descr': __import__('os').system('touch ${marker}'), 'fortran_order': False, 'shape': (16, 32), }`;
    await expectCheckpointError(
      write('evil.npy', npy(header, data)),
      'corrupt',
      /not a plain Python literal: unexpected name "__import__"/,
    );
    const call = "{'descr': '<f4', 'fortran_order': False, 'shape': eval('(16, 32)'), }";
    await expectCheckpointError(write('eval.npy', npy(call, data)), 'corrupt', /unexpected name "eval"/);
    const lambda = "{'descr': '<f4', 'fortran_order': (lambda: False)(), 'shape': (16, 32), }";
    await expectCheckpointError(write('lambda.npy', npy(lambda, data)), 'corrupt', /unexpected name "lambda"/);
    assert.equal(existsSync(marker), false);
  });

  it('deeply nested brackets end in an error, not a stack overflow', async () => {
    const deep = `{'descr': '<f4', 'fortran_order': False, 'shape': ${'('.repeat(5000)}, }`;
    await expectCheckpointError(write('deep.npy', npy(deep, data, 2)), 'corrupt', /nested too deeply/);
  });

  it('wrong, missing or extra keys and wrongly typed values', async () => {
    await expectCheckpointError(
      write('keys.npy', npy("{'descr': '<f4', 'shape': (16, 32), }", data)),
      'corrupt',
      /exactly the keys descr, fortran_order and shape, not descr, shape/,
    );
    await expectCheckpointError(
      write('extra.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (16, 32), 'x': 1}", data)),
      'corrupt',
      /exactly the keys/,
    );
    await expectCheckpointError(
      write('dup.npy', npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (16, 32)}", data)),
      'corrupt',
      /duplicate key "descr"/,
    );
    await expectCheckpointError(
      write('fortran.npy', npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (16, 32), }", data)),
      'corrupt',
      /fortran_order .* is not True or False/,
    );
    await expectCheckpointError(
      write('shape.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': ('16', 32), }", data)),
      'corrupt',
      /shape .* is not a tuple of integers/,
    );
    await expectCheckpointError(
      write('negative.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-16, 32), }", data)),
      'corrupt',
      /unexpected character "-"/,
    );
    await expectCheckpointError(
      write('descr.npy', npy("{'descr': 4, 'fortran_order': False, 'shape': (16, 32), }", data)),
      'corrupt',
      /descr in the .npy header is not a string/,
    );
    await expectCheckpointError(
      write('unclosed.npy', npy("{'descr': '<f4, 'fortran_order': False, 'shape': (16, 32), }", data)),
      'corrupt',
      /not a plain Python literal/,
    );
  });

  it('headers numpy accepts: Python 2 longs, double quotes, a v3 UTF-8 header, a scalar', async () => {
    const py2 = await openCheckpoint(write('py2.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (16L, 32L), }", data)));
    assert.deepEqual(py2.tensors[0].shape, [16, 32]);
    const quotes = await openCheckpoint(write('quotes.npy', npy('{"descr": "<f4", "fortran_order": False, "shape": (512,)}', data)));
    assert.deepEqual(quotes.tensors[0].shape, [512]);
    const v3 = await openCheckpoint(write('v3.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (16, 32), }", data, 3)));
    assert.equal(v3.metadata['npy version'], '3.0');
    const scalar = await openCheckpoint(
      write('scalar.npy', npy("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", Buffer.alloc(8))),
    );
    assert.deepEqual(scalar.tensors[0].shape, []);
  });

  it('a file that is neither .npy nor .npz', async () => {
    let seed = 7;
    const random = Buffer.alloc(1000);
    for (let i = 0; i < random.length; i++) random[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    await expectCheckpointError(write('random.npy', random), 'corrupt', /not a NumPy file: it starts with neither the .npy magic/);
    await expectCheckpointError(write('tiny.npy', Buffer.from([1, 2, 3])), 'truncated', /only 3 bytes/);
  });
});
