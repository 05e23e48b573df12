import { strict as assert } from 'node:assert';
import { MAX_KEPT_POINTS, TrainingFeed, type TrainingMessages } from '../../../src/extension/trainingFeed';
import type { TrainingPoint, TrainingStarted } from '../../../src/webview/protocol';

const STARTED: TrainingStarted = {
  run: 'r',
  data: 'digits.npz',
  output: 'm.finetuned.onnx',
  method: 'Dense',
  steps: 10_000,
  epochs: 10,
  batch: 128,
  trainSamples: 1437,
  tested: true,
};

type Sent = { [K in keyof TrainingMessages]: [K, TrainingMessages[K]] }[keyof TrainingMessages];

function recorder(): { sent: Sent[]; notify: <K extends keyof TrainingMessages>(kind: K, params: TrainingMessages[K]) => void } {
  const sent: Sent[] = [];
  return { sent, notify: (kind, params) => sent.push([kind, params] as Sent) };
}

const point = (step: number, perEpoch = 1000): TrainingPoint => ({
  step,
  epoch: Math.ceil(step / perEpoch),
  loss: 1 / step,
  lr: 0.01,
  ...(step % perEpoch === 0 ? { epochEnd: { epoch: step / perEpoch, trainLoss: 0.1, testAccuracy: 0.9 } } : {}),
  ...(step === 1 ? { initialTestAccuracy: 0.8 } : {}),
});

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('extension: training feed', () => {
  it('batches steps into one message per interval, and sends the end at once after them', async () => {
    const { sent, notify } = recorder();
    const feed = new TrainingFeed(notify, 20);
    feed.start(STARTED);
    for (let s = 1; s <= 50; s++) feed.progress(point(s), s / 1000);
    assert.deepEqual(
      sent.map(([k]) => k),
      ['trainingStarted'],
      'steps wait for the interval',
    );
    await wait(40);
    assert.equal(sent.length, 2);
    const [kind, batch] = sent[1];
    assert.equal(kind, 'trainingProgress');
    assert.equal((batch as TrainingMessages['trainingProgress']).points.length, 50);
    assert.equal((batch as TrainingMessages['trainingProgress']).seconds, 0.05);
    feed.progress(point(51), 0.051);
    feed.finish({ status: 'done', step: 51, testAccuracy: 0.9, output: 'm.finetuned.onnx', message: 'Done.' });
    assert.deepEqual(
      sent.slice(2).map(([k]) => k),
      ['trainingProgress', 'trainingFinished'],
    );
    assert.equal((sent[3][1] as TrainingMessages['trainingFinished']).run, 'r');
    feed.dispose();
  });

  it('tells an editor that opens later everything so far, in order', () => {
    const { notify } = recorder();
    const feed = new TrainingFeed(notify, 1000);
    feed.start(STARTED);
    for (let s = 1; s <= 30; s++) feed.progress(point(s), 1);
    const late = recorder();
    feed.replay(late.notify);
    assert.deepEqual(
      late.sent.map(([k]) => k),
      ['trainingStarted', 'trainingProgress'],
    );
    assert.equal((late.sent[1][1] as TrainingMessages['trainingProgress']).points.length, 30);
    feed.finish({ status: 'cancelled', step: 30, testAccuracy: null, output: null, message: 'Stopped.' });
    const later = recorder();
    feed.replay(later.notify);
    assert.deepEqual(
      later.sent.map(([k]) => k),
      ['trainingStarted', 'trainingProgress', 'trainingFinished'],
    );
    assert.ok(feed.finished);
    feed.dispose();
  });

  it('keeps a bounded number of steps for late editors: the first, every epoch’s last and the latest survive', () => {
    const { notify } = recorder();
    const feed = new TrainingFeed(notify, 1000);
    feed.start(STARTED);
    for (let s = 1; s <= 10_000; s++) feed.progress(point(s), s / 1000);
    const late = recorder();
    feed.replay(late.notify);
    const points = (late.sent[1][1] as TrainingMessages['trainingProgress']).points;
    assert.ok(points.length <= MAX_KEPT_POINTS, `${points.length} kept`);
    assert.equal(points[0].initialTestAccuracy, 0.8);
    assert.equal(points[points.length - 1].step, 10_000);
    assert.deepEqual(
      points.filter((p) => p.epochEnd).map((p) => p.step),
      Array.from({ length: 10 }, (_, i) => (i + 1) * 1000),
    );
    assert.ok(
      points.every((p, i) => i === 0 || p.step > points[i - 1].step),
      'in order',
    );
    feed.dispose();
  });

  it('sends nothing before a run starts', () => {
    const { sent, notify } = recorder();
    const feed = new TrainingFeed(notify, 10);
    feed.progress(point(1), 0);
    feed.finish({ status: 'failed', step: 0, testAccuracy: null, output: null, message: 'x' });
    feed.replay(notify);
    assert.deepEqual(sent, []);
    feed.dispose();
  });
});
