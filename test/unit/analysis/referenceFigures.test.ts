import { strict as assert } from 'node:assert';
import { BACKENDS, fixture, reportOf } from '../../helpers/fixtures';

/**
 * The figures of ../shared/data/README.md, computed independently of this project from the
 * PyTorch-written checkpoints: the report must reproduce them exactly.
 */
interface Row {
  name: string;
  shape: number[];
  nnz: number;
  negativeZeros: number;
  fanIn: [number, number, number];
  zeroNeurons: number;
  compliant: [number, number];
}

const MODELS: Record<string, Row[]> = {
  digits_mlp: [
    { name: 'fc1.weight', shape: [256, 64], nnz: 16384, negativeZeros: 0, fanIn: [64, 64, 64], zeroNeurons: 0, compliant: [0, 4096] },
    { name: 'fc2.weight', shape: [128, 256], nnz: 32768, negativeZeros: 0, fanIn: [256, 256, 256], zeroNeurons: 0, compliant: [0, 8192] },
    { name: 'fc3.weight', shape: [10, 128], nnz: 1280, negativeZeros: 0, fanIn: [128, 128, 128], zeroNeurons: 0, compliant: [0, 320] },
  ],
  digits_mlp_24: [
    { name: 'fc1.weight', shape: [256, 64], nnz: 8192, negativeZeros: 3961, fanIn: [32, 32, 32], zeroNeurons: 0, compliant: [4096, 4096] },
    {
      name: 'fc2.weight',
      shape: [128, 256],
      nnz: 16384,
      negativeZeros: 7747,
      fanIn: [128, 128, 128],
      zeroNeurons: 0,
      compliant: [8192, 8192],
    },
    { name: 'fc3.weight', shape: [10, 128], nnz: 640, negativeZeros: 299, fanIn: [64, 64, 64], zeroNeurons: 0, compliant: [320, 320] },
  ],
  digits_mlp_unstructured80: [
    {
      name: 'fc1.weight',
      shape: [256, 64],
      nnz: 4881,
      negativeZeros: 5550,
      fanIn: [1, 31, 19.066406],
      zeroNeurons: 0,
      compliant: [3716, 4096],
    },
    {
      name: 'fc2.weight',
      shape: [128, 256],
      nnz: 4748,
      negativeZeros: 13049,
      fanIn: [0, 64, 37.09375],
      zeroNeurons: 23,
      compliant: [8044, 8192],
    },
    { name: 'fc3.weight', shape: [10, 128], nnz: 457, negativeZeros: 368, fanIn: [28, 54, 45.7], zeroNeurons: 0, compliant: [280, 320] },
  ],
};

describe('reference figures of the PyTorch-written checkpoints', () => {
  for (const [model, rows] of Object.entries(MODELS)) {
    const formats = ['onnx', 'safetensors'];
    for (const format of formats)
      for (const backend of BACKENDS) {
        it(`${model}.${format}: nnz, -0.0 zeros, fan-in and 2:4 per layer (${backend} kernels)`, async () => {
          const report = await reportOf(fixture(`${model}.${format}`), undefined, backend);
          assert.equal(report.format, format);
          for (const row of rows) {
            const layer = report.layers.find((l) => l.name === row.name);
            assert.ok(layer, `${row.name} is reported`);
            assert.deepEqual(layer.shape, row.shape);
            assert.equal(layer.role, 'linear');
            assert.equal(layer.nnz, row.nnz, `${row.name} nnz`);
            assert.equal(layer.negativeZeros, row.negativeZeros, `${row.name} -0.0 count`);
            assert.ok(layer.fanIn);
            assert.equal(layer.fanIn.dense, row.shape[1]);
            assert.equal(layer.fanIn.min, row.fanIn[0]);
            assert.equal(layer.fanIn.max, row.fanIn[1]);
            assert.equal(layer.fanIn.mean.toFixed(6), row.fanIn[2].toFixed(6));
            assert.equal(layer.fanIn.zeroNeurons, row.zeroNeurons);
            assert.equal(layer.fanIn.constant, row.fanIn[0] === row.fanIn[1]);
            assert.deepEqual([layer.nm?.compliant, layer.nm?.groups, layer.nm?.partial], [row.compliant[0], row.compliant[1], 0]);
          }
          for (const bias of report.layers.filter((l) => l.name.endsWith('.bias'))) {
            assert.equal(bias.role, 'other');
            assert.equal(bias.nnz, bias.numel, 'biases are dense');
            assert.equal(bias.fanIn, null);
            assert.equal(bias.nm, null);
          }
        });
      }
  }

  it('digits_mlp_24: whole-model figures', async () => {
    for (const format of ['onnx', 'safetensors']) {
      const report = await reportOf(fixture(`digits_mlp_24.${format}`));
      assert.deepEqual(report.weights, { numel: 50432, nnz: 25216, sparsity: 0.5 });
      assert.equal(report.total.numel, 50826);
      assert.equal(report.total.nnz, 25610);
      assert.equal(report.total.sparsity, 1 - 25610 / 50826);
    }
  });

  it('the safetensors __metadata__ and the ONNX producer are kept', async () => {
    assert.equal((await reportOf(fixture('digits_mlp.safetensors'))).metadata.format, 'pt');
    const onnx = await reportOf(fixture('digits_mlp.onnx'));
    assert.equal(onnx.metadata.producer, 'pytorch');
    assert.equal(onnx.metadata.opset, '13');
  });
});
