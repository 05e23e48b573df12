import { strict as assert } from 'node:assert';
import { modulePathOf } from '../../../../src/core/formats/onnx/graphRoles';
import { fixture, reportOf, runCli } from '../../../helpers/fixtures';

/**
 * bn_folded.onnx (scripts/fixtures/make_bn_folded_fixture.py): torch.onnx.export folded each
 * BatchNorm into its Conv and named the weights onnx::Conv_<n>; the modules are conv1,
 * layer1.0.conv1, layer1.1.conv1 and fc, in that order in the graph (fc.weight first in the file).
 */
describe('ONNX: names a user knows for the weights an exporter named', () => {
  it('module paths from node names', () => {
    assert.equal(modulePathOf('/layer4/layer4.0/conv2/Conv'), 'layer4.0.conv2');
    assert.equal(modulePathOf('/encoder/layer.0/attention/self/query/MatMul'), 'encoder.layer.0.attention.self.query');
    assert.equal(modulePathOf('/fc/Gemm'), 'fc');
    assert.equal(modulePathOf('/Relu'), undefined);
    assert.equal(modulePathOf('Conv_12'), undefined);
    assert.equal(modulePathOf('//x/Conv'), undefined);
  });

  it('a BatchNorm-folded export: displayName beside the made-up name, tensors in graph order', async () => {
    const report = await reportOf(fixture('generated', 'bn_folded.onnx'));
    const weights = report.layers.filter((l) => l.role !== 'other');
    assert.deepEqual(
      weights.map((l) => [l.displayName, l.role, l.shape]),
      [
        ['conv1', 'conv', [8, 3, 3, 3]],
        ['layer1.0.conv1', 'conv', [8, 8, 3, 3]],
        ['layer1.1.conv1', 'conv', [8, 8, 3, 3]],
        [undefined, 'linear', [10, 8]],
      ],
    );
    assert.ok(
      weights.slice(0, 3).every((l) => /^onnx::Conv_\d+$/.test(l.name)),
      'JSON keeps the file name',
    );
    assert.equal(weights[3].name, 'fc.weight');
    assert.equal(report.layers.find((l) => l.displayName === 'conv1.bias')?.role, 'other');
  });

  it('the table and the plan show the module path with the file name beside it', () => {
    const run = runCli(['report', fixture('generated', 'bn_folded.onnx')]);
    assert.match(run.stdout, /^layer1\.0\.conv1 \(onnx::Conv_\d+\) +\[8, 8, 3, 3\]/m);
    const plan = runCli(['plan', fixture('generated', 'bn_folded.onnx'), '--sparsity', '0.5', '--json']);
    assert.deepEqual(
      (JSON.parse(plan.stdout) as { layers: { displayName?: string }[] }).layers.map((l) => l.displayName),
      ['conv1', 'layer1.0.conv1', 'layer1.1.conv1', undefined],
    );
  });
});
