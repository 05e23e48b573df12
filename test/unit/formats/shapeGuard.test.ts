import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { makeTempDir, reportOf, runCli } from '../../helpers/fixtures';
import { npy, statePickle, storedZip } from '../../helpers/writers';

/** A version 1.0 .npy file with `shape` and no data. */
function emptyNpy(shape: string): Buffer {
  return npy(`{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`);
}

describe('every reader: shapes no real model has are listed apart, not analysed', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());

  it('an empty weight with 2^40 × 2^40 rows and columns is skipped with the reason; the report still runs', async () => {
    const file = path.join(tmp.dir, 'fc.weight.npy');
    writeFileSync(file, emptyNpy('(1099511627776, 1099511627776, 0)'));
    const checkpoint = await openCheckpoint(file);
    assert.deepEqual(checkpoint.tensors, []);
    assert.deepEqual(checkpoint.skipped, [
      { name: 'fc.weight', reason: 'shape [1099511627776, 1099511627776, 0] is too large to be real' },
    ]);
    for (const backend of ['reference', 'native'] as const) {
      const report = await reportOf(file, undefined, backend);
      assert.deepEqual(report.weights, { numel: 0, nnz: 0, sparsity: 0 });
    }
  });

  it('an empty weight with one dimension past 2^31 is skipped; a small empty weight is analysed', async () => {
    const huge = path.join(tmp.dir, 'a.weight.npy');
    writeFileSync(huge, emptyNpy('(4294967296, 0)'));
    assert.match((await openCheckpoint(huge)).skipped[0]?.reason ?? '', /larger than 2147483648/);
    const small = path.join(tmp.dir, 'b.weight.npy');
    writeFileSync(small, emptyNpy('(3, 0)'));
    const layer = (await reportOf(small)).layers[0];
    assert.equal(layer.role, 'linear');
    assert.equal(layer.fanIn?.zeroNeurons, 3);
  });

  it('a tensor of 66 axes is skipped with the reason (the kernels take at most 64); 64 axes are analysed', async () => {
    const many = path.join(tmp.dir, 'deep.npy');
    writeFileSync(many, emptyNpy(`(${Array(65).fill('1').join(', ')}, 0)`));
    assert.deepEqual((await openCheckpoint(many)).skipped, [{ name: 'deep', reason: 'it has 66 axes; at most 64 are analysed' }]);
    const cli = runCli(['report', many, '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).skipped[0].reason, 'it has 66 axes; at most 64 are analysed');
    const ok = path.join(tmp.dir, 'ok.npy');
    writeFileSync(ok, emptyNpy(`(${Array(63).fill('1').join(', ')}, 0)`));
    for (const backend of ['reference', 'native'] as const)
      assert.equal((await reportOf(ok, undefined, backend)).layers[0].shape.length, 64);
  });

  it('a file naming the same 1 MiB 100 times: tensors past 16 × its distinct bytes + 64 MiB (80 MiB) are listed apart', async () => {
    const numel = 1 << 18; // 1 MiB of float32
    const values = new Float32Array(numel).map((_, i) => (i % 3 === 0 ? 1 : 0));
    const names = Array.from({ length: 100 }, (_, i) => `layer${i}.weight`);
    const pickle = statePickle(names.map((name) => ({ name, key: '0', numel, offset: 0, size: [512, 512], stride: [512, 1] })));
    const file = tmp.write(
      'aliased.pt',
      storedZip([
        ['aliased/data.pkl', pickle],
        ['aliased/data/0', new Uint8Array(values.buffer)],
      ]),
    );
    const checkpoint = await openCheckpoint(file);
    assert.deepEqual(
      checkpoint.tensors.map((t) => t.name),
      names.slice(0, 80),
    );
    assert.deepEqual(
      checkpoint.skipped,
      names
        .slice(80)
        .map((name) => ({ name, reason: 'the file names the same bytes many times; scanning them all would read more than 80.0 MiB' })),
    );
    const report = await reportOf(file, undefined, 'native');
    assert.equal(report.weights.nnz, 80 * Math.ceil(numel / 3));
  });
});
