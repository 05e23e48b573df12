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
 */
export class TrainingFeed {
  private startedMessage: TrainingStarted | undefined;
  private kept: TrainingPoint[] = [];
  private pending: TrainingPoint[] = [];
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
    this.finishedMessage = undefined;
    this.send('trainingStarted', started);
  }

  /** One step, `seconds` into the run. */
  progress(point: TrainingPoint, seconds: number): void {
    if (!this.startedMessage) return;
    this.seconds = seconds;
    this.pending.push(point);
    this.kept.push(point);
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
    if (this.kept.length) notify('trainingProgress', { run: this.startedMessage.run, points: this.kept.slice(), seconds: this.seconds });
    if (this.finishedMessage) notify('trainingFinished', this.finishedMessage);
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

/**
 * Every other step dropped, except the first (it carries the accuracy before training), each
 * epoch's last and the latest; when epochs are most of the steps, epochs too.
 */
function thinned(points: readonly TrainingPoint[]): TrainingPoint[] {
  const even = (i: number, length: number) => i % 2 === 0 || i === length - 1;
  const out = points.filter((p, i) => even(i, points.length) || p.epochEnd !== undefined || p.initialTestAccuracy !== undefined);
  return out.length > (3 * MAX_KEPT_POINTS) / 4 ? out.filter((p, i) => even(i, out.length) || p.initialTestAccuracy !== undefined) : out;
}
