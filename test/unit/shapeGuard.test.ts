import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { openCheckpoint } from '../../src/core/formats/open';
import { makeTempDir, reportOf } from '../helpers/fixtures';

/** A version 1.0 .npy file with `shape` and no data, as numpy lays it out. */
function npy(shape: string): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const prefix = Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0, header.length & 0xff, header.length >> 8]);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1')]);
}

describe('every reader: shapes no real model has are listed apart, not analysed', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());

  it('an empty weight with 2^40 × 2^40 rows and columns is skipped with the reason; the report still runs', async () => {
    const file = path.join(tmp.dir, 'fc.weight.npy');
    writeFileSync(file, npy('(1099511627776, 1099511627776, 0)'));
    const checkpoint = await openCheckpoint(file);
    assert.deepEqual(checkpoint.tensors, []);
    assert.deepEqual(checkpoint.skipped, [{ name: 'fc.weight', reason: 'shape [1099511627776, 1099511627776, 0] is too large to be real' }]);
    for (const backend of ['reference', 'native'] as const) {
      const report = await reportOf(file, undefined, backend);
      assert.deepEqual(report.weights, { numel: 0, nnz: 0, sparsity: 0 });
    }
  });

  it('an empty weight with one dimension past 2^31 is skipped; a small empty weight is analysed', async () => {
    const huge = path.join(tmp.dir, 'a.weight.npy');
    writeFileSync(huge, npy('(4294967296, 0)'));
    assert.match((await openCheckpoint(huge)).skipped[0]?.reason ?? '', /larger than 2147483648/);
    const small = path.join(tmp.dir, 'b.weight.npy');
    writeFileSync(small, npy('(3, 0)'));
    const layer = (await reportOf(small)).layers[0];
    assert.equal(layer.role, 'linear');
    assert.equal(layer.fanIn?.zeroNeurons, 3);
  });
});
