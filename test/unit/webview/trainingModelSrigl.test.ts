import { strict as assert } from 'node:assert';
import type { TrainingMaskUpdate, TrainingPoint, TrainingStarted } from '../../../src/webview/protocol';
import { MAX_MASK_UPDATES, TrainingModel } from '../../../webview/src/trainingModel';

const SCHEDULE = { totalSteps: 40, deltaT: 5, alpha: 0.3, tEndFraction: 0.75 };

const STARTED: TrainingStarted = {
  run: 'srigl-1',
  data: 'digits.npz',
  output: 'digits_mlp.srigl90.onnx',
  method: 'SRigL 90 % (ERK)',
  steps: 40,
  epochs: 4,
  batch: 128,
  trainSamples: 1437,
  tested: true,
  srigl: {
    sparsity: 0.9,
    distribution: 'ERK',
    schedule: SCHEDULE,
    updates: 5,
    layers: [
      { name: 'fc1.weight', label: 'fc1', rows: 4, cols: 8, sparsity: 0.75, k: 2, ablatable: true },
      { name: 'fc2.weight', label: 'fc2', rows: 2, cols: 4, sparsity: 0.5, k: 2, ablatable: false },
    ],
    dense: ['fc3'],
    initialMasks: { 'fc1.weight': Uint8Array.from([0xc0, 0xc0, 0xc0, 0xc0]), 'fc2.weight': Uint8Array.from([0xc0, 0xc0]) },
  },
};

const update = (index: number, withMasks: boolean): TrainingMaskUpdate => ({
  index,
  of: 5,
  dropFraction: 0.3 / index,
  layers: [
    { name: 'fc1.weight', k: 2 + (index > 2 ? 1 : 0), ablated: index > 2 ? 1 : 0, grown: 3, dropped: 3, active: 8 },
    { name: 'fc2.weight', k: 2, ablated: 0, grown: 1, dropped: 1, active: 4 },
  ],
  ...(withMasks ? { masks: { 'fc1.weight': Uint8Array.from([index, 0, 0, 0]), 'fc2.weight': Uint8Array.from([index, 0]) } } : {}),
});

/** Steps from..to, a mask update every 5 steps (with masks when `masks` says so). */
function steps(from: number, to: number, masks: (index: number) => boolean = () => true): TrainingPoint[] {
  const out: TrainingPoint[] = [];
  for (let step = from; step <= to; step++) {
    const index = step % 5 === 0 && step < 30 ? step / 5 : 0;
    out.push({
      step,
      epoch: Math.ceil(step / 10),
      loss: 1 / step,
      lr: 0.01,
      ...(index ? { maskUpdate: update(index, masks(index)) } : {}),
    });
  }
  return out;
}

/** The update whose masks the model holds (a function: an assertion on the getter must not narrow it). */
const heldUpdate = (model: TrainingModel): number | undefined => model.masks?.update;

