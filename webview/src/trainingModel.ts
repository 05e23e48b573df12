/**
 * The Fine-tuning section's model: what a run is, the loss of every step (thinned when there are
 * many), the test accuracy after each epoch, how fast it goes, and its status line; for SRigL
 * runs every mask update's figures and the latest masks (only those: each update replaces them).
 * Pure (no DOM, no chart.js): the view in training.ts draws what it says; unit-tested in
 * test/unit/webview.
 */
import type {
  PackedMask,
  TrainingFinished,
  TrainingMaskLayer,
  TrainingPoint,
  TrainingSrigl,
  TrainingSriglLayer,
  TrainingStarted,
} from '../../src/webview/protocol';

export interface LossPoint {
  /** The step (the last one of the steps it stands for, once thinned). */
  readonly step: number;
  readonly loss: number;
  /** How many steps it stands for: their mean loss. */
  readonly weight: number;
}

export interface AccuracyPoint {
  /** 0 for the model before training. */
  readonly epoch: number;
  readonly step: number;
  /** A share in [0, 1]. */
  readonly accuracy: number;
}

export type TrainingStatus = 'running' | 'done' | 'cancelled' | 'failed';

/** One SRigL mask update: its figures, summed over the layers and per layer. */
export interface MaskUpdateRecord {
  /** 1-based, of `of`. */
  readonly index: number;
  readonly of: number;
  /** The step it followed. */
  readonly step: number;
  readonly dropFraction: number;
  /** Weights that became active, in all layers. */
  readonly moved: number;
  /** Active weights after it, in all layers. */
  readonly active: number;
  /** Neurons ablated after it, in all layers. */
  readonly ablated: number;
  readonly layers: readonly TrainingMaskLayer[];
}

/** The masks of every SRigL layer after one update (0: as the run started). */
export interface HeldMasks {
  readonly update: number;
  readonly step: number;
  readonly masks: ReadonlyMap<string, PackedMask | null>;
}

/** What survives a webview reload (getState/setState): bounded whatever the run's length. */
export interface SavedTraining {
  readonly started: TrainingStarted;
  readonly loss: readonly LossPoint[];
  readonly accuracy: readonly AccuracyPoint[];
  readonly last: {
    readonly step: number;
    readonly epoch: number;
    readonly loss: number;
    readonly lr: number;
    readonly trainLoss: number | null;
  };
  readonly seconds: number;
  readonly finished: TrainingFinished | null;
  /** SRigL runs: every update's figures and the layer shown (the masks are not kept: the host tells them again). */
  readonly srigl?: { readonly updates: readonly MaskUpdateRecord[]; readonly layer: string | null };
}

/** Loss points kept before pairs of neighbours are merged (so memory stays bounded on long runs). */
export const MAX_LOSS_POINTS = 8192;
/** Loss points a chart (and the saved state) gets at most. */
export const CHART_POINTS = 1000;
/** Steps/s is measured over this many seconds of the run. */
const RATE_WINDOW_S = 3;
/** Mask updates kept before every other old one is dropped (a run's default is 35). */
export const MAX_MASK_UPDATES = 2000;

export class TrainingModel {
  private startedInfo: TrainingStarted | null = null;
  private lossPoints: LossPoint[] = [];
  private accuracyPoints: AccuracyPoint[] = [];
  private lastStep = 0;
  private lastEpoch = 0;
  private lastLoss = NaN;
  private lastLr = NaN;
  private lastTrainLoss: number | null = null;
  private secondsSoFar = 0;
  /** (seconds, step) at each progress message, the last few seconds of them. */
  private clock: { seconds: number; step: number }[] = [];
  private finishedInfo: TrainingFinished | null = null;
  private updates: MaskUpdateRecord[] = [];
  private heldMasks: HeldMasks | null = null;
  private masksChanged = 0;
  private layerChoice: string | null = null;

  get started(): TrainingStarted | null {
    return this.startedInfo;
  }

  get finished(): TrainingFinished | null {
    return this.finishedInfo;
  }

  get status(): TrainingStatus | null {
    if (!this.startedInfo) return null;
    return this.finishedInfo?.status ?? 'running';
  }

  get step(): number {
    return this.lastStep;
  }

  get loss(): readonly LossPoint[] {
    return this.lossPoints;
  }

  get accuracy(): readonly AccuracyPoint[] {
    return this.accuracyPoints;
  }

