import { strict as assert } from 'node:assert';
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, realpathSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { buildReport } from '../../../../src/core/analysis/report';
import { type Checkpoint, type TensorEntry } from '../../../../src/core/checkpoint';
import { MAX_DERIVED_BYTES } from '../../../../src/core/derivedBytes';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { storageNote } from '../../../../src/core/storedTensor';
import { createKernels, nativePaths, type KernelBackend } from '../../../../src/kernels/createKernels';
import { assertExpectedFigures, NM_PATTERNS, type ExpectedTensor } from '../../../helpers/expectedFigures';
import { BACKENDS, fixture, makeTempDir, REPO, reportOf } from '../../../helpers/fixtures';
import { ONNX_DTYPE, onnxExternalTensor, onnxInlineTensor, onnxModel, onnxNode } from '../../../helpers/protobuf';

/**
 * Quantized and looked-through ONNX weights (scripts/fixtures/make_onnx_quant_fixtures.py): a
 * quantized weight's zeros are the elements equal to its zero point, and a weight reached through
 * DequantizeLinear, Cast, Identity or Transpose gets its consumer's role with the axes remapped.
 */
interface Expected extends ExpectedTensor {
  readonly storedDtype: string;
  readonly note: string | null;
}

const expected = JSON.parse(readFileSync(fixture('onnx_quant', 'expected.json'), 'utf8')) as {
  files: Record<string, { tensors: Expected[]; skipped: string[] }>;
};

describe('ONNX quantized weights and look-through roles, against numpy', () => {
  for (const [file, info] of Object.entries(expected.files)) {
    for (const [key, n, m] of NM_PATTERNS)
      for (const backend of BACKENDS) {
        it(`${file} with ${n}:${m} (${backend} kernels)`, async () => {
          const path_ = fixture('onnx_quant', file);
          const report = await reportOf(path_, { n, m }, backend);
          assert.deepEqual(report.layers.map((l) => l.name).sort(), info.tensors.map((t) => t.name).sort());
          assert.deepEqual(report.skipped.map((s) => s.name).sort(), [...info.skipped].sort());
          await assertExpectedFigures(file, report, await openCheckpoint(path_), info.tensors, key, backend);
          for (const want of info.tensors)
            assert.equal(report.layers.find((l) => l.name === want.name)!.note ?? null, want.note, `${file}: ${want.name} note`);
        });
      }
  }

  it('a zero point of all zeros leaves the weight a lazy byte range; a non-zero one gives a derived copy', async () => {
    const checkpoint = await openCheckpoint(fixture('onnx_quant', 'dq_matmul_int8.onnx'));
    const plain = checkpoint.tensors.find((t) => t.name === 'w_zp0')!;
    assert.equal(plain.source.kind, 'file');
    assert.equal(plain.dtype, 'int8');
    assert.equal(storageNote(plain.stored), undefined);
    const shifted = checkpoint.tensors.find((t) => t.name === 'w')!;
    assert.equal(shifted.source.kind, 'inline');
    assert.equal(shifted.dtype, 'int16');
  });

  it('the float weight of a QuantizeLinear → DequantizeLinear pair keeps its own zeros', async () => {
    const checkpoint = await openCheckpoint(fixture('onnx_quant', 'qdq_chain.onnx'));
    const w = checkpoint.tensors.find((t) => t.name === 'w')!;
    assert.equal(w.dtype, 'float32');
    assert.equal(w.source.kind, 'file');
  });

  it('a zero point that is not a constant, or has the wrong length, skips that weight with the reason', async () => {
    // Counting the raw values would report wrong zeros, and refusing the model would hide every
    // other layer, so the weight is listed as skipped and the rest is analysed.
    const checkpoint = await openCheckpoint(fixture('onnx_quant', 'bad_zero_points.onnx'));
    const reason = (name: string) => checkpoint.skipped.find((s) => s.name === name)?.reason ?? '';
    assert.match(
      reason('w_missing'),
      /^its zero point "zp_in" \(DequantizeLinear\) is not a constant of the model, so which values stand for zero is unknown$/,
    );
    assert.match(
      reason('w_length'),
      /^its zero point "w_length_zero_point" \(DequantizeLinear\) has shape \[5\] but the tensor has 10 values along axis 0$/,
    );
    assert.equal(checkpoint.tensors.find((t) => t.name === 'ok')?.role, 'linear');
  });
});

// ------------------------------------------------------------------------------------------------
// Models written byte by byte (test/helpers/protobuf.ts): graphs that do not fit, external data past 2 GiB.
// ------------------------------------------------------------------------------------------------

const { float: FLOAT, int8: INT8, uint8: UINT8 } = ONNX_DTYPE;

