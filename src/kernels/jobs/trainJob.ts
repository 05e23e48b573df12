import type { NativeTrainingAddon, NativeTrainingSession } from '../native/bindings/training';
import type { Job } from './job';
import type { EpochFigures, MaskUpdateFigures, Samples, SriglJobSpec, TestAccuracy, TrainJobType, TrainSpec } from './jobTypes';
import { learningRateAt } from '../../core/train/learningRate';
import { TrainingError } from '../../core/train/trainingError';
import { epochOrder } from '../../core/train/sampleOrder';
import { updateStoredLayer } from '../../core/train/sriglRun';
import { SriglUpdateError, type SriglLayerInput, type SriglLayerOptions, type SriglLayerUpdate } from '../../core/train/sriglUpdate';
import { dropFraction, isMaskUpdate, maskUpdateCount, sriglTEnd } from '../../core/train/sriglSchedule';

/** Samples per call when predicting (teacher outputs, test accuracy): bounded memory whatever the data's size. */
const PREDICT_CHUNK = 256;

function sampleSize(samples: Samples): number {
  return samples.sampleShape.reduce((a, b) => a * b, 1);
}

/** Logits of every sample, predicted in chunks. */
function predictAll(session: NativeTrainingSession, samples: Samples): { logits: Float32Array; classes: number } {
  const size = sampleSize(samples);
  let logits: Float32Array | undefined;
  let classes = 0;
  for (let first = 0; first < samples.count; first += PREDICT_CHUNK) {
    const count = Math.min(PREDICT_CHUNK, samples.count - first);
    const out = session.predict(samples.x.subarray(first * size, (first + count) * size), count);
    if (!logits) {
      classes = out.length / count;
      logits = new Float32Array(samples.count * classes);
    }
    logits.set(out, first * classes);
  }
  return { logits: logits ?? new Float32Array(0), classes };
}

function accuracyOf(session: NativeTrainingSession, samples: Samples | undefined): TestAccuracy | undefined {
  if (!samples?.y) return undefined;
  const { logits, classes } = predictAll(session, samples);
  let correct = 0;
  for (let i = 0; i < samples.count; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    if (best === samples.y[i]) correct++;
  }
  return { correct, total: samples.count };
}

type SriglLayerUpdater = (layer: SriglLayerInput, options: SriglLayerOptions) => SriglLayerUpdate;

const NATIVE_SRIGL_PREFIX = 'SRigL update: ';

/**
 * The addon's SRigL update (bit for bit the TypeScript's, an order of magnitude faster on big
 * layers) with its errors as the TypeScript's SriglUpdateError; undefined on an addon without it.
 */
export function nativeSriglUpdate(addon: NativeTrainingAddon): SriglLayerUpdater | undefined {
  const native = addon.sriglLayerUpdate?.bind(addon);
  if (!native) return undefined;
  return (layer, options) => {
    try {
      return native(layer, options);
    } catch (e) {
      if (e instanceof Error && e.message.startsWith(NATIVE_SRIGL_PREFIX))
        throw new SriglUpdateError(e.message.slice(NATIVE_SRIGL_PREFIX.length));
      throw e;
    }
  };
}

/**
 * SRigL's side of a run (spec §3.1): the dense gradients of the n_acc batches before each update,
 * summed as they come, and at t = ΔT, 2ΔT, … < T_end every layer's update from the weights after
 * that step, handed to the session as new masks and weights.
 */
class SriglDriver {
  private readonly tEnd: number;
  private readonly total: number;
  private gradSums = new Map<string, Float32Array>();
  /** Batches summed since the last update: n_acc, or fewer when the run resumed between its batches. */
  private batchesSummed = 0;
  readonly masks: Record<string, Uint8Array> = {};
  readonly updates: MaskUpdateFigures[] = [];

