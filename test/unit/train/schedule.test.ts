import { strict as assert } from 'node:assert';
import { learningRateAt, type LearningRateSchedule } from '../../../src/core/train/learningRate';
import { epochOrder } from '../../../src/core/train/sampleOrder';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

describe('learning-rate schedules', () => {
  const base: LearningRateSchedule = { kind: 'constant', lr: 0.1, warmup: 0, totalSteps: 100 };

  it('constant keeps lr; linear warm-up rises (step + 1) / warmup · lr first', () => {
    close(learningRateAt(base, 0), 0.1);
    close(learningRateAt(base, 99), 0.1);
    const warm = { ...base, warmup: 4 };
    [0.025, 0.05, 0.075, 0.1, 0.1].forEach((lr, step) => close(learningRateAt(warm, step), lr));
  });

  it('cosine: lr at the first step after warm-up, lr/2 half way, towards 0 at the end (torch CosineAnnealingLR, eta_min 0)', () => {
    const cosine = { ...base, kind: 'cosine' as const };
    close(learningRateAt(cosine, 0), 0.1);
    close(learningRateAt(cosine, 50), 0.05);
    close(learningRateAt(cosine, 25), 0.05 * (1 + Math.SQRT1_2));
    close(learningRateAt(cosine, 99), 0.05 * (1 + Math.cos((Math.PI * 99) / 100)));
    const warm = { ...cosine, warmup: 10 };
    close(learningRateAt(warm, 10), 0.1);
    close(learningRateAt(warm, 55), 0.05);
  });

  it('step: tenfold lower from half way, a hundredfold from three quarters', () => {
    const step = { ...base, kind: 'step' as const };
    close(learningRateAt(step, 49), 0.1);
    close(learningRateAt(step, 50), 0.01);
    close(learningRateAt(step, 74), 0.01);
    close(learningRateAt(step, 75), 0.001);
  });
});

describe('epoch order', () => {
  it('is a permutation, the same for the same seed and epoch, different across epochs and seeds', () => {
    const a = epochOrder(1437, 7, 0);
    assert.deepEqual(
      [...a].sort((x, y) => x - y),
      Array.from({ length: 1437 }, (_, i) => i),
    );
    assert.deepEqual(a, epochOrder(1437, 7, 0));
    assert.notDeepEqual(a, epochOrder(1437, 7, 1));
    assert.notDeepEqual(a, epochOrder(1437, 8, 0));
  });

  it('spreads: each sample lands in each position about equally often (chi-square over 4000 shuffles of 8)', () => {
    const counts = Array.from({ length: 8 }, () => new Array(8).fill(0));
    for (let seed = 0; seed < 4000; seed++) epochOrder(8, seed, 0).forEach((s, pos) => counts[s][pos]++);
    const expected = 500;
    const chi = counts.flat().reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
    assert.ok(chi < 100, `chi-square ${chi.toFixed(1)} over 49 degrees of freedom`); // p ≈ 3e-5 at 100
  });
});
