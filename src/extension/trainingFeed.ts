import type { ToWebview, TrainingFinished, TrainingPoint, TrainingStarted } from '../webview/protocol';

/** The messages of a fine-tune, as the checkpoint editor's webview takes them. */
export type TrainingMessages = Pick<ToWebview, 'trainingStarted' | 'trainingProgress' | 'trainingFinished'>;
export type TrainingNotify = <K extends keyof TrainingMessages>(kind: K, params: TrainingMessages[K]) => void;

/** Steps kept for editors that open later; past this, every other step (not an epoch's last) is dropped. */
export const MAX_KEPT_POINTS = 4096;

/**
 * A fine-tune's messages on their way to the editors of its model: steps batched (one message per
 * `flushMs` at most, however fast the engine goes), and everything kept (steps thinned past
 * MAX_KEPT_POINTS) to tell an editor that opens or reloads later. No vscode import: unit-tested.
 *
 * SRigL's masks come with the steps that updated them. Only the latest masks are worth drawing:
 * a batch carries those of its last update only (earlier ones in it are dropped), and only the
 * latest are kept for a replay; every update's figures are kept. The volume stays bounded: at
 * most one set of masks per `flushMs`, and as an update's masks grow with the layers so does
 * the time between updates (ΔT steps, each touching every weight).
 */
export class TrainingFeed {
  private startedMessage: TrainingStarted | undefined;
  private kept: TrainingPoint[] = [];
  private pending: TrainingPoint[] = [];
  /** The latest step that came with masks, masks included (kept points go without). */
  private latestMasks: TrainingPoint | undefined;
  private seconds = 0;
  private finishedMessage: TrainingFinished | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly send: TrainingNotify,
    private readonly flushMs = 100,
  ) {}

  get run(): string | undefined {
    return this.startedMessage?.run;
  }

  get finished(): boolean {
    return this.finishedMessage !== undefined;
  }

  start(started: TrainingStarted): void {
    this.startedMessage = started;
    this.kept = [];
    this.pending = [];
    this.latestMasks = undefined;
    this.finishedMessage = undefined;
    this.send('trainingStarted', started);
  }

  /** One step, `seconds` into the run. */
  progress(point: TrainingPoint, seconds: number): void {
    if (!this.startedMessage) return;
    this.seconds = seconds;
    if (point.maskUpdate?.masks) {
      // The masks of an update still waiting are superseded by these.
      this.pending = this.pending.map(withoutMasks);
      this.latestMasks = point;
    }
    this.pending.push(point);
    this.kept.push(withoutMasks(point));
    if (this.kept.length > MAX_KEPT_POINTS) this.kept = thinned(this.kept);
    this.timer ??= setTimeout(() => this.flush(), this.flushMs);
  }

  /** The run ended (or its weights were saved or discarded after a cancel): sent at once, after the steps still batched. */
  finish(finished: Omit<TrainingFinished, 'run'>): void {
    if (!this.startedMessage) return;
    this.flush();
    this.finishedMessage = { ...finished, run: this.startedMessage.run };
    this.send('trainingFinished', this.finishedMessage);
  }

  /** Everything so far, to an editor that just became ready. */
  replay(notify: TrainingNotify): void {
    if (!this.startedMessage) return;
    notify('trainingStarted', this.startedMessage);
    if (this.kept.length) notify('trainingProgress', { run: this.startedMessage.run, points: this.replayed(), seconds: this.seconds });
    if (this.finishedMessage) notify('trainingFinished', this.finishedMessage);
  }

  /** The kept steps, the latest masks on the step they came with (put back in order if thinning dropped it). */
  private replayed(): TrainingPoint[] {
    const latest = this.latestMasks;
    if (!latest) return this.kept.slice();
    const points = this.kept.map((p) => (p.step === latest.step ? latest : p));
    if (!points.includes(latest)) {
      const at = points.findIndex((p) => p.step > latest.step);
      points.splice(at < 0 ? points.length : at, 0, latest);
    }
    return points;
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.pending.length || !this.startedMessage) return;
    const points = this.pending;
    this.pending = [];
    this.send('trainingProgress', { run: this.startedMessage.run, points, seconds: this.seconds });
  }
}

/** A step without the masks it may carry (its update's figures stay). */
function withoutMasks(point: TrainingPoint): TrainingPoint {
  if (!point.maskUpdate?.masks) return point;
  const { masks: _masks, ...figures } = point.maskUpdate;
  return { ...point, maskUpdate: figures };
}

/**
 * Every other step dropped, except the first (it carries the accuracy before training), each
 * epoch's last, each mask update's and the latest; when those are most of the steps, they too.
 */
function thinned(points: readonly TrainingPoint[]): TrainingPoint[] {
  const even = (i: number, length: number) => i % 2 === 0 || i === length - 1;
  const out = points.filter(
    (p, i) => even(i, points.length) || p.epochEnd !== undefined || p.maskUpdate !== undefined || p.initialTestAccuracy !== undefined,
  );
  return out.length > (3 * MAX_KEPT_POINTS) / 4 ? out.filter((p, i) => even(i, out.length) || p.initialTestAccuracy !== undefined) : out;
}
