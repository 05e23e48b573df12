import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { IN_OUT_LAYOUT, OUT_IN_LAYOUT } from '../../src/core/checkpoint';
import { openCheckpoint } from '../../src/core/formats/open';
import { createKernels } from '../../src/kernels/createKernels';
import { BACKENDS, fixture, REPO, reportOf } from '../helpers/fixtures';

/**
 * Files written by torch.onnx.export, onnx.helper / onnx.save (typed fields, Constant nodes,
 * external data) and the safetensors layout, with figures computed by numpy in
 * scripts/fixtures/make_fixtures.py.
 */
interface Expected {
  name: string;
  shape: number[];
  dtype: string;
  role: string;
  layout: 'out_in' | 'in_out' | null;
  numel: number;
  nnz: number;
  negativeZeros: number | null;
  fanIn: number[] | null;
  nm_2_4: NmFigures | null;
  nm_1_4: NmFigures | null;
  nm_4_8: NmFigures | null;
}
interface NmFigures {
  groups: number;
  compliant: number;
  partial: number;
}

const expected = JSON.parse(readFileSync(fixture('generated', 'expected.json'), 'utf8')) as {
  files: Record<string, { format: string; tensors: Expected[] }>;
};

describe('files written by torch.onnx.export, onnx and the safetensors layout, against numpy', () => {
  for (const [file, info] of Object.entries(expected.files)) {
    for (const [key, n, m] of [
      ['nm_2_4', 2, 4],
      ['nm_1_4', 1, 4],
      ['nm_4_8', 4, 8],
    ] as const) for (const backend of BACKENDS) {
      it(`${file} with ${n}:${m} (${backend} kernels)`, async () => {
        const path = fixture('generated', file);
        const report = await reportOf(path, { n, m }, backend);
        assert.equal(report.format, info.format);
        assert.deepEqual(report.layers.map((l) => l.name).sort(), info.tensors.map((t) => t.name).sort());
        const checkpoint = await openCheckpoint(path);
        for (const want of info.tensors) {
          const layer = report.layers.find((l) => l.name === want.name)!;
          const what = `${file}: ${want.name}`;
          assert.deepEqual(layer.shape, want.shape, what);
          assert.equal(layer.dtype, want.dtype, what);
          assert.equal(layer.role, want.role, what);
          assert.equal(layer.numel, want.numel, what);
          assert.equal(layer.nnz, want.nnz, `${what} nnz`);
          assert.equal(layer.negativeZeros, want.negativeZeros ?? 0, `${what} -0.0`);
          assert.deepEqual(layer.nm, want[key], `${what} ${n}:${m}`);
          const tensor = checkpoint.tensors.find((t) => t.name === want.name)!;
          assert.deepEqual(tensor.layout ?? null, want.layout === null ? null : want.layout === 'out_in' ? OUT_IN_LAYOUT : IN_OUT_LAYOUT, what);
          if (!want.fanIn) {
            assert.equal(layer.fanIn, null, what);
            continue;
          }
          const kernels = createKernels({ backend, root: REPO });
          const scan = await kernels.scan({ ...tensor, nm: { n, m } }).finally(() => kernels.dispose());
          assert.deepEqual(Array.from(scan.fanIn!), want.fanIn, `${what} fan-in per neuron`);
          assert.equal(layer.fanIn!.min, want.fanIn.length ? Math.min(...want.fanIn) : 0, what);
          assert.equal(layer.fanIn!.max, want.fanIn.length ? Math.max(...want.fanIn) : 0, what);
          assert.equal(layer.fanIn!.zeroNeurons, want.fanIn.filter((c) => c === 0).length, what);
        }
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