describe('webview: training model of a SRigL run', () => {
  it('holds the masks the run started with, then only the latest; every update’s figures once', () => {
    const model = new TrainingModel();
    model.start(STARTED);
    assert.equal(model.masks?.update, 0);
    assert.deepEqual([...model.masks!.masks.get('fc1.weight')!], [0xc0, 0xc0, 0xc0, 0xc0]);
    assert.equal(model.layer?.name, 'fc1.weight', 'the first layer by default');
    assert.equal(model.maskStatusText(), 'Masks as they start: 5 updates planned, every 5 steps.');
    const version = model.masksVersion;
    model.add('srigl-1', steps(1, 12), 1);
    assert.equal(model.masks?.update, 2);
    assert.equal(model.masks?.step, 10);
    assert.deepEqual([...model.masks!.masks.get('fc2.weight')!], [2, 0]);
    assert.ok(model.masksVersion > version);
    assert.deepEqual(
      model.maskUpdates.map((u) => [u.index, u.step, u.moved, u.active, u.ablated]),
      [
        [1, 5, 4, 12, 0],
        [2, 10, 4, 12, 0],
      ],
    );
    assert.equal(model.maskStatusText(), 'Update 2 of 5 at step 10 · drop fraction 0.150 · 4 weights moved · 0 neurons ablated');
    model.add(
      'srigl-1',
      steps(13, 20, (i) => i !== 4),
      2,
    );
    assert.equal(model.masks?.update, 3, 'an update that came without masks keeps the latest held');
    assert.equal(model.maskUpdates.length, 4);
    assert.equal(model.kText(), 'fc1 3 of 8 · fc2 2 of 4');
    assert.deepEqual(model.layerFigures('fc1.weight'), { name: 'fc1.weight', k: 3, ablated: 1, grown: 3, dropped: 3, active: 8 });
    model.selectLayer('fc2.weight');
    assert.equal(model.layer?.name, 'fc2.weight');
    model.selectLayer('gone');
    assert.equal(model.layer?.name, 'fc1.weight', 'a layer the run lacks: the first');
  });

  it('after a reload: the figures and the layer picked come back from the saved state, the masks from the host’s replay', () => {
    const model = new TrainingModel();
    model.start(STARTED);
    model.add('srigl-1', steps(1, 22), 2);
    model.selectLayer('fc2.weight');
    const saved = model.save()!;
    // Bytes do not survive the webview's state: none are saved.
    assert.deepEqual(saved.started.srigl?.initialMasks, {});
    const restored = TrainingModel.restore(JSON.parse(JSON.stringify(saved)));
    assert.equal(heldUpdate(restored), undefined, 'no masks until the host tells them');
    assert.equal(restored.maskUpdates.length, 4);
    assert.equal(restored.layer?.name, 'fc2.weight');
    assert.equal(restored.maskStatusText(), model.maskStatusText());
    // The replay: the run again (its first masks), then the steps so far, the latest masks on their step.
    assert.equal(restored.start(STARTED), false);
    assert.equal(heldUpdate(restored), 0);
    const replay = steps(1, 22, (i) => i === 4);
    const version = restored.masksVersion;
    assert.equal(restored.add('srigl-1', replay, 2), 0, 'no step is new');
    assert.equal(restored.masksVersion, version + 1, 'but the masks are: the view redraws them');
    assert.equal(heldUpdate(restored), 4);
    assert.equal(restored.maskUpdates.length, 4, 'no update counted twice');
    // An older update's masks never replace newer ones.
    restored.add('srigl-1', [{ ...steps(10, 10)[0] }], 2);
    assert.equal(heldUpdate(restored), 4);
  });

  it('a new run drops the masks and figures of the last one; other methods have no SRigL side', () => {
    const model = new TrainingModel();
    model.start(STARTED);
    model.add('srigl-1', steps(1, 10), 1);
    assert.equal(model.start({ ...STARTED, run: 'srigl-2', srigl: { ...STARTED.srigl!, initialMasks: {} } }), true);
    assert.equal(model.maskUpdates.length, 0);
    assert.equal(model.masks?.update, 0);
    assert.equal(model.masks?.masks.size, 0);
    const { srigl: _srigl, ...dense } = STARTED;
    model.start({ ...dense, run: 'dense-1', method: 'Dense' });
    assert.equal(model.srigl, null);
    assert.equal(model.layer, null);
    assert.equal(model.maskStatusText(), '');
    assert.equal(model.save()!.srigl, undefined);
  });

  it('says when no update came, and keeps the updates bounded on a long run', () => {
    const model = new TrainingModel();
    model.start({ ...STARTED, srigl: { ...STARTED.srigl!, updates: 0 } });
    assert.equal(model.maskStatusText(), 'The run is too short for a mask update: the masks stay as they started.');
    const long = new TrainingModel();
    long.start({ ...STARTED, steps: 10_000 });
    const points: TrainingPoint[] = [];
    for (let step = 1; step <= 5000; step++)
      points.push({ step, epoch: 1, loss: 1, lr: 0.01, maskUpdate: { ...update(step, false), of: 5000 } });
    long.add('srigl-1', points, 10);
    assert.ok(long.maskUpdates.length <= MAX_MASK_UPDATES, `${long.maskUpdates.length}`);
    assert.equal(long.maskUpdates[long.maskUpdates.length - 1].index, 5000, 'the latest kept');
    assert.ok(
      long.maskUpdates.every((u, i, all) => i === 0 || all[i - 1].step < u.step),
      'in order',
    );
  });
});
