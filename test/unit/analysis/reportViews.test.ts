import { strict as assert } from 'node:assert';
import type { TensorEntry, WeightLayout } from '../../../src/core/checkpoint';
import { layerProblems } from '../../../src/core/analysis/problems';
import type { CheckpointPlan } from '../../../src/core/analysis/checkpointPlan';
import { formatReport, formatReportCsv } from '../../../src/core/analysis/reportExport';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { NeuronView } from '../../../src/core/neuronView';
import { createKernels } from '../../../src/kernels/createKernels';
import { readValues } from '../../../src/kernels/reference/tensorView';
import { fixture, REPO, reportOf, runCli } from '../../helpers/fixtures';

describe('report exports and weight windows', () => {
  it('layer problems: dead neurons and 2:4 violations on a pruned layer, none on a dense one', async () => {
    const nm = { n: 2, m: 4 };
    const pruned = (await reportOf(fixture('digits_mlp_unstructured80.onnx'))).layers.find((l) => l.name === 'fc2.weight')!;
    assert.deepEqual(layerProblems(pruned, nm), [
      'Fan-in is not constant: 0–64 non-zeros per neuron',
      '23 dead neurons (all-zero rows)',
      '148 of 8,192 2:4 groups have more than 2 non-zeros',
    ]);
    const dense = (await reportOf(fixture('digits_mlp.safetensors'))).layers.find((l) => l.name === 'fc2.weight')!;
    assert.equal(dense.nnz, dense.numel);
    assert.equal(dense.nm!.compliant, 0);
    assert.deepEqual(layerProblems(dense, nm), []);
  });

  it('an export with a plan: under `plan` in JSON, the planned density and k per row in CSV, a plan section in Markdown', async () => {
    const file = fixture('digits_mlp.safetensors');
    const report = await reportOf(file);
    const run = runCli(['plan', file, '--sparsity', '0.9', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const plan = JSON.parse(run.stdout) as CheckpointPlan;
    const json = JSON.parse(formatReport(report, 'json', plan)) as { plan: CheckpointPlan; layers: unknown[] };
    assert.equal(json.layers.length, 6);
    // ../shared/docs/srigl-spec.md §1.2 and §2 on this MLP at 90 % ERK.
    assert.deepEqual(
      json.plan.layers.map((l) => l.k),
      [7, 17, 82],
    );
    const csv = formatReport(report, 'csv', plan).trimEnd().split('\n');
    const header = csv[0].split(',');
    const column = (name: string, key: string) => csv.find((l) => l.startsWith(`${name},`))!.split(',')[header.indexOf(key)];
    assert.deepEqual(
      ['fc1.weight', 'fc2.weight', 'fc3.weight', 'fc1.bias'].map((n) => column(n, 'planK')),
      ['7', '17', '82', ''],
    );
    assert.ok(Math.abs(Number(column('fc1.weight', 'planTargetDensity')) - 0.117002) < 1e-6);
    const markdown = formatReport(report, 'markdown', plan);
    assert.match(markdown, /^## ERK plan at sparsity 0\.9: /m);
    assert.match(markdown, /^\| fc3\.weight \| \[10, 128\] \| 64\.59% \| 82 of 128 \|/m);
    assert.doesNotMatch(formatReport(report, 'markdown'), /plan at sparsity/);
  });

  it('CSV has one row per tensor with the JSON figures', async () => {
    const report = await reportOf(fixture('digits_mlp_unstructured80.onnx'));
    const lines = formatReportCsv(report).trimEnd().split('\n');
    assert.equal(lines.length, report.layers.length + 1);
    const header = lines[0].split(',');
    const fc2 = Object.fromEntries(
      lines
        .find((l) => l.startsWith('fc2.weight,'))!
        .split(',')
        .map((v, i) => [header[i], v]),
    );
    assert.equal(fc2.shape, '128x256');
    assert.equal(fc2.nnz, '4748');
    assert.equal(fc2.zeroNeurons, '23');
    assert.equal(fc2.nmCompliant, '8044');
    assert.equal(fc2.fanInConstant, 'false');
    // 80 % unstructured: bitmask storage ⌈32,768 / 8⌉ + 4,748 × 4 = 23,088 bytes of 131,072 dense.
    assert.equal(fc2.problems, 'unstructured small-layer zeros-stored-densely');
    assert.deepEqual([fc2.smallestStorage, fc2.smallestBytes, fc2.denseBytes], ['bitmask', '23088', '131072']);
  });

  for (const backend of ['reference', 'native'] as const)
    for (const [file, name] of [
      ['generated/convnet.onnx', 'conv2.weight'],
      ['generated/matmul3d.onnx', 'onnx::MatMul_6'],
      ['digits_mlp_24.safetensors', 'fc2.weight'],
      ['generated/dtypes.safetensors', 'conv.weight'],
    ]) {
      it(`a window of ${name} holds the weights of the [neurons, fan-in] view (${backend} kernels)`, async () => {
        const checkpoint = await openCheckpoint(fixture(...file.split('/')));
        const tensor = checkpoint.tensors.find((t) => t.name === name) as TensorEntry & { layout: WeightLayout };
        assert.ok(tensor?.layout);
        const view = new NeuronView(tensor.shape, tensor.layout);
        const all = await readValues(tensor);
        const window = { rowStart: 1, rowEnd: Math.min(view.rows, 6), colStart: 2, colEnd: Math.min(view.cols, 11) };
        const kernels = createKernels({ backend, root: REPO });
        try {
          const values = await kernels.weightWindow({ ...tensor, ...window });
          let at = 0;
          for (let r = window.rowStart; r < window.rowEnd; r++) {
            for (let c = window.colStart; c < window.colEnd; c++)
              assert.equal(values[at++], Math.fround(all[view.index(r, c)]), `(${r}, ${c})`);
          }
          await assert.rejects(kernels.weightWindow({ ...tensor, ...window, rowEnd: view.rows + 1 }), /does not fit/);
        } finally {
          await kernels.dispose();
        }
      });
    }
});
