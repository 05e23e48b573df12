import { strict as assert } from 'node:assert';
import { dropFraction, isMaskUpdate, maskUpdateCount, sriglTEnd, type SriglSchedule } from '../../../src/core/train/sriglSchedule';

describe('SRigL schedule (spec §3.2)', () => {
  // ImageNet ResNet-50: T_end = 192,000 (0.75 of 256,000 steps), ΔT = 800.
  const resnet50: SriglSchedule = { totalSteps: 256_000, deltaT: 800, alpha: 0.3, tEndFraction: 0.75 };

  it("the spec's ResNet-50 figures: T_end 192,000, 239 updates, f(800) = 0.299987, f(191,200) = 1.3e-5", () => {
    assert.equal(sriglTEnd(resnet50), 192_000);
    assert.equal(maskUpdateCount(resnet50), 239);
    assert.equal(dropFraction(resnet50, 800).toFixed(6), '0.299987');
    assert.equal(dropFraction(resnet50, 191_200).toExponential(1), '1.3e-5');
    let counted = 0;
    for (let t = 0; t <= resnet50.totalSteps; t++) if (isMaskUpdate(resnet50, t)) counted++;
    assert.equal(counted, 239);
  });

  it('updates at t = ΔT, 2ΔT, … strictly before T_end, never at step 0; T_end floors', () => {
    const s: SriglSchedule = { totalSteps: 101, deltaT: 25, alpha: 0.3, tEndFraction: 0.75 };
    assert.equal(sriglTEnd(s), 75); // int(75.75)
    const updates = Array.from({ length: 102 }, (_, t) => t).filter((t) => isMaskUpdate(s, t));
    assert.deepEqual(updates, [25, 50]);
    assert.equal(maskUpdateCount(s), 2);
    assert.equal(dropFraction(s, 0), 0.3);
    assert.ok(Math.abs(dropFraction(s, 37.5) - 0.15) < 1e-15, 'half of α at T_end / 2');
  });

  it('tEndFraction 1 (use_t_end: False) updates over the whole run', () => {
    const s: SriglSchedule = { totalSteps: 100, deltaT: 10, alpha: 0.5, tEndFraction: 1 };
    assert.equal(maskUpdateCount(s), 9);
    assert.ok(isMaskUpdate(s, 90) && !isMaskUpdate(s, 100));
  });
});
