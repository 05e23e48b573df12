import { strict as assert } from 'node:assert';
import type { TrainingPoint, TrainingStarted } from '../../../src/webview/protocol';
import {
  CHART_POINTS,
  formatNumber,
  MAX_LOSS_POINTS,
  RedrawThrottle,
  thin,
  TrainingModel,
  type LossPoint,
} from '../../../webview/src/trainingModel';

const STARTED: TrainingStarted = {
  run: 'run-1',
  data: 'digits.npz',
  output: 'digits_mlp.finetuned.onnx',
  method: 'Prune to 2:4, then fine-tune',
  steps: 36,
  epochs: 3,
  batch: 128,
  trainSamples: 1437,
  tested: true,
};

/** Steps `from`..`to` of a run with 12 steps per epoch; loss 1/step; test accuracy 0.9 + epoch/100. */
function steps(from: number, to: number, perEpoch = 12): TrainingPoint[] {
  const out: TrainingPoint[] = [];
  for (let step = from; step <= to; step++) {
    const epoch = Math.ceil(step / perEpoch);
    out.push({
      step,
      epoch,
      loss: 1 / step,
      lr: 0.01,
      ...(step % perEpoch === 0 ? { epochEnd: { epoch, trainLoss: 1 / step, testAccuracy: 0.9 + epoch / 100 } } : {}),
      ...(step === 1 ? { initialTestAccuracy: 0.85 } : {}),
    });
  }
  return out;
}

