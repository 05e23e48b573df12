import { strict as assert } from 'node:assert';
import { MAX_KEPT_POINTS, TrainingFeed, type TrainingMessages } from '../../../src/extension/trainingFeed';
import type { TrainingPoint, TrainingStarted } from '../../../src/webview/protocol';

const STARTED: TrainingStarted = {
  run: 'r',
  data: 'digits.npz',
  output: 'm.srigl90.onnx',
  method: 'SRigL 90 % (ERK)',
  steps: 100_000,
  epochs: 100,
  batch: 128,
  trainSamples: 1437,
  tested: true,
  srigl: {
    sparsity: 0.9,
    distribution: 'ERK',
    schedule: { totalSteps: 100_000, deltaT: 10, alpha: 0.3, tEndFraction: 0.75 },
    updates: 7499,
    layers: [{ name: 'w', label: 'w', rows: 2, cols: 8, sparsity: 0.5, k: 4, ablatable: true }],
    dense: [],
    initialMasks: { w: Uint8Array.from([0xf0, 0xf0]) },
  },
};

/** Step `step`; every 10th a mask update whose mask byte is its index. */
const point = (step: number): TrainingPoint => ({
  step,
  epoch: Math.ceil(step / 1000),
  loss: 1 / step,
  lr: 0.01,
  ...(step % 10 === 0
    ? {
        maskUpdate: {
          index: step / 10,
          of: 7499,
          dropFraction: 0.1,
          layers: [{ name: 'w', k: 4, ablated: 0, grown: 1, dropped: 1, active: 8 }],
          masks: { w: Uint8Array.from([step / 10, 0]) },
        },
      }
    : {}),
});

type Progress = TrainingMessages['trainingProgress'];

function recorder() {
  const sent: [keyof TrainingMessages, unknown][] = [];
  const notify = <K extends keyof TrainingMessages>(kind: K, params: TrainingMessages[K]) => void sent.push([kind, params]);
  const progress = () => sent.filter(([k]) => k === 'trainingProgress').map(([, p]) => p as Progress);
  return { sent, notify, progress };
}

const withMasks = (points: readonly TrainingPoint[]) => points.filter((p) => p.maskUpdate?.masks).map((p) => p.step);

describe('extension: training feed of a SRigL run', () => {
  it('sends the masks of a batch’s last update only; every update’s figures', async () => {
    const { notify, progress } = recorder();
    const feed = new TrainingFeed(notify, 20);
    feed.start(STARTED);
    for (let s = 1; s <= 35; s++) feed.progress(point(s), s / 100);
    await new Promise((r) => setTimeout(r, 40));
    const [batch] = progress();
    assert.equal(batch.points.length, 35);
    assert.deepEqual(
      batch.points.filter((p) => p.maskUpdate).map((p) => p.step),
      [10, 20, 30],
      'the figures of every update',
    );
    assert.deepEqual(withMasks(batch.points), [30], 'the masks of the last');
    feed.progress(point(40), 0.4);
    feed.finish({ status: 'done', step: 40, testAccuracy: 0.9, output: 'm.srigl90.onnx', message: 'Done.' });
    assert.deepEqual(withMasks(progress()[1].points), [40], 'the end flushes the last masks at once');
    feed.dispose();
  });

  it('tells an editor that opens later the first masks, every update’s figures, and the latest masks only', () => {
    const { notify } = recorder();
    const feed = new TrainingFeed(notify, 10_000);
    feed.start(STARTED);
    for (let s = 1; s <= 55; s++) feed.progress(point(s), 1);
    const late = recorder();
    feed.replay(late.notify);
    const started = late.sent[0][1] as TrainingStarted;
    assert.deepEqual([...started.srigl!.initialMasks.w!], [0xf0, 0xf0], 'the masks the run started with');
    const [replayed] = late.progress();
    assert.equal(replayed.points.length, 55);
    assert.deepEqual(withMasks(replayed.points), [50]);
    assert.deepEqual([...replayed.points.find((p) => p.step === 50)!.maskUpdate!.masks!.w!], [5, 0]);
    assert.equal(replayed.points.filter((p) => p.maskUpdate).length, 5);
    feed.dispose();
  });

  it('keeps every update through thinning on a long run, and the latest masks in order', () => {
    const { notify } = recorder();
    const feed = new TrainingFeed(notify, 10_000);
    feed.start(STARTED);
    const steps = 3 * MAX_KEPT_POINTS;
    for (let s = 1; s <= steps; s++) feed.progress(point(s), 1);
    const late = recorder();
    feed.replay(late.notify);
    const points = late.progress()[0].points;
    assert.ok(points.length <= MAX_KEPT_POINTS, `${points.length} points`);
    assert.equal(points.filter((p) => p.maskUpdate).length, Math.floor(steps / 10), 'every update kept');
    assert.deepEqual(withMasks(points), [steps - (steps % 10)]);
    assert.ok(
      points.every((p, i) => i === 0 || points[i - 1].step < p.step),
      'in order',
    );
    feed.dispose();
  });

  it('puts the latest masks back in order when thinning dropped their step', () => {
    const { notify } = recorder();
    const feed = new TrainingFeed(notify, 10_000);
    feed.start(STARTED);
    // More updates than thinning keeps: updates every step.
    const every = (step: number): TrainingPoint => ({ ...point(10 * step), step });
    for (let s = 1; s <= 2 * MAX_KEPT_POINTS; s++) feed.progress(every(s), 1);
    feed.progress({ step: 2 * MAX_KEPT_POINTS + 1, epoch: 1, loss: 1, lr: 0.01 }, 1);
    const late = recorder();
    feed.replay(late.notify);
    const points = late.progress()[0].points;
    assert.deepEqual(withMasks(points), [2 * MAX_KEPT_POINTS]);
    assert.ok(
      points.every((p, i) => i === 0 || points[i - 1].step < p.step),
      'in order',
    );
    assert.equal(points[points.length - 1].step, 2 * MAX_KEPT_POINTS + 1);
    feed.dispose();
  });

  it('a new run forgets the masks of the last', () => {
    const { notify } = recorder();
    const feed = new TrainingFeed(notify, 10_000);
    feed.start(STARTED);
    for (let s = 1; s <= 20; s++) feed.progress(point(s), 1);
    feed.start({ ...STARTED, run: 'r2' });
    feed.progress({ step: 1, epoch: 1, loss: 1, lr: 0.01 }, 1);
    const late = recorder();
    feed.replay(late.notify);
    assert.deepEqual(withMasks(late.progress()[0].points), []);
    feed.dispose();
  });
});