  /**
   * A run began (or is told again to an editor that opened late). Returns true when it is another
   * run than the one shown: then everything shown before is dropped.
   */
  start(started: TrainingStarted): boolean {
    if (this.startedInfo?.run === started.run) {
      this.startedInfo = started;
      this.takeInitialMasks(started.srigl);
      return false;
    }
    this.startedInfo = started;
    this.updates = [];
    this.heldMasks = null;
    this.layerChoice = null;
    this.takeInitialMasks(started.srigl);
    this.lossPoints = [];
    this.accuracyPoints = [];
    this.lastStep = 0;
    this.lastEpoch = 0;
    this.lastLoss = NaN;
    this.lastLr = NaN;
    this.lastTrainLoss = null;
    this.secondsSoFar = 0;
    this.clock = [];
    this.finishedInfo = null;
    return true;
  }

  /**
   * Steps of `run` done by `seconds` into it. Steps already held (a replay after a reload) and
   * steps of another run are ignored; returns how many were new.
   */
  add(run: string, points: readonly TrainingPoint[], seconds: number): number {
    if (this.startedInfo?.run !== run) return 0;
    let added = 0;
    for (const p of points) {
      if (p.initialTestAccuracy !== undefined && !this.accuracyPoints.some((a) => a.epoch === 0))
        this.accuracyPoints.unshift({ epoch: 0, step: 0, accuracy: p.initialTestAccuracy });
      // Before the steps held are skipped: a replay tells the latest masks on a step held already.
      if (p.maskUpdate) this.addMaskUpdate(p);
      if (p.step <= this.lastStep) continue;
      added++;
      this.lastStep = p.step;
      this.lastEpoch = p.epoch;
      this.lastLoss = p.loss;
      this.lastLr = p.lr;
      if (Number.isFinite(p.loss)) this.lossPoints.push({ step: p.step, loss: p.loss, weight: 1 });
      if (p.epochEnd) {
        this.lastTrainLoss = p.epochEnd.trainLoss;
        if (p.epochEnd.testAccuracy !== null)
          this.accuracyPoints.push({ epoch: p.epochEnd.epoch, step: p.step, accuracy: p.epochEnd.testAccuracy });
      }
    }
    if (this.lossPoints.length > MAX_LOSS_POINTS) this.lossPoints = mergePairs(this.lossPoints);
    if (added && seconds >= this.secondsSoFar) {
      this.secondsSoFar = seconds;
      this.clock.push({ seconds, step: this.lastStep });
      while (this.clock.length > 2 && this.clock[1].seconds <= seconds - RATE_WINDOW_S) this.clock.shift();
    }
    return added;
  }

  /** A mask update's figures (once, in order) and its masks when they are newer than those held. */
  private addMaskUpdate(p: TrainingPoint): void {
    const u = p.maskUpdate!;
    const masks = u.masks;
    if (masks && u.index >= (this.heldMasks?.update ?? -1)) {
      this.heldMasks = { update: u.index, step: p.step, masks: new Map(Object.entries(masks)) };
      this.masksChanged++;
    }
    const last = this.updates[this.updates.length - 1];
    if (last && last.index >= u.index) return;
    let moved = 0;
    let active = 0;
    let ablated = 0;
    for (const l of u.layers) {
      moved += l.grown;
      active += l.active;
      ablated += l.ablated;
    }
    const layers = u.layers.map(({ name, k, ablated, grown, dropped, active }) => ({ name, k, ablated, grown, dropped, active }));
    this.updates.push({ index: u.index, of: u.of, step: p.step, dropFraction: u.dropFraction, moved, active, ablated, layers });
    if (this.updates.length > MAX_MASK_UPDATES) {
      const latest = this.updates.length - 1;
      this.updates = this.updates.filter((_, i) => i % 2 === 0 || i === latest);
    }
  }

  /** The masks the run started with, unless newer ones are held. */
  private takeInitialMasks(srigl: TrainingSrigl | undefined): void {
    if (!srigl?.initialMasks || this.heldMasks) return;
    this.heldMasks = { update: 0, step: 0, masks: new Map(Object.entries(srigl.initialMasks)) };
    this.masksChanged++;
  }

  /** SRigL's side of the run (null for other methods). */
  get srigl(): TrainingSrigl | null {
    return this.startedInfo?.srigl ?? null;
  }

  /** Every mask update so far, in order. */
  get maskUpdates(): readonly MaskUpdateRecord[] {
    return this.updates;
  }

  /** The latest masks (only those are kept), or null before the host told any. */
  get masks(): HeldMasks | null {
    return this.heldMasks;
  }

  /** Grows each time other masks arrive: a view redraws them when it changed. */
  get masksVersion(): number {
    return this.masksChanged;
  }

