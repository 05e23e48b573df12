import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { assertExpectedFigures, NM_PATTERNS, type ExpectedTensor } from '../../helpers/expectedFigures';
import { BACKENDS, fixture, reportOf } from '../../helpers/fixtures';

/**
 * Files written by torch.onnx.export, onnx.helper / onnx.save (typed fields, Constant nodes,
 * external data) and the safetensors layout, with figures computed by numpy in
 * scripts/fixtures/make_fixtures.py.
 */
const expected = JSON.parse(readFileSync(fixture('generated', 'expected.json'), 'utf8')) as {
  files: Record<string, { format: string; tensors: ExpectedTensor[] }>;
};

describe('files written by torch.onnx.export, onnx and the safetensors layout, against numpy', () => {
  for (const [file, info] of Object.entries(expected.files)) {
    for (const [key, n, m] of NM_PATTERNS)
      for (const backend of BACKENDS) {
        it(`${file} with ${n}:${m} (${backend} kernels)`, async () => {
          const path = fixture('generated', file);
          const report = await reportOf(path, { n, m }, backend);
          assert.equal(report.format, info.format);
          assert.deepEqual(report.layers.map((l) => l.name).sort(), info.tensors.map((t) => t.name).sort());
          await assertExpectedFigures(file, report, await openCheckpoint(path), info.tensors, key, backend);
        });
      }
  }

  it('constant fan-in is recognised: the MatMul weight torch transposed to [in, out] has k = 8', async () => {
    const layer = (await reportOf(fixture('generated', 'matmul3d.onnx'))).layers.find((l) => l.name === 'onnx::MatMul_6')!;
    assert.equal(layer.role, 'linear');
    assert.deepEqual(layer.shape, [32, 24]);
    assert.equal(layer.fanIn?.constant, true);
    assert.equal(layer.fanIn?.k, 8);
    assert.equal(layer.fanIn?.dense, 32);
  });

  it('a Constant node weight is reported under the node output name', async () => {
    const report = await reportOf(fixture('generated', 'typed_fields.onnx'));
    const constant = report.layers.find((l) => l.name === 'matmul.B');
    assert.equal(constant?.role, 'linear');
  });
});