  constructor(
    private readonly spec: SriglJobSpec,
    program: TrainSpec['program'],
    /** The layer update: the native one where the addon has it, else (undefined) the TypeScript. */
    private readonly update: SriglLayerUpdater | undefined,
  ) {
    this.tEnd = sriglTEnd(spec.schedule);
    this.total = maskUpdateCount(spec.schedule);
    for (const layer of spec.layers) {
      const mask = program.params.find((p) => p.name === layer.name)?.mask;
      if (!mask) throw new Error(`SRigL layer ${layer.name} has no mask in the training program`);
      this.masks[layer.name] = mask;
    }
  }

  /** Whether the step that starts with `done` steps taken is one of the n_acc before an update (the reference's hook test). */
  wantsDenseGradients(done: number): boolean {
    const { deltaT } = this.spec.schedule;
    return done < this.tEnd && deltaT - (done % deltaT) <= this.spec.gradAccumulation;
  }

  accumulate(session: NativeTrainingSession): void {
    const grads = session.denseGradients();
    this.batchesSummed++;
    for (const layer of this.spec.layers) {
      const g = grads[layer.name];
      if (!g) throw new Error(`the engine returned no dense gradient for ${layer.name}`);
      const sum = this.gradSums.get(layer.name);
      if (!sum)
        this.gradSums.set(layer.name, g); // the engine's copy: ours to keep
      else for (let i = 0; i < sum.length; i++) sum[i] += g[i];
    }
  }

  /** After the step that made the count `done`: the update, if one is due. */
  maybeUpdate(session: NativeTrainingSession, done: number): (MaskUpdateFigures & { masks?: Record<string, Uint8Array> }) | undefined {
    if (!isMaskUpdate(this.spec.schedule, done)) return undefined;
    const f = dropFraction(this.spec.schedule, done);
    const parameters = session.parameters(this.spec.layers.map((l) => l.name));
    const changes: Record<string, { mask: Uint8Array; values: Float32Array }> = {};
    const layers = this.spec.layers.map((layer) => {
      const sum = this.gradSums.get(layer.name);
      if (!sum) throw new Error(`no dense gradient was kept for ${layer.name} before the update at step ${done}`);
      const batches = this.batchesSummed;
      if (batches > 1) for (let i = 0; i < sum.length; i++) sum[i] /= batches;
      const { update, figures } = updateStoredLayer(layer, parameters[layer.name], this.masks[layer.name], sum, f, this.update);
      changes[layer.name] = { mask: update.mask, values: update.weights };
      this.masks[layer.name] = update.mask;
      return figures;
    });
    session.setMasks(changes, { resetOptimizerState: this.spec.resetOptimizerState });
    this.gradSums = new Map();
    this.batchesSummed = 0;
    const figures: MaskUpdateFigures = { step: done, index: this.updates.length + 1, of: this.total, dropFraction: f, layers };
    this.updates.push(figures);
    return this.spec.liveMasks ? { ...figures, masks: { ...this.masks } } : figures;
  }
}

/** Tests only: the step at which the training worker crashes (SPARSITY_LENS_TEST_ABORT_AT_STEP), as a real crash would. */
function testAbortStep(): number | undefined {
  const at = process.env.SPARSITY_LENS_TEST_ABORT_AT_STEP;
  return at === undefined ? undefined : Number(at);
}

/**
 * A training run as a job: each step is one optimizer update on one batch, run by the native
 * engine; the step that ends an epoch also measures test accuracy. Batches follow a seeded
 * shuffle per epoch (the last batch of an epoch may be smaller, as a DataLoader without
 * drop_last gives). Without labels, the targets are the teacher's logits, predicted once at the start.
 */