describe('ONNX graphs that do not fit: no crash, a role of other or a skipped weight with the reason', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => (tmp = makeTempDir()));
  after(() => tmp.remove());
  const weight = onnxInlineTensor('w', INT8, [2, 4], [1, 2, 0, 4, 5, 0, 7, 8]);
  const open = (name: string, nodes: Buffer[], initializers: Buffer[]) => {
    const file = path.join(tmp.dir, name);
    writeFileSync(file, onnxModel(nodes, initializers));
    return openCheckpoint(file);
  };

  it('a Transpose whose perm is not a permutation leaves the weight without a role', async () => {
    const checkpoint = await open(
      'perm.onnx',
      [onnxNode('Transpose', ['w'], ['t'], { perm: [0, 0] }), onnxNode('MatMul', ['x', 't'], ['y'])],
      [weight],
    );
    assert.equal(checkpoint.tensors[0].role, 'other');
  });

  it('a cycle of Identity nodes ends', async () => {
    const checkpoint = await open(
      'cycle.onnx',
      [onnxNode('Identity', ['b'], ['a']), onnxNode('Identity', ['a'], ['b']), onnxNode('MatMul', ['x', 'a'], ['y'])],
      [weight],
    );
    assert.equal(checkpoint.tensors[0].role, 'other');
  });

  it('a zero point of another type than the weight', async () => {
    const checkpoint = await open(
      'type.onnx',
      [onnxNode('DequantizeLinear', ['w', 's', 'zp'], ['d']), onnxNode('MatMul', ['x', 'd'], ['y'])],
      [weight, onnxInlineTensor('s', FLOAT, [], [0, 0, 128, 63]), onnxInlineTensor('zp', UINT8, [], [3])],
    );
    assert.deepEqual(checkpoint.skipped, [{ name: 'w', reason: 'its zero point "zp" (DequantizeLinear) is uint8 but the tensor is int8' }]);
  });

  it('a per-axis zero point on an axis the weight does not have', async () => {
    const checkpoint = await open(
      'axis.onnx',
      [onnxNode('DequantizeLinear', ['w', 's', 'zp'], ['d'], { axis: 5 }), onnxNode('MatMul', ['x', 'd'], ['y'])],
      [weight, onnxInlineTensor('s', FLOAT, [], [0, 0, 128, 63]), onnxInlineTensor('zp', INT8, [2], [3, 4])],
    );
    assert.deepEqual(checkpoint.skipped, [
      { name: 'w', reason: 'its zero point "zp" (DequantizeLinear) has 2 values but axis 5 does not fit its [2, 4] shape' },
    ]);
  });

  it('blocked quantization with a non-zero zero point', async () => {
    const checkpoint = await open(
      'blocked.onnx',
      [onnxNode('DequantizeLinear', ['w', 's', 'zp'], ['d'], { axis: 1, block_size: 2 }), onnxNode('MatMul', ['x', 'd'], ['y'])],
      [weight, onnxInlineTensor('s', FLOAT, [], [0, 0, 128, 63]), onnxInlineTensor('zp', INT8, [2, 2], [3, 4, 5, 6])],
    );
    assert.deepEqual(checkpoint.skipped, [
      { name: 'w', reason: 'its zero point "zp" (DequantizeLinear): blocked quantization (block_size 2) is not analysed' },
    ]);
  });

  it('a zero point given by a graph input is named in the reason, and the other weights stay', async () => {
    const checkpoint = await open(
      'input.onnx',
      [onnxNode('ConvInteger', ['x', 'w', '', 'wzp'], ['y']), onnxNode('Gemm', ['x', 'v'], ['z'], { transB: 1 })],
      [weight, onnxInlineTensor('v', INT8, [2, 4], [0, 0, 0, 1, 0, 0, 0, 0])],
    );
    assert.deepEqual(checkpoint.skipped, [
      { name: 'w', reason: 'its zero point "wzp" (ConvInteger) is not a constant of the model, so which values stand for zero is unknown' },
    ]);
    assert.deepEqual(
      checkpoint.tensors.map((t) => [t.name, t.role]),
      [['v', 'linear']],
    );
  });
});

