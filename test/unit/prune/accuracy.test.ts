import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { planCheckpoint, planRequestOf } from '../../../src/core/analysis/checkpointPlan';
import { DEFAULT_NM } from '../../../src/core/nmPattern';
import { selectFanIn, selectNm, type PruneSelection } from '../../../src/core/prune/pruneSelection';
import { createKernels } from '../../../src/kernels/createKernels';
import type { Kernels } from '../../../src/kernels/kernels';
import { fixture, makeTempDir, REPO } from '../../helpers/fixtures';
import { digitsAccuracy, SHARED_DATA } from '../../helpers/onnxAccuracy';
import { EXPECTED, maskBytes } from '../../helpers/prune';
import { pruneWith } from './pruneSafetensors.test';

type Analysis = Awaited<ReturnType<Kernels['analyseFile']>>;
const all = { include: [], exclude: [] };

/** The float32 tensors of a safetensors file, read here from its header and data section. */
function safetensorsFloats(file: string): Map<string, { shape: number[]; values: Float32Array }> {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    assert.equal(entry.dtype, 'F32');
    const [start, end] = entry.data_offsets;
    const values = new Float32Array((end - start) / 4);
    for (let i = 0; i < values.length; i++) values[i] = bytes.readFloatLE(8 + n + start + 4 * i);
    out.set(name, { shape: entry.shape, values });
  }
  return out;
}

/**
 * The cnn of scripts/fixtures/make_prune_expected.py computed here in float64: conv1 Conv2d(4, 8,
 * 3, padding=1), ReLU, conv2 Conv2d(8, 16, 3), ReLU, global average pool, fc1 Linear(16, 12),
 * fc2 Linear(12, 8); x is [1, 4, 8, 8].
 */
function cnnForward(weights: Map<string, { values: Float32Array }>, x: readonly number[]): number[] {
  const w = (name: string) => weights.get(name)!.values;
  const conv = (input: number[], c: number, size: number, weight: Float32Array, bias: Float32Array, k: number, pad: number) => {
    const outSize = size + 2 * pad - 2;
    const out: number[] = [];
    for (let o = 0; o < k; o++)
      for (let y = 0; y < outSize; y++)
        for (let z = 0; z < outSize; z++) {
          let sum = bias[o];
          for (let ci = 0; ci < c; ci++)
            for (let r = 0; r < 3; r++)
              for (let s = 0; s < 3; s++) {
                const [iy, iz] = [y + r - pad, z + s - pad];
                if (iy >= 0 && iy < size && iz >= 0 && iz < size)
                  sum += weight[((o * c + ci) * 3 + r) * 3 + s] * input[(ci * size + iy) * size + iz];
              }
          out.push(Math.max(0, sum));
        }
    return out;
  };
  const linear = (input: number[], weight: Float32Array, bias: Float32Array) =>
    Array.from(bias, (b, o) => input.reduce((sum, v, i) => sum + weight[o * input.length + i] * v, b));
  const h1 = conv([...x], 4, 8, w('conv1.weight'), w('conv1.bias'), 8, 1);
  const h2 = conv(h1, 8, 8, w('conv2.weight'), w('conv2.bias'), 16, 0);
  const pooled = Array.from({ length: 16 }, (_, c) => h2.slice(c * 36, (c + 1) * 36).reduce((a, b) => a + b, 0) / 36);
  return linear(linear(pooled, w('fc1.weight'), w('fc1.bias')), w('fc2.weight'), w('fc2.bias'));
}

async function runCnn(model: string, x: readonly number[]): Promise<{ dims: readonly number[]; values: number[] }> {
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  try {
    const outputs = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(x), [1, 4, 8, 8]) });
    const y = outputs[session.outputNames[0]];
    return { dims: y.dims, values: Array.from(y.data as Float32Array) };
  } finally {
    await session.release();
  }
}

const close = (actual: readonly number[], expected: readonly number[], tolerance: number) =>
  actual.length === expected.length && actual.every((v, i) => Math.abs(v - expected[i]) <= tolerance);