  /** The SRigL layer shown: the one picked, else the first. */
  get layer(): TrainingSriglLayer | null {
    const layers = this.srigl?.layers ?? [];
    return layers.find((l) => l.name === this.layerChoice) ?? layers[0] ?? null;
  }

  selectLayer(name: string): void {
    this.layerChoice = name;
  }

  /** A layer's figures after the latest update (null before any). */
  layerFigures(name: string): TrainingMaskLayer | null {
    const last = this.updates[this.updates.length - 1];
    return last?.layers.find((l) => l.name === name) ?? null;
  }

  /**
   * What the masks did, in one line: "Update 12 of 35 at step 60 · drop fraction 0.213 · 1,234
   * weights moved · 43 neurons ablated"; before the first: when they will move.
   */
  maskStatusText(): string {
    const srigl = this.srigl;
    if (!srigl) return '';
    const last = this.updates[this.updates.length - 1];
    if (!last) {
      const { deltaT } = srigl.schedule;
      if (srigl.updates === 0) return 'The run is too short for a mask update: the masks stay as they started.';
      const every = deltaT === 1 ? 'after every step' : `every ${count(deltaT)} steps`;
      const prefix = this.finishedInfo ? 'No mask update was made' : 'Masks as they start';
      return `${prefix}: ${count(srigl.updates)} update${srigl.updates === 1 ? '' : 's'} planned, ${every}.`;
    }
    return [
      `Update ${count(last.index)} of ${count(last.of)} at step ${count(last.step)}`,
      `drop fraction ${last.dropFraction.toFixed(3)}`,
      `${count(last.moved)} weight${last.moved === 1 ? '' : 's'} moved`,
      `${count(last.ablated)} neuron${last.ablated === 1 ? '' : 's'} ablated`,
    ].join(' · ');
  }

  /** Each layer's k now (the plan's before any update): "fc1.weight 8 of 64 · fc2.weight 21 of 256". */
  kText(): string {
    const srigl = this.srigl;
    if (!srigl) return '';
    return srigl.layers.map((l) => `${l.label} ${count(this.layerFigures(l.name)?.k ?? l.k)} of ${count(l.cols)}`).join(' · ');
  }

  finish(finished: TrainingFinished): void {
    if (this.startedInfo?.run !== finished.run) return;
    this.finishedInfo = finished;
  }

  /** Steps per second over the last few seconds (over the whole run until there are two measures); null before any step. */
  get stepsPerSecond(): number | null {
    if (this.lastStep === 0 || this.secondsSoFar <= 0) return null;
    const first = this.clock[0];
    const last = this.clock[this.clock.length - 1];
    if (this.clock.length >= 2 && last.seconds > first.seconds) return (last.step - first.step) / (last.seconds - first.seconds);
    return this.lastStep / this.secondsSoFar;
  }

  /** The share of the run's steps done, in [0, 1]. */
  get fraction(): number {
    const steps = this.startedInfo?.steps ?? 0;
    return steps > 0 ? Math.min(1, this.lastStep / steps) : 0;
  }

  /** The loss per step for the chart: at most `max` points, each the mean of the steps it stands for. */
  lossSeries(max = CHART_POINTS): LossPoint[] {
    return thin(this.lossPoints, max);
  }

  /**
   * The loss smoothed as TensorBoard smooths it (an exponential moving average with its start
   * debiased), over the chart's points; `smoothing` in [0, 1).
   */
  smoothedLoss(max = CHART_POINTS, smoothing = 0.8): LossPoint[] {
    let average = 0;
    let debias = 0;
    return this.lossSeries(max).map((p) => {
      average = smoothing * average + (1 - smoothing) * p.loss;
      debias = smoothing * debias + (1 - smoothing);
      return { ...p, loss: average / debias };
    });
  }

  /**
   * What the status line says: while running "Step 36 of 240 · epoch 3 of 20 · 412 steps/s · lr 0.01
   * · loss 0.1234"; after, the host's sentence.
   */
  statusText(): string {
    const started = this.startedInfo;
    if (!started) return '';
    if (this.finishedInfo) return this.finishedInfo.message;
    if (this.lastStep === 0)
      return `Starting: ${count(started.steps)} steps of ${count(started.batch)} samples (${count(started.trainSamples)} training samples)…`;
    const rate = this.stepsPerSecond;
    const parts = [
      `Step ${count(this.lastStep)} of ${count(started.steps)}`,
      `epoch ${count(this.lastEpoch)} of ${count(started.epochs)}`,
      ...(rate !== null ? [`${formatRate(rate)} steps/s`] : []),
      `lr ${formatNumber(this.lastLr)}`,
      `loss ${formatNumber(this.lastLoss)}`,
    ];
    return parts.join(' · ');
  }