describe('ONNX with external data past 2 GiB', function () {
  this.timeout(120_000);
  const MiB = 1 << 20;
  const GiB = 1 << 30;
  const layerRows = 16384;
  const layerCols = 8192; // float32: 512 MiB per layer
  const layerBytes = layerRows * layerCols * 4;
  const layers = 5; // 2.5 GiB
  const probeOffset = layers * layerBytes + 4096; // past 2^31
  const probeRows = 64;
  const quantOffset = 3 * GiB;
  const quantDim = 1 << 15; // int8 [32768, 32768]: 1 GiB stored, a 2 GiB int16 copy
  // Non-zeros written into the sparse file: [row, col] of the probe and of the last layer.
  const probeWeights = [
    [0, 0],
    [0, 5],
    [3, 63],
    [17, 1],
    [63, 62],
  ];
  const lastLayerWeights = [
    [0, 1],
    [9000, 4096],
    [layerRows - 1, layerCols - 1],
  ];
  let tmp: ReturnType<typeof makeTempDir>;
  let model: string;

  before(() => {
    tmp = makeTempDir();
    const location = 'big.bin';
    const initializers: Buffer[] = [];
    const nodes: Buffer[] = [];
    for (let i = 0; i < layers; i++) {
      initializers.push(onnxExternalTensor(`layer${i}.weight`, FLOAT, [layerRows, layerCols], location, i * layerBytes, layerBytes));
      nodes.push(onnxNode('Gemm', [`h${i}`, `layer${i}.weight`], [`h${i + 1}`], { transB: 1 }));
    }
    initializers.push(onnxExternalTensor('probe.weight', FLOAT, [probeRows, probeRows], location, probeOffset, probeRows * probeRows * 4));
    nodes.push(onnxNode('Gemm', ['p', 'probe.weight'], ['q'], { transB: 1 }));
    initializers.push(onnxExternalTensor('quant.weight', INT8, [quantDim, quantDim], location, quantOffset, quantDim * quantDim));
    initializers.push(onnxInlineTensor('quant.zero_point', INT8, [], [1]));
    initializers.push(onnxInlineTensor('quant.scale', FLOAT, [], new Uint8Array(new Float32Array([0.1]).buffer)));
    nodes.push(onnxNode('DequantizeLinear', ['quant.weight', 'quant.scale', 'quant.zero_point'], ['quant.dq']));
    nodes.push(onnxNode('MatMul', ['r', 'quant.dq'], ['s']));
    model = path.join(tmp.dir, 'big.onnx');
    writeFileSync(model, onnxModel(nodes, initializers));

    // The data file is sparse: its holes read as zeros and take no disk.
    const fd = openSync(path.join(tmp.dir, location), 'w');
    try {
      ftruncateSync(fd, quantOffset + quantDim * quantDim);
      const value = Buffer.alloc(4);
      value.writeFloatLE(-1.5);
      for (const [r, c] of probeWeights) writeSync(fd, value, 0, 4, probeOffset + (r * probeRows + c) * 4);
      for (const [r, c] of lastLayerWeights) writeSync(fd, value, 0, 4, (layers - 1) * layerBytes + (r * layerCols + c) * 4);
    } finally {
      closeSync(fd);
    }
  });
  after(() => tmp?.remove());

  it('opens without reading the weights, with byte ranges into the data file', async () => {
    global.gc?.();
    const before = process.memoryUsage().rss;
    const checkpoint = await openCheckpoint(model);
    const grown = process.memoryUsage().rss - before;
    assert.ok(grown < 200 * MiB, `opening grew the process by ${(grown / MiB).toFixed(0)} MiB`);
    assert.deepEqual(
      checkpoint.tensors.map((t) => t.name),
      [...Array.from({ length: layers }, (_, i) => `layer${i}.weight`), 'probe.weight', 'quant.zero_point', 'quant.scale'],
    );
    for (const [i, t] of checkpoint.tensors.slice(0, layers).entries()) {
      assert.deepEqual(t.source, {
        kind: 'file',
        path: realpathSync(path.join(tmp.dir, 'big.bin')),
        offset: i * layerBytes,
        length: layerBytes,
      });
      assert.equal(t.role, 'linear');
    }
    const probe = checkpoint.tensors.find((t) => t.name === 'probe.weight')!;
    assert.ok(probe.source.kind === 'file' && probe.source.offset > 2 ** 31);
    // The int8 weight would need a 2 GiB int16 copy to shift by its zero point 1.
    assert.ok(2 * quantDim * quantDim > MAX_DERIVED_BYTES);
    assert.deepEqual(checkpoint.skipped, [
      { name: 'quant.weight', reason: 'shifting it by its zero point needs a 2.0 GiB copy, over the 1.0 GiB limit per tensor' },
    ]);
  });

  for (const backend of BACKENDS) {
    it(`reports a tensor stored past 2^31 (${backend} kernels)`, async () => {
      const checkpoint = await openCheckpoint(model);
      const probe = checkpoint.tensors.find((t) => t.name === 'probe.weight')!;
      const report = await reportWith(backend, { ...checkpoint, tensors: [probe] });
      const layer = report.layers[0];
      assert.equal(layer.nnz, probeWeights.length);
      assert.equal(layer.fanIn!.max, 2); // row 0
      assert.equal(layer.fanIn!.zeroNeurons, probeRows - 4);
    });
  }

  it('scans a whole 512 MiB layer at offset 2 GiB (native kernels)', async function () {
    if (!existsSync(nativePaths(REPO).addon)) this.skip();
    const checkpoint = await openCheckpoint(model);
    const last = checkpoint.tensors.find((t) => t.name === `layer${layers - 1}.weight`)!;
    assert.ok(last.source.kind === 'file' && last.source.offset === 2 ** 31);
    const report = await reportWith('native', { ...checkpoint, tensors: [last] });
    assert.equal(report.layers[0].nnz, lastLayerWeights.length);
    assert.equal(report.layers[0].fanIn!.zeroNeurons, layerRows - lastLayerWeights.length);
  });
});

async function reportWith(backend: KernelBackend, checkpoint: Checkpoint & { tensors: readonly TensorEntry[] }) {
  const kernels = createKernels({ backend, root: REPO });
  try {
    return await buildReport(checkpoint, kernels, { nm: { n: 2, m: 4 } });
  } finally {
    await kernels.dispose();
  }
}