describe('webview: training model', () => {
  it('holds nothing until a run starts, and ignores steps of another run', () => {
    const model = new TrainingModel();
    assert.equal(model.status, null);
    assert.equal(model.statusText(), '');
    assert.equal(model.add('run-1', steps(1, 3), 0.1), 0, 'no run started');
    model.start(STARTED);
    assert.equal(model.status, 'running');
    assert.equal(model.add('other', steps(1, 3), 0.1), 0);
    assert.equal(model.step, 0);
    assert.match(model.statusText(), /^Starting: 36 steps of 128 samples \(1,437 training samples\)…$/);
  });

  it('accumulates the loss of every step and the test accuracy of every epoch, the one before training first', () => {
    const model = new TrainingModel();
    model.start(STARTED);
    assert.equal(model.add('run-1', steps(1, 12), 0.5), 12);
    assert.equal(model.add('run-1', steps(13, 24), 1.0), 12);
    assert.equal(model.step, 24);
    assert.deepEqual(
      model.loss.map((p) => p.step),
      Array.from({ length: 24 }, (_, i) => i + 1),
    );
    assert.ok(model.loss.every((p) => p.weight === 1 && p.loss === 1 / p.step));
    assert.deepEqual(model.accuracy, [
      { epoch: 0, step: 0, accuracy: 0.85 },
      { epoch: 1, step: 12, accuracy: 0.91 },
      { epoch: 2, step: 24, accuracy: 0.92 },
    ]);
    assert.deepEqual(model.summary, { before: 0.85, now: 0.92, trainLoss: 1 / 24 });
    assert.equal(model.fraction, 24 / 36);
  });

  it('ignores steps it holds already: a replay after a reload adds only what is new', () => {
    const model = new TrainingModel();
    model.start(STARTED);
    model.add('run-1', steps(1, 20), 1);
    // The host tells a reloaded webview the run again, from the start.
    assert.equal(model.start(STARTED), false, 'the same run: nothing dropped');
    assert.equal(model.add('run-1', steps(1, 30), 1.5), 10);
    assert.equal(model.loss.length, 30);
    assert.equal(model.accuracy.filter((a) => a.epoch === 0).length, 1, 'the accuracy before training once');
    assert.equal(model.accuracy.length, 3);
  });

  it('drops everything for a new run', () => {
    const model = new TrainingModel();
    model.start(STARTED);
    model.add('run-1', steps(1, 36), 2);
    model.finish({ run: 'run-1', status: 'done', step: 36, testAccuracy: 0.93, output: 'x.onnx', message: 'Done.' });
    assert.equal(model.start({ ...STARTED, run: 'run-2' }), true);
    assert.equal(model.status, 'running');
    assert.equal(model.step, 0);
    assert.deepEqual([model.loss.length, model.accuracy.length, model.finished], [0, 0, null]);
  });

  it('says where the run is while it runs, then the host’s sentence; the last finish wins', () => {
    const model = new TrainingModel();
    model.start(STARTED);
    model.add('run-1', steps(1, 24), 0.5);
    assert.equal(model.statusText(), 'Step 24 of 36 · epoch 2 of 3 · 48 steps/s · lr 0.01 · loss 0.04167');
    model.finish({ run: 'other', status: 'failed', step: 0, testAccuracy: null, output: null, message: 'not ours' });
    assert.equal(model.status, 'running');
    model.finish({ run: 'run-1', status: 'cancelled', step: 24, testAccuracy: 0.92, output: null, message: 'Stopped at step 24 of 36.' });
    assert.equal(model.status, 'cancelled');
    assert.equal(model.statusText(), 'Stopped at step 24 of 36.');
    model.finish({ run: 'run-1', status: 'cancelled', step: 24, testAccuracy: 0.92, output: 'x.onnx', message: 'Saved.' });
    assert.equal(model.statusText(), 'Saved.');
    assert.equal(model.finished?.output, 'x.onnx');
  });

  it('measures steps/s over the last seconds, not since the start', () => {
    const model = new TrainingModel();
    model.start({ ...STARTED, steps: 100_000 });
    // 100 steps/s for 10 s, then 1,000 steps/s.
    let step = 0;
    for (let t = 1; t <= 10; t++) model.add('run-1', steps(step + 1, (step += 100), 1000), t);
    assert.equal(model.stepsPerSecond, 100);
    for (let t = 11; t <= 20; t++) model.add('run-1', steps(step + 1, (step += 1000), 1000), t);
    assert.equal(model.stepsPerSecond, 1000);
    // One measure only: the whole run's rate.
    const fresh = new TrainingModel();
    fresh.start(STARTED);
    fresh.add('run-1', steps(1, 10), 2);
    assert.equal(fresh.stepsPerSecond, 5);
  });

  it('keeps memory bounded on long runs: neighbours merge, their mean loss kept', () => {
    const model = new TrainingModel();
    model.start({ ...STARTED, steps: 50_000 });
    for (let s = 1; s <= 50_000; s += 1000) model.add('run-1', steps(s, s + 999, 1_000_000), s / 1000);
    assert.ok(model.loss.length <= MAX_LOSS_POINTS, `${model.loss.length} points`);
    assert.equal(
      model.loss.reduce((n, p) => n + p.weight, 0),
      50_000,
      'every step is counted once',
    );
    assert.equal(model.loss[model.loss.length - 1].step, 50_000);
    // The weighted mean of the merged losses is the mean of all steps.
    const mean = model.loss.reduce((s, p) => s + p.loss * p.weight, 0) / 50_000;
    let exact = 0;
    for (let s = 1; s <= 50_000; s++) exact += 1 / s;
    assert.ok(Math.abs(mean - exact / 50_000) < 1e-12);
    assert.ok(model.lossSeries().length <= CHART_POINTS);
  });

  it('thins a series to at most the chart’s points, each the weighted mean of a run of neighbours', () => {
    const points: LossPoint[] = Array.from({ length: 10 }, (_, i) => ({ step: i + 1, loss: i, weight: 1 }));
    assert.deepEqual(thin(points, 20), points);
    assert.deepEqual(thin(points, 5), [
      { step: 2, loss: 0.5, weight: 2 },
      { step: 4, loss: 2.5, weight: 2 },
      { step: 6, loss: 4.5, weight: 2 },
      { step: 8, loss: 6.5, weight: 2 },
      { step: 10, loss: 8.5, weight: 2 },
    ]);
    const weighted = thin(
      [
        { step: 1, loss: 1, weight: 3 },
        { step: 2, loss: 2, weight: 1 },
      ],
      1,
    );
    assert.deepEqual(weighted, [{ step: 2, loss: 1.25, weight: 4 }]);
  });

  it('smooths the loss with a debiased moving average: a constant stays constant, a step is followed', () => {
    const model = new TrainingModel();
    model.start(STARTED);
    model.add(
      'run-1',
      Array.from({ length: 20 }, (_, i) => ({ step: i + 1, epoch: 1, loss: i < 10 ? 2 : 1, lr: 0.01 })),
      1,
    );
    const smooth = model.smoothedLoss(CHART_POINTS, 0.5);
    assert.ok(
      smooth.slice(0, 10).every((p) => Math.abs(p.loss - 2) < 1e-12),
      'no bias towards 0 at the start',
    );
    assert.ok(smooth[10].loss < 2 && smooth[10].loss > 1);
    assert.ok(Math.abs(smooth[19].loss - 1) < 1e-2);
  });

  it('survives a reload: what it saves restores the same figures, bounded in size', () => {
    const model = new TrainingModel();
    model.start({ ...STARTED, steps: 5000 });
    model.add('run-1', steps(1, 5000, 1000), 10);
    const saved = model.save()!;
    assert.ok(saved.loss.length <= CHART_POINTS);
    // What the webview keeps goes through structured cloning (JSON here as strict).
    const restored = TrainingModel.restore(JSON.parse(JSON.stringify(saved)));
    assert.equal(restored.step, 5000);
    assert.equal(restored.status, 'running');
    assert.deepEqual(restored.accuracy, model.accuracy);
    assert.equal(restored.statusText(), model.statusText());
    assert.deepEqual(restored.summary, model.summary);
    // The host replays the run: nothing is added twice; later steps are.
    assert.equal(restored.add('run-1', steps(4990, 5000, 1000), 10), 0);
    assert.equal(TrainingModel.restore(null).status, null);
    assert.equal(TrainingModel.restore({} as never).status, null, 'an unreadable state gives an empty model');
  });

  it('redraws at most once per interval however often asked', () => {
    const throttle = new RedrawThrottle(100);
    assert.equal(throttle.request(0), 0, 'the first draws at once');
    assert.equal(throttle.request(10), null, 'already scheduled');
    throttle.drew(5);
    assert.equal(throttle.request(20), 85, 'waits out the interval');
    assert.equal(throttle.request(30), null);
    throttle.drew(105);
    assert.equal(throttle.request(400), 0);
  });

  it('formats losses and learning rates short', () => {
    assert.deepEqual([0.123456, 0.01, 1e-5, 2.5, 0, NaN, 123456].map(formatNumber), [
      '0.1235',
      '0.01',
      '1.00e-5',
      '2.5',
      '0',
      '—',
      '1.23e+5',
    ]);
  });
});
