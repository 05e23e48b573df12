// The engine's forward pass (its predict) against onnxruntime-node on the same ONNX files: the
// graph as a training program computes what the model computes.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { numelOf } from '../../../src/core/checkpoint';
import { readOnnxGraph } from '../../../src/core/formats/onnx/graph';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { withFile } from '../../../src/core/randomAccessFile';
import { loadTrainingData, DEFAULT_KEYS } from '../../../src/core/train/trainingData';
import { buildTrainingProgram } from '../../../src/core/train/trainingProgram';
import type { NativeTrainingAddon } from '../../../src/kernels/native/bindings/training';
import { FIXTURES } from '../../helpers/fixtures';
import { loadTrainingAddon } from '../../helpers/gradientCheck';
import { onnxOutput, SHARED_DATA } from '../../helpers/onnxAccuracy';

const SGD = { kind: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } as const;

const MODELS = [
  { model: path.join(SHARED_DATA, 'digits_mlp.onnx'), data: path.join(SHARED_DATA, 'digits.npz'), x: 'x_test' },
  { model: path.join(SHARED_DATA, 'digits_mlp_24.onnx'), data: path.join(SHARED_DATA, 'digits.npz'), x: 'x_test' },
  { model: path.join(FIXTURES, 'train', 'digits_cnn.onnx'), data: path.join(SHARED_DATA, 'digits.npz'), x: 'x_test_img' },
  { model: path.join(FIXTURES, 'train', 'ops_mix.onnx'), data: path.join(SHARED_DATA, 'digits.npz'), x: 'x_test' },
  { model: path.join(FIXTURES, 'train', 'padded_cnn.onnx'), data: path.join(SHARED_DATA, 'digits.npz'), x: 'x_test_img' },
  { model: path.join(FIXTURES, 'train', 'resnet18_narrow.onnx'), data: path.join(FIXTURES, 'train', 'resnet_random.npz'), x: 'x_test' },
];

function logSoftmaxRows(logits: Float32Array, classes: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let r = 0; r < logits.length / classes; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    row.forEach((v, c) => (out[r * classes + c] = v - lse));
  }
  return out;
}

describe('training engine forward vs onnxruntime', function () {
  this.timeout(60_000);
  let addon: NativeTrainingAddon;
  before(function () {
    addon = loadTrainingAddon(this);
  });

  for (const m of MODELS) {
    it(`${path.basename(m.model)}: the engine's outputs equal onnxruntime's within 1e-4 of their scale`, async () => {
      const built = await buildTrainingProgram(await withFile(m.model, readOnnxGraph), await openCheckpoint(m.model));
      const data = await loadTrainingData(
        m.data,
        { ...DEFAULT_KEYS, x: m.x, y: 'unlabelled', testX: 'none' },
        new Set(),
        built.sampleDims,
        built.inputName,
      );
      const count = Math.min(64, data.train.count);
      const x = data.train.x.subarray(0, count * numelOf(data.train.sampleShape));
      const session = new addon.TrainingSession(built.program, SGD, 2);
      try {
        const ours = session.predict(x, count);
        const theirs = await onnxOutput(m.model, x, [count, ...data.train.sampleShape]);
        assert.equal(ours.length, theirs.length, 'output size');
        const compared = built.outputKind === 'logSoftmax' ? logSoftmaxRows(ours, ours.length / count) : ours;
        const scale = Math.max(...theirs.map(Math.abs));
        let worst = 0;
        for (let i = 0; i < theirs.length; i++) worst = Math.max(worst, Math.abs(compared[i] - theirs[i]));
        assert.ok(worst <= 1e-4 * scale, `max |ours − onnxruntime| = ${worst} at scale ${scale}`);
      } finally {
        session.close();
      }
    });
  }
});