export function openTrainJob(spec: TrainSpec, addon: NativeTrainingAddon | string): Job<TrainJobType> {
  if (typeof addon === 'string') throw new TrainingError(`training runs in the native kernels, which are unavailable here: ${addon}`);
  const { train, batch, steps } = spec;
  const stepsPerEpoch = Math.ceil(train.count / batch);
  const size = sampleSize(train);
  let teacherLogits: Float32Array | undefined;
  let classes = 0;
  if (spec.teacher) {
    const teacher = new addon.TrainingSession(spec.teacher.program, spec.optimizer, spec.threads);
    try {
      ({ logits: teacherLogits, classes } = predictAll(teacher, train));
    } finally {
      teacher.close();
    }
  }
  const session = new addon.TrainingSession(spec.program, spec.optimizer, spec.threads);
  const srigl = spec.srigl ? new SriglDriver(spec.srigl, spec.program, nativeSriglUpdate(addon)) : undefined;
  const fixedMasks: Record<string, Uint8Array> = {};
  for (const p of spec.program.params) if (p.mask) fixedMasks[p.name] = p.mask;
  const masks = () => (srigl ? { ...fixedMasks, ...srigl.masks } : fixedMasks);
  const initialTestAccuracy = accuracyOf(session, spec.test);
  const x = new Float32Array(batch * size);
  const labels = new Int32Array(batch);
  const soft = teacherLogits ? new Float32Array(batch * classes) : undefined;
  const history: EpochFigures[] = [];
  let step = spec.startStep ?? 0;
  let order = epochOrder(train.count, spec.seed, Math.floor(step / stepsPerEpoch));
  const abortAt = testAbortStep();
  let epochLoss = 0;
  let epochSamples = 0;
  let closed = false;

  return {
    get done() {
      return step >= steps;
    },
    step() {
      if (step === abortAt) process.abort();
      const epoch = Math.floor(step / stepsPerEpoch);
      const first = (step % stepsPerEpoch) * batch;
      if (first === 0 && step > 0) order = epochOrder(train.count, spec.seed, epoch);
      const count = Math.min(batch, train.count - first);
      for (let i = 0; i < count; i++) {
        const s = order[first + i];
        x.set(train.x.subarray(s * size, (s + 1) * size), i * size);
        if (train.y) labels[i] = train.y[s];
        if (soft && teacherLogits) soft.set(teacherLogits.subarray(s * classes, (s + 1) * classes), i * classes);
      }
      const lr = learningRateAt(spec.schedule, step);
      const targets =
        soft && spec.teacher
          ? { teacherLogits: soft.subarray(0, count * classes), temperature: spec.teacher.temperature }
          : { labels: labels.subarray(0, count) };
      const dense = srigl?.wantsDenseGradients(step) ?? false;
      const loss = session.step(x.subarray(0, count * size), count, targets, lr, dense);
      if (dense) srigl?.accumulate(session);
      step++;
      const maskUpdate = srigl?.maybeUpdate(session, step);
      epochLoss += loss * count;
      epochSamples += count;
      const endsEpoch = step % stepsPerEpoch === 0 || step === steps;
      let epochEnd: EpochFigures | undefined;
      if (endsEpoch) {
        const testAccuracy = accuracyOf(session, spec.test);
        epochEnd = { epoch: epoch + 1, step, trainLoss: epochLoss / epochSamples, ...(testAccuracy ? { testAccuracy } : {}) };
        history.push(epochEnd);
        epochLoss = 0;
        epochSamples = 0;
      }
      return {
        step,
        of: steps,
        epoch: epoch + 1,
        epochs: Math.ceil(steps / stepsPerEpoch),
        loss,
        lr,
        ...(epochEnd ? { epochEnd } : {}),
        ...(step === 1 && initialTestAccuracy ? { initialTestAccuracy } : {}),
        ...(maskUpdate ? { maskUpdate } : {}),
      };
    },
    state: () => ({
      step,
      history: [...history],
      ...(initialTestAccuracy ? { initialTestAccuracy } : {}),
      parameters: session.parameters(),
      engine: session.describe(),
      masks: masks(),
      maskUpdates: srigl ? [...srigl.updates] : [],
    }),
    close() {
      if (!closed) session.close();
      closed = true;
    },
  };
}