  /** The latest figures for the headline: test accuracy before and now, the last epoch's train loss. */
  get summary(): { readonly before: number | null; readonly now: number | null; readonly trainLoss: number | null } {
    const before = this.accuracyPoints.find((a) => a.epoch === 0)?.accuracy ?? null;
    const epochs = this.accuracyPoints.filter((a) => a.epoch > 0);
    return { before, now: epochs.length ? epochs[epochs.length - 1].accuracy : null, trainLoss: this.lastTrainLoss };
  }

  save(): SavedTraining | null {
    if (!this.startedInfo) return null;
    const srigl = this.startedInfo.srigl;
    return {
      // The masks are left out: bytes do not survive the webview's state; the host tells them again.
      started: srigl ? { ...this.startedInfo, srigl: { ...srigl, initialMasks: {} } } : this.startedInfo,
      loss: this.lossSeries(CHART_POINTS),
      accuracy: this.accuracyPoints,
      last: { step: this.lastStep, epoch: this.lastEpoch, loss: this.lastLoss, lr: this.lastLr, trainLoss: this.lastTrainLoss },
      seconds: this.secondsSoFar,
      finished: this.finishedInfo,
      ...(srigl ? { srigl: { updates: this.updates, layer: this.layerChoice } } : {}),
    };
  }

  /** The model a saved state describes (an unreadable one gives an empty model). */
  static restore(saved: SavedTraining | null | undefined): TrainingModel {
    const model = new TrainingModel();
    if (!saved?.started || !Array.isArray(saved.loss) || !Array.isArray(saved.accuracy) || !saved.last) return model;
    model.startedInfo = saved.started;
    model.lossPoints = saved.loss.slice();
    model.accuracyPoints = saved.accuracy.slice();
    model.lastStep = saved.last.step;
    model.lastEpoch = saved.last.epoch;
    model.lastLoss = saved.last.loss ?? NaN;
    model.lastLr = saved.last.lr ?? NaN;
    model.lastTrainLoss = saved.last.trainLoss;
    model.secondsSoFar = saved.seconds;
    model.finishedInfo = saved.finished;
    if (Array.isArray(saved.srigl?.updates)) model.updates = saved.srigl.updates.slice();
    model.layerChoice = typeof saved.srigl?.layer === 'string' ? saved.srigl.layer : null;
    return model;
  }
}

/** Neighbours merged two by two (weighted mean loss, the later step). */
function mergePairs(points: readonly LossPoint[]): LossPoint[] {
  const out: LossPoint[] = [];
  for (let i = 0; i < points.length; i += 2) {
    const a = points[i];
    const b = points[i + 1];
    if (!b) out.push(a);
    else {
      const weight = a.weight + b.weight;
      out.push({ step: b.step, loss: (a.loss * a.weight + b.loss * b.weight) / weight, weight });
    }
  }
  return out;
}

/** At most `max` points: consecutive runs of about equal size averaged (weighted by the steps each stands for). */
export function thin(points: readonly LossPoint[], max: number): LossPoint[] {
  if (points.length <= max) return points.slice();
  const out: LossPoint[] = [];
  const per = points.length / max;
  for (let b = 0; b < max; b++) {
    const from = Math.floor(b * per);
    const to = Math.floor((b + 1) * per);
    let weight = 0;
    let sum = 0;
    for (let i = from; i < to; i++) {
      weight += points[i].weight;
      sum += points[i].loss * points[i].weight;
    }
    if (to > from) out.push({ step: points[to - 1].step, loss: sum / weight, weight });
  }
  return out;
}

/**
 * Lets a redraw happen at most once per `intervalMs`: `request(now)` says how long to wait before
 * drawing (0: draw now), or null when a redraw is already scheduled.
 */
export class RedrawThrottle {
  private lastDraw = -Infinity;
  private scheduled = false;

  constructor(private readonly intervalMs = 100) {}

  request(now: number): number | null {
    if (this.scheduled) return null;
    this.scheduled = true;
    return Math.max(0, this.lastDraw + this.intervalMs - now);
  }

  /** The scheduled redraw ran at `now`. */
  drew(now: number): void {
    this.lastDraw = now;
    this.scheduled = false;
  }
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

function formatRate(rate: number): string {
  return rate >= 100 ? count(Math.round(rate)) : rate >= 10 ? rate.toFixed(0) : rate.toFixed(1);
}

/** Loss and learning rate: 4 significant digits, exponent for tiny or huge values. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e5 ? String(Number(v.toPrecision(4))) : v.toExponential(2);
}
