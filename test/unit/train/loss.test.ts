import { strict as assert } from 'node:assert';
import type { CheckedTensor, NativeTrainingAddon } from '../../../src/kernels/native/bindings/training';
import { assertAllClose, loadTrainingAddon, randomTensor, tensorOf } from '../../helpers/gradientCheck';
import { seededRandom } from '../../helpers/random';

type LossTargets = Parameters<NativeTrainingAddon['trainLossCheck']>[1];

/** Central finite differences of the loss at every logit. */
function numericGradient(addon: NativeTrainingAddon, logits: CheckedTensor, targets: LossTargets, eps = 1e-6): Float64Array {
  return Float64Array.from(logits.data, (_, i) => {
    const at = (delta: number) => {
      const data = Float64Array.from(logits.data);
      data[i] += delta;
      return addon.trainLossCheck({ shape: logits.shape, data }, targets).loss;
    };
    return (at(eps) - at(-eps)) / (2 * eps);
  });
}

const logSoftmax = (row: number[], t = 1) => {
  const scaled = row.map((v) => v / t);
  const lse = Math.log(scaled.reduce((s, v) => s + Math.exp(v), 0));
  return scaled.map((v) => v - lse);
};

describe('training engine: the loss', function () {
  let addon: NativeTrainingAddon;
  before(function () {
    addon = loadTrainingAddon(this);
  });

  it('cross-entropy equals the hand-computed mean of −log softmax at the label', () => {
    const logits = tensorOf([2, 3], [1, 2, 3, 0.5, -1, 0]);
    const labels = Int32Array.from([2, 0]);
    const { loss, grad } = addon.trainLossCheck(logits, { labels });
    const expected = -(logSoftmax([1, 2, 3])[2] + logSoftmax([0.5, -1, 0])[0]) / 2;
    assert.ok(Math.abs(loss - expected) < 1e-14, `${loss} vs ${expected}`);
    const softmax = [1, 2, 3].map((v) => Math.exp(v) / (Math.exp(1) + Math.exp(2) + Math.exp(3)));
    assertAllClose(grad.slice(0, 3), [softmax[0] / 2, softmax[1] / 2, (softmax[2] - 1) / 2], 'gradient of sample 0', 1e-14);
  });

  it('cross-entropy: gradient vs finite differences, and no overflow on huge logits', () => {
    const rnd = seededRandom(1);
    const logits = randomTensor([5, 7], rnd, -4, 4);
    const labels = Int32Array.from([0, 6, 3, 3, 1]);
    const { grad } = addon.trainLossCheck(logits, { labels });
    assertAllClose(grad, numericGradient(addon, logits, { labels }), 'cross-entropy gradient', 1e-7);
    const huge = addon.trainLossCheck(tensorOf([1, 3], [1000, 0, -1000]), { labels: Int32Array.from([1]) });
    assert.ok(Math.abs(huge.loss - 1000) < 1e-9, `loss ${huge.loss}`);
    assert.ok(huge.grad.every(Number.isFinite));
  });

  it('distillation equals T² · KL(softmax(t/T) ‖ softmax(z/T)) averaged over the batch', () => {
    const rnd = seededRandom(2);
    const logits = randomTensor([3, 4], rnd, -3, 3);
    const teacher = randomTensor([3, 4], rnd, -3, 3);
    for (const temperature of [1, 2.5]) {
      const { loss } = addon.trainLossCheck(logits, { teacherLogits: teacher.data, temperature });
      let expected = 0;
      for (let b = 0; b < 3; b++) {
        const logQ = logSoftmax(Array.from(logits.data.slice(b * 4, b * 4 + 4)), temperature);
        const logP = logSoftmax(Array.from(teacher.data.slice(b * 4, b * 4 + 4)), temperature);
        expected += logP.reduce((s, lp, c) => s + Math.exp(lp) * (lp - logQ[c]), 0);
      }
      expected = (expected / 3) * temperature * temperature;
      assert.ok(Math.abs(loss - expected) < 1e-13, `T=${temperature}: ${loss} vs ${expected}`);
      const targets = { teacherLogits: teacher.data, temperature };
      assertAllClose(
        addon.trainLossCheck(logits, targets).grad,
        numericGradient(addon, logits, targets),
        `T=${temperature} gradient`,
        1e-7,
      );
    }
  });

  it('distillation to itself is zero, with a zero gradient', () => {
    const logits = randomTensor([2, 5], seededRandom(3));
    const { loss, grad } = addon.trainLossCheck(logits, { teacherLogits: logits.data, temperature: 3 });
    assert.ok(Math.abs(loss) < 1e-15);
    assert.ok(grad.every((g) => Math.abs(g) < 1e-15));
  });

  it('rejects a label outside the classes and a bad temperature', () => {
    const logits = tensorOf([2, 3], [1, 2, 3, 4, 5, 6]);
    assert.throws(() => addon.trainLossCheck(logits, { labels: Int32Array.from([0, 3]) }), /label 3 of sample 1 is outside \[0, 3\)/);
    assert.throws(
      () => addon.trainLossCheck(logits, { teacherLogits: logits.data, temperature: 0 }),
      /trainLossCheck: targets.temperature must be above 0, not 0/,
    );
  });
});