describe('prune accuracy: pruned ONNX models run by onnxruntime', function () {
  this.timeout(60_000);
  let kernels: Kernels;
  let temp: ReturnType<typeof makeTempDir>;
  before(function () {
    // A checkout without the shared data folder (the digits test set) skips, as the onnxruntime tests do.
    if (!existsSync(path.join(SHARED_DATA, 'digits.npz'))) this.skip();
    kernels = createKernels({ backend: 'native', root: REPO });
    temp = makeTempDir();
  });
  after(async () => {
    await kernels?.dispose();
    temp?.remove();
  });

  const digits = EXPECTED.digits_mlp.accuracy!;

  it('the dense digits MLP: 348/360, the figure of expected.json and the data README', async () => {
    assert.deepEqual(digits.dense, { correct: 348, total: 360 });
    assert.deepEqual(await digitsAccuracy(fixture('digits_mlp.onnx')), digits.dense);
  });

  const cases: { title: string; key: string; select: (a: Analysis) => PruneSelection; rules: string[] }[] = [
    {
      title: '2:4 (NVIDIA ASP m4n2_1d): 340/360, as ASP’s own digits_mlp_24',
      key: 'nm:2:4',
      select: (a) => selectNm(a, DEFAULT_NM, false, all),
      rules: ['fc1.weight 2:4', 'fc2.weight 2:4', 'fc3.weight 2:4'],
    },
    {
      title: '2:4 transposable (fc3, 10 outputs, left dense): the numpy figure',
      key: 'transposable:2:4',
      select: (a) => selectNm(a, DEFAULT_NM, true, all),
      rules: ['fc1.weight 2:4 transposable', 'fc2.weight 2:4 transposable'],
    },
    {
      title: 'constant fan-in at the ERK 0.9 plan: the numpy figure',
      key: 'fanIn:erk0.9',
      select: (a) => selectFanIn(a, planCheckpoint(a, planRequestOf({ sparsity: '0.9', distribution: 'erk' })), all),
      rules: Object.entries(EXPECTED['erk0.9'].layers).map(([name, l]) => `${name} constant fan-in k=${l.k}`),
    },
  ];
  for (const c of cases) {
    it(`digits MLP, ${c.title}`, async () => {
      const output = path.join(temp.dir, `digits.${c.key.replace(/[:.]/g, '_')}.onnx`);
      const result = await pruneWith(kernels, fixture('digits_mlp.onnx'), output, c.select);
      assert.deepEqual(
        result.layers.map((l) => `${l.name} ${l.rule}`),
        c.rules,
      );
      if (c.key === 'nm:2:4') assert.deepEqual(digits[c.key], { correct: 340, total: 360 });
      if (c.key === 'fanIn:erk0.9') assert.deepEqual(digits[c.key], { correct: 240, total: 360 });
      assert.deepEqual(await digitsAccuracy(output), digits[c.key]);
    });
  }

  it('the cnn pruned to 2:4 runs and computes the dense cnn with numpy’s masks applied', async () => {
    const { input, logits } = EXPECTED.cnn.example;
    const weights = safetensorsFloats(fixture('prune', 'cnn.safetensors'));
    // The forward pass here, and onnxruntime on the original model, both give the PyTorch logits.
    assert.ok(close(cnnForward(weights, input), logits, 1e-5), 'the forward pass here is the model');
    const dense = await runCnn(fixture('prune', 'cnn.onnx'), input);
    assert.deepEqual(dense.dims, [1, 8]);
    assert.ok(close(dense.values, logits, 1e-5), 'onnxruntime runs the original as PyTorch did');

    const output = path.join(temp.dir, 'cnn.pruned.onnx');
    await pruneWith(kernels, fixture('prune', 'cnn.onnx'), output, (a) => selectNm(a, DEFAULT_NM, false, all));
    const pruned = await runCnn(output, input);
    assert.deepEqual(pruned.dims, [1, 8]);
    assert.ok(pruned.values.every(Number.isFinite));
    const masked = new Map(
      [...weights].map(([name, t]) => {
        const mask = EXPECTED.cnn.masks[name] && maskBytes(EXPECTED.cnn.masks[name]['nm:2:4']);
        return [name, { shape: t.shape, values: mask ? t.values.map((v, i) => (mask[i] ? v : 0)) : t.values }];
      }),
    );
    const expected = cnnForward(masked, input);
    assert.ok(close(pruned.values, expected, 1e-5), `pruned ${pruned.values.join(', ')}\nexpected ${expected.join(', ')}`);
    assert.ok(!close(pruned.values, logits, 1e-3), 'pruning changed the logits');
  });
});
