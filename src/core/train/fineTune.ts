import { rm } from 'node:fs/promises';
import * as nodePath from 'node:path';
import type { JobKernels } from '../../kernels/jobKernels';
import type { EpochFigures, TestAccuracy, TrainProgress, TrainSpec, TrainState } from '../../kernels/jobs/jobTypes';
import type { WeightRef } from '../../kernels/kernels';
import type { MaskKernels } from '../../kernels/maskKernels';
import type { OptimizerSettings, ProgramParam } from '../../kernels/trainingKernels';
import { formatCount, numelOf, type Checkpoint, type TensorEntry } from '../checkpoint';
import { printable } from '../errors';
import { readOnnxGraph } from '../formats/onnx/graph';
import { metadataProps } from '../formats/onnx/metadataProps';
import { newFileProblem, writeNewFile } from '../prune/newTensorFile';
import { openCheckpoint } from '../formats/registry';
import type { StoredEdit } from '../formats/writer';
import type { NmPattern } from '../nmPattern';
import { provenanceOf, type Provenance } from '../prune/provenance';
import { checkNothingElseChanges } from '../prune/sharedBytes';
import { checkOutputs, inputFiles, writeVerified } from '../prune/stagedOutput';
import { replacedEdits } from '../prune/storedEdits';
import { withFile } from '../randomAccessFile';
import { chunkPairs } from '../tensorBytes';
import { densityFromSparsity, planDensities, type Distribution } from '../analysis/plan';
import type { ScheduleKind } from './learningRate';
import { randomFanInInit, type SriglLayer } from './sriglRun';
import { maskUpdateCount, type SriglSchedule } from './sriglSchedule';
import { loadTrainingData, type DataKeys, type TrainingData } from './trainingData';
import { TrainingError } from './trainingError';
import { buildTrainingProgram, type BuiltProgram, type TrainableTensor } from './trainingProgram';

export type TrainMethod = 'dense' | 'fixed' | 'srigl';

/** SRigL's settings (spec §2–4, §6.5 for the reference's defaults). */
export interface SriglSettings {
  /** The global sparsity, spread over the layers by `distribution` (the planner of `sparsity-lens plan`). */
  readonly sparsity: number;
  readonly distribution: Distribution;
  /** ΔT: steps between mask updates; absent: T_end / 36, so that a run makes 35 updates. */
  readonly deltaT?: number;
  /** α: the first update's drop fraction. */
  readonly alpha: number;
  /** T_end as a share of the steps. */
  readonly tEndFraction: number;
  /** γ_sal; null: no ablation anywhere. */
  readonly gammaSal: number | null;
  /** Layers never ablated besides the last one (names or display names). */
  readonly noAblation: readonly RegExp[];
  /** checkpoint: each neuron keeps its k largest |w|; random: random k inputs, weights re-drawn (spec §2). */
  readonly init: 'checkpoint' | 'random';
  /** n_acc: batches whose dense gradients an update averages. */
  readonly gradAccumulation: number;
  readonly resetOptimizerState: boolean;
}

/** Mask updates a default ΔT aims at: a few dozen (the reference code run on the digits MLP makes 35 in 240 steps). */
export const DEFAULT_MASK_UPDATES = 35;

/** What a fine-tune was asked (`sparsity-lens train`, the editor's Fine-tune…). */
export interface FineTuneRequest {
  readonly model: string;
  readonly data: string;
  readonly keys: DataKeys;
  /** Keys the user gave: missing ones are errors, not defaults to do without. */
  readonly namedKeys: ReadonlySet<keyof DataKeys>;
  readonly output: string;
  readonly force: boolean;
  /** dense: every weight trains; fixed: the input's zeros stay zero (with `nm`, after pruning to it). */
  readonly method: TrainMethod;
  readonly nm?: NmPattern;
  /** With method srigl. */
  readonly srigl?: SriglSettings;
  /** Keep a verified checkpoint every this many steps (OUT.stepN.onnx). */
  readonly checkpointEvery?: number;
  /** Write the final masks here too (.safetensors, .npz or .pt; `<name>.mask`, uint8). */
  readonly saveMasks?: string;
  /** A checkpoint of this run (OUT.stepN.onnx) to go on from: its weights and masks, at its step. */
  readonly resume?: string;
  /** SRigL: send every layer's mask with each update's progress (the editor's live view). */
  readonly liveMasks?: boolean;
  /** Either epochs or steps; steps wins when both are given. */
  readonly epochs: number;
  readonly steps?: number;
  readonly batch: number;
  readonly lr: number;
  readonly optimizer: OptimizerSettings;
  readonly schedule: ScheduleKind;
  readonly warmup: number;
  readonly seed: number;
  /** Softmax temperature of distillation (used when the data has no labels). */
  readonly temperature: number;
  /** Initializers to keep as they are (names or display names, role-override patterns). */
  readonly freeze: readonly RegExp[];
  readonly toolVersion: string;
  readonly threads: number;
}

/** A fine-tune ready to run: the job's spec and what writing its result needs. */
export interface PreparedFineTune {
  readonly request: FineTuneRequest;
  readonly checkpoint: Checkpoint;
  readonly built: BuiltProgram;
  readonly data: TrainingData;
  readonly spec: TrainSpec;
  readonly masks: ReadonlyMap<string, Uint8Array>;
  /** Weights --nm left dense, with the reason. */
  readonly unpruned: readonly { readonly name: string; readonly reason: string }[];
  /** Weights pruned to N:M before training: their non-zeros before and after. */
  readonly pruned: readonly { readonly name: string; readonly before: number; readonly after: number }[];
  readonly distilled: boolean;
  /** SRigL runs: each masked layer's plan (sparsity, k) and the schedule. */
  readonly srigl?: PreparedSrigl;
  /** The checkpoint the run goes on from, and its step. */
  readonly resumed?: { readonly file: string; readonly step: number };
  /** The input's provenance keys (its sha256 among them), hashed once for every file the run writes. */
  readonly provenance: Provenance;
}

export interface PreparedSrigl {
  readonly schedule: SriglSchedule;
  readonly updates: number;
  readonly layers: readonly (SriglLayer & { readonly k: number; readonly displayName?: string })[];
  /** Layers the plan leaves dense. */
  readonly dense: readonly string[];
}

/** The weights of Gemm, MatMul and Conv layers among the trained tensors. */
function trainedWeights(built: BuiltProgram, checkpoint: Checkpoint): (TrainableTensor & { entry: TensorEntry & WeightRef })[] {
  const weightNames = new Set(
    built.program.nodes.flatMap((n) => (n.op === 'Gemm' || n.op === 'MatMul' || n.op === 'Conv' ? [n.inputs[1]] : [])),
  );
  const byName = new Map(checkpoint.tensors.map((t) => [t.name, t]));
  return built.trainable.flatMap((t) => {
    const param = built.program.params.find((p) => p.name === t.name)!;
    const entry = byName.get(t.name);
    return weightNames.has(param.value) && entry?.layout ? [{ ...t, entry: entry as TensorEntry & WeightRef }] : [];
  });
}

function nonZeros(data: Float32Array, mask?: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== 0 && (!mask || mask[i])) n++;
  return n;
}

/**
 * Opens the model and the data, decides each weight's mask (fixed: the input's zeros; --nm: the
 * pruning rule's N:M mask, computed by the kernels) and builds the job's spec. Everything a user
 * can get wrong is refused here, before any training.
 */
export async function prepareFineTune(request: FineTuneRequest, kernels: MaskKernels, signal?: AbortSignal): Promise<PreparedFineTune> {
  if (nodePath.extname(request.output).toLowerCase() !== '.onnx')
    throw new TrainingError(`the output is an ONNX model like the input, so it must end in .onnx: ${nodePath.basename(request.output)}`);
  if (request.nm && request.method === 'dense') throw new TrainingError('--nm trains with the pruned mask fixed: leave out --method dense');
  const checkpoint = await openCheckpoint(request.model);
  if (checkpoint.format !== 'onnx')
    throw new TrainingError(
      `${request.model}: training reads ONNX models (as torch.onnx.export writes them), not ${checkpoint.format} files`,
    );
  await checkOutputs([request.output], [...inputFiles(checkpoint), ...(request.resume ? [request.resume] : [])], request.force);
  const graph = await withFile(request.model, readOnnxGraph);
  const freeze = (name: string) => {
    const display = checkpoint.tensors.find((t) => t.name === name)?.displayName;
    return request.freeze.some((p) => p.test(name) || (display !== undefined && p.test(display)));
  };
  const built = await buildTrainingProgram(graph, checkpoint, { freeze });
  const data = await loadTrainingData(request.data, request.keys, request.namedKeys, built.sampleDims, built.inputName);
  checkLabels(data, graph.outputs[0]?.dims, built.outputKind);

  const masks = new Map<string, Uint8Array>();
  const initialValues = new Map<string, Float32Array>();
  const stepsPerEpoch = Math.ceil(data.train.count / request.batch);
  const steps = request.steps ?? request.epochs * stepsPerEpoch;
  const provenance = await provenanceOf(checkpoint.file, request.toolVersion);
  const resumed = request.resume ? await resumePoint(request, provenance, steps, freeze) : undefined;
  // The checkpoint resumed from is an input too: never an output.
  const inputs = [...inputFiles(checkpoint), ...(request.resume ? [request.resume] : [])];
  if (request.saveMasks !== undefined) {
    if (request.method === 'dense') throw new TrainingError('--save-masks writes the masks of a sparse run: --method dense has none');
    const problem = newFileProblem(request.saveMasks);
    if (problem) throw new TrainingError(`--save-masks: ${problem}`);
    await checkOutputs([request.saveMasks], inputs, request.force);
  }
  if (request.checkpointEvery) {
    const paths: string[] = [];
    for (let t = request.checkpointEvery; t < steps; t += request.checkpointEvery)
      if (t > (resumed?.step ?? 0)) paths.push(checkpointPath(request.output, t));
    await checkOutputs(paths, inputs, request.force);
  }
  const srigl =
    request.method === 'srigl' ? await prepareSrigl(request, built, checkpoint, steps, kernels, masks, initialValues, signal) : undefined;
  const unpruned: { name: string; reason: string }[] = [];
  const pruned: { name: string; before: number; after: number }[] = [];
  const params = new Map(built.program.params.map((p) => [p.name, p]));
  for (const weight of trainedWeights(built, checkpoint)) {
    signal?.throwIfAborted();
    const data = params.get(weight.name)!.data;
    if (request.nm) {
      const inDim = weight.entry.shape[weight.entry.layout.inAxis];
      if (inDim % request.nm.m !== 0) {
        unpruned.push({ name: weight.name, reason: `its ${inDim} input channels do not split into groups of ${request.nm.m}` });
        continue;
      }
      const mask = await kernels.nmMask(weight.entry, request.nm, signal);
      masks.set(weight.name, mask);
      pruned.push({ name: weight.name, before: nonZeros(data), after: nonZeros(data, mask) });
    } else if (request.method === 'fixed') {
      const mask = Uint8Array.from(data, (v) => (v !== 0 ? 1 : 0));
      if (mask.includes(0)) masks.set(weight.name, mask);
    }
  }
  if (request.method === 'fixed' && !request.nm && masks.size === 0)
    throw new TrainingError(
      `${request.model}: --method fixed keeps the zeros of the weights fixed, but no weight has any (train it --method dense, or prune it first)`,
    );
  if (request.nm && masks.size === 0)
    throw new TrainingError(
      `${request.model}: no weight can be pruned to ${request.nm.n}:${request.nm.m}: ${unpruned.map((u) => `${u.name}: ${u.reason}`).join('; ')}`,
    );

  if (resumed) {
    // The checkpoint's values, and its non-zeros as the masks (its active exact zeros were written as ACTIVE_ZERO_VALUE).
    for (const [name, values] of resumed.values) {
      initialValues.set(name, values);
      if (masks.has(name))
        masks.set(
          name,
          Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0)),
        );
    }
  }

  const masked = (p: ProgramParam): ProgramParam => {
    const mask = masks.get(p.name);
    const data = initialValues.get(p.name) ?? p.data;
    return mask ? { ...p, data: data.map((v, i) => (mask[i] ? v : 0 * v)), mask } : p;
  };
  const program = { ...built.program, params: built.program.params.map(masked) };
  const distilled = !data.train.y;
  const spec: TrainSpec = {
    program,
    ...(distilled ? { teacher: { program: built.program, temperature: request.temperature } } : {}),
    optimizer: request.optimizer,
    schedule: { kind: request.schedule, lr: request.lr, warmup: request.warmup, totalSteps: steps },
    train: data.train,
    ...(data.test ? { test: data.test } : {}),
    batch: request.batch,
    steps,
    ...(resumed ? { startStep: resumed.step } : {}),
    seed: request.seed,
    threads: request.threads,
    ...(srigl
      ? {
          srigl: {
            schedule: srigl.schedule,
            layers: srigl.layers,
            gradAccumulation: request.srigl!.gradAccumulation,
            resetOptimizerState: request.srigl!.resetOptimizerState,
            liveMasks: request.liveMasks ?? false,
          },
        }
      : {}),
  };
  return {
    request,
    checkpoint,
    built: { ...built, program },
    data,
    spec,
    masks,
    unpruned,
    pruned,
    distilled,
    ...(srigl ? { srigl } : {}),
    ...(resumed ? { resumed: { file: request.resume!, step: resumed.step } } : {}),
    provenance,
  };
}

/**
 * Where a run resumed from `request.resume` starts: the checkpoint's step and trained values. The
 * checkpoint must have been written by a run of this model (its input's sha256), with the same
 * seed and batch (so that the batches after its step are the ones the run would have drawn).
 * The optimizer's state (momentum, AdamW moments) is not in an ONNX file: it starts again at 0.
 */
async function resumePoint(
  request: FineTuneRequest,
  model: Provenance,
  steps: number,
  freeze: (name: string) => boolean,
): Promise<{ readonly step: number; readonly values: ReadonlyMap<string, Float32Array> }> {
  const file = request.resume!;
  const props = new Map(await metadataProps(file));
  const training = props.get('sparsity_lens.training');
  if (!training)
    throw new TrainingError(`--resume ${file}: not a checkpoint written by sparsity-lens train (no sparsity_lens.training metadata)`);
  if (props.get('sparsity_lens.input_sha256') !== model['sparsity_lens.input_sha256'])
    throw new TrainingError(`--resume ${file}: it was trained from another model than ${request.model} (its input's sha256 differs)`);
  const recorded = JSON.parse(training) as { steps: number; seed: number; batch: number };
  for (const [option, ours, theirs] of [
    ['--seed', request.seed, recorded.seed],
    ['--batch', request.batch, recorded.batch],
  ] as const)
    if (ours !== theirs)
      throw new TrainingError(`--resume ${file}: the run used ${option} ${theirs}, not ${ours}; resume with the run's options`);
  if (!(recorded.steps > 0 && recorded.steps < steps))
    throw new TrainingError(`--resume ${file}: its step ${recorded.steps} is not within this run's ${steps} steps`);
  const opened = await openCheckpoint(file);
  const built = await buildTrainingProgram(await withFile(file, readOnnxGraph), opened, { freeze });
  const values = new Map(built.program.params.map((p) => [p.name, p.data]));
  return { step: recorded.steps, values };
}

/**
 * SRigL's layers: the planner's sparsity and k for every Gemm, MatMul and Conv weight trained
 * (the same plan `sparsity-lens plan` shows), each sparse one's initial constant fan-in mask —
 * its k largest |w| per neuron (the pruning rule of `prune --fan-in`) or, with --init random, k
 * random inputs with re-drawn weights — and who may be ablated: every layer but the last one
 * (in graph order) and those --no-ablation-layers names.
 */
async function prepareSrigl(
  request: FineTuneRequest,
  built: BuiltProgram,
  checkpoint: Checkpoint,
  steps: number,
  kernels: MaskKernels,
  masks: Map<string, Uint8Array>,
  initialValues: Map<string, Float32Array>,
  signal?: AbortSignal,
): Promise<PreparedSrigl> {
  const settings = request.srigl;
  if (!settings) throw new TrainingError('--method srigl needs --sparsity S');
  const weights = trainedWeights(built, checkpoint);
  if (weights.length === 0) throw new TrainingError(`${request.model}: no trained Gemm, MatMul or Conv weight to make sparse`);
  const plan = planDensities(
    weights.map((w) => ({
      name: w.name,
      shape: w.entry.shape,
      nOut: w.entry.shape[w.entry.layout.outAxis],
      nIn: w.entry.shape[w.entry.layout.inAxis],
    })),
    { density: densityFromSparsity(settings.sparsity), distribution: settings.distribution },
  );
  const valueOf = new Map(built.program.params.map((p) => [p.value, p.name]));
  const lastLayer = [...built.program.nodes]
    .reverse()
    .map((n) => (n.op === 'Gemm' || n.op === 'MatMul' || n.op === 'Conv' ? valueOf.get(n.inputs[1]) : undefined))
    .find((name) => name !== undefined && weights.some((w) => w.name === name));
  const tEnd = Math.floor(settings.tEndFraction * steps);
  const deltaT = settings.deltaT ?? Math.max(1, Math.floor(tEnd / (DEFAULT_MASK_UPDATES + 1)));
  if (settings.gradAccumulation > deltaT)
    throw new TrainingError(
      `--grad-accumulation ${settings.gradAccumulation} exceeds ΔT = ${deltaT}: an update averages the batches since the last one at most`,
    );
  const schedule: SriglSchedule = { totalSteps: steps, deltaT, alpha: settings.alpha, tEndFraction: settings.tEndFraction };
  const layers: (SriglLayer & { k: number; displayName?: string })[] = [];
  const dense: string[] = [];
  for (const [i, w] of weights.entries()) {
    signal?.throwIfAborted();
    const planned = plan.layers[i];
    if (planned.dense) {
      dense.push(w.name);
      continue;
    }
    if (planned.k === null) throw new TrainingError(`${w.entry.displayName ?? w.name}: ${planned.kError}`);
    const display = w.entry.displayName;
    const protectedLayer =
      w.name === lastLayer || settings.noAblation.some((p) => p.test(w.name) || (display !== undefined && p.test(display)));
    const layer: SriglLayer & { k: number; displayName?: string } = {
      name: w.name,
      shape: w.entry.shape,
      layout: w.entry.layout,
      sparsity: planned.targetSparsity,
      gammaSal: settings.gammaSal === null || protectedLayer ? null : settings.gammaSal,
      k: planned.k,
      ...(display !== undefined ? { displayName: display } : {}),
    };
    if (settings.init === 'random') {
      const init = randomFanInInit(layer, planned.k, request.seed + i);
      masks.set(w.name, init.mask);
      initialValues.set(w.name, init.weights);
    } else {
      masks.set(w.name, await kernels.fanInMask(w.entry, planned.k, signal));
    }
    layers.push(layer);
  }
  if (layers.length === 0) throw new TrainingError(`a sparsity of ${settings.sparsity} leaves every layer dense: nothing for SRigL to do`);
  return { schedule, updates: maskUpdateCount(schedule), layers, dense };
}

/** Labels must name one of the output's classes, when the graph says how many there are. */
function checkLabels(data: TrainingData, outputDims: readonly (number | string)[] | undefined, kind: string): void {
  const classes = outputDims?.length === 2 && typeof outputDims[1] === 'number' ? outputDims[1] : undefined;
  if (classes === undefined) return;
  for (const [what, samples] of [
    ['training', data.train],
    ['test', data.test],
  ] as const) {
    const y = samples?.y;
    if (!y) continue;
    const bad = y.findIndex((v) => v >= classes);
    if (bad >= 0)
      throw new TrainingError(
        `${data.file}: ${what} label ${y[bad]} at ${bad} is not one of the model's ${classes} classes (its ${kind} output)`,
      );
  }
}

export interface RunOutcome {
  readonly status: 'done' | 'cancelled';
  readonly state: TrainState;
  readonly seconds: number;
  /** Checkpoints kept along the run (--checkpoint-every), in order. */
  readonly checkpoints: readonly string[];
}

/**
 * Runs the prepared job in the kernels' job worker, a step at a time; a cancel stops at a step
 * boundary. With checkpointEvery, the job pauses every that many steps while the weights of that
 * step are written (staged, verified, renamed) beside the output.
 */
export async function runFineTune(
  prepared: PreparedFineTune,
  kernels: JobKernels,
  options: {
    readonly signal?: AbortSignal;
    readonly onProgress?: (progress: TrainProgress) => void;
    readonly onCheckpoint?: (path: string, step: number) => void;
  } = {},
): Promise<RunOutcome> {
  const every = prepared.request.checkpointEvery;
  const checkpoints: string[] = [];
  // A job that dies under the run (a worker crash, its memory limit) ends it with where its last checkpoint is.
  const stopped = (e: unknown): never => {
    throw new TrainingStoppedError(`${(e as Error).message}. ${keptCheckpointNote(checkpoints, every)}`);
  };
  const session = await kernels.openJob('train', prepared.spec).catch(stopped);
  const started = performance.now();
  let step = prepared.spec.startStep ?? 0;
  try {
    for (;;) {
      // Pauses land on multiples of `every`, a resumed run's included.
      const maxSteps = every ? every - (step % every) : undefined;
      const outcome = await session
        .run({ signal: options.signal, onProgress: options.onProgress, ...(maxSteps ? { maxSteps } : {}) })
        .catch(stopped);
      const seconds = (performance.now() - started) / 1000;
      step = outcome.state.step;
      if (outcome.status === 'paused' && outcome.state.step < prepared.spec.steps) {
        const partial = resultOf(prepared, { status: 'done', state: outcome.state, seconds, checkpoints }, []);
        const path = checkpointPath(prepared.request.output, outcome.state.step);
        checkpoints.push(...(await writeTrainedModel(prepared, outcome.state, partial, path, options.signal)));
        options.onCheckpoint?.(path, outcome.state.step);
        continue;
      }
      const status = outcome.status === 'cancelled' ? 'cancelled' : 'done';
      return { status, state: outcome.state, seconds, checkpoints };
    }
  } finally {
    await session.close();
  }
}

/** A run whose job died under it (a worker crash, its memory limit): the message says where its last checkpoint is. */
export class TrainingStoppedError extends Error {
  override readonly name = 'TrainingStoppedError';
}

/** Where a run that stopped can go on from: its last checkpoint, or how to keep one next time. */
function keptCheckpointNote(checkpoints: readonly string[], every: number | undefined): string {
  const last = checkpoints[checkpoints.length - 1];
  if (last) return `The last checkpoint is kept: ${last}; go on from it with the same command and --resume ${last}`;
  return every
    ? `It stopped before its first checkpoint (step ${every})`
    : 'No checkpoint was kept (--checkpoint-every N keeps one every N steps)';
}

/** The JSON of `sparsity-lens train`: keys may be added, never changed. */
export interface FineTuneResult {
  readonly input: string;
  readonly data: string;
  /** The files written, the main one last; empty when nothing was written. */
  readonly written: readonly string[];
  readonly status: 'done' | 'cancelled';
  readonly method: string;
  readonly steps: number;
  readonly seconds: number;
  readonly stepsPerSecond: number;
  /** Mean loss of the last epoch. */
  readonly trainLoss: number | null;
  /** Fraction correct on the test set after training (null without a test set with labels). */
  readonly testAccuracy: number | null;
  readonly testCorrect: number | null;
  readonly testTotal: number | null;
  readonly initialTestAccuracy: number | null;
  readonly history: readonly {
    readonly epoch: number;
    readonly step: number;
    readonly trainLoss: number;
    readonly testAccuracy: number | null;
  }[];
  readonly trained: readonly { readonly name: string; readonly shape: readonly number[]; readonly engine: string }[];
  readonly frozen: readonly { readonly name: string; readonly reason: string }[];
  readonly pruned: PreparedFineTune['pruned'];
  readonly unpruned: PreparedFineTune['unpruned'];
  readonly notes: readonly string[];
  readonly distilled: boolean;
  /** Intermediate checkpoints written (--checkpoint-every). */
  readonly checkpoints: readonly string[];
  /** The checkpoint the run went on from (--resume) and its step; null for a run from the start. */
  readonly resumedFrom: { readonly file: string; readonly step: number } | null;
  /** Active weights training left at exactly 0, per weight: written as ACTIVE_ZERO_VALUE so that the file's non-zeros are its mask. */
  readonly activeZeros: readonly { readonly name: string; readonly count: number }[];
  /** SRigL runs: the schedule, each layer where it ended, and every mask update; null otherwise. */
  readonly srigl: {
    readonly deltaT: number;
    readonly tEnd: number;
    readonly layers: readonly {
      readonly name: string;
      readonly sparsity: number;
      /** The plan's k before any ablation, and k at the end. */
      readonly plannedK: number;
      readonly k: number;
      readonly ablated: readonly number[];
      readonly ablatable: boolean;
      readonly active: number;
    }[];
    readonly updates: readonly {
      readonly step: number;
      readonly dropFraction: number;
      /** Weights that became active (as many stopped being). */
      readonly moved: number;
      readonly ablated: number;
    }[];
  } | null;
}

const fraction = (a: TestAccuracy | undefined) => (a ? a.correct / a.total : null);

function sriglText(srigl: PreparedSrigl, settings: SriglSettings): string {
  const { schedule } = srigl;
  const ablation = settings.gammaSal === null ? 'no neuron ablation' : `neuron ablation γ_sal ${settings.gammaSal} (not the last layer)`;
  const start =
    settings.init === 'random'
      ? "from random constant fan-in masks with weights drawn from N(0, 2/k) (the reference's grad_flow_init)"
      : "from each neuron's k largest |w|";
  return (
    `SRigL dynamic sparse training at ${settings.sparsity} sparsity (${settings.distribution.toUpperCase()}) ${start}; ` +
    `${srigl.updates} mask updates every ${schedule.deltaT} steps until step ${Math.floor(schedule.tEndFraction * schedule.totalSteps)}, ` +
    `drop fraction ${schedule.alpha}/2·(1 + cos(πt/T_end)), ${ablation}` +
    (settings.gradAccumulation > 1 ? `, dense gradients averaged over ${settings.gradAccumulation} batches` : '')
  );
}

/** What a run is, in words: for the output's provenance and the CLI's summary. */
export function methodText(prepared: PreparedFineTune): string {
  const { request } = prepared;
  const how = prepared.srigl
    ? sriglText(prepared.srigl, request.srigl!)
    : request.nm
      ? `pruned to ${request.nm.n}:${request.nm.m} (NVIDIA ASP rule), then fine-tuned with the mask fixed`
      : request.method === 'fixed'
        ? 'fine-tuned with the zero pattern fixed'
        : 'fine-tuned dense';
  const opt = request.optimizer;
  const optimizer =
    opt.kind === 'sgd'
      ? `SGD momentum ${opt.momentum}${opt.nesterov ? ' Nesterov' : ''}`
      : `AdamW betas (${opt.beta1}, ${opt.beta2}) eps ${opt.epsilon}`;
  const loss = prepared.distilled ? `distilled from the input model (T = ${request.temperature})` : 'cross-entropy on the labels';
  return `${how}; ${optimizer}, lr ${request.lr} ${request.schedule}${request.warmup ? ` after ${request.warmup} warm-up steps` : ''}, weight decay ${opt.weightDecay}, batch ${request.batch}; ${loss}`;
}

export function resultOf(prepared: PreparedFineTune, outcome: RunOutcome, written: readonly string[]): FineTuneResult {
  const { state } = outcome;
  const last = state.history[state.history.length - 1] as EpochFigures | undefined;
  return {
    input: prepared.request.model,
    data: prepared.request.data,
    written,
    status: outcome.status,
    method: methodText(prepared),
    steps: state.step,
    seconds: outcome.seconds,
    stepsPerSecond: state.step / Math.max(outcome.seconds, 1e-9),
    trainLoss: last?.trainLoss ?? null,
    testAccuracy: fraction(last?.testAccuracy ?? state.initialTestAccuracy),
    testCorrect: (last?.testAccuracy ?? state.initialTestAccuracy)?.correct ?? null,
    testTotal: (last?.testAccuracy ?? state.initialTestAccuracy)?.total ?? null,
    initialTestAccuracy: fraction(state.initialTestAccuracy),
    history: state.history.map((h) => ({ epoch: h.epoch, step: h.step, trainLoss: h.trainLoss, testAccuracy: fraction(h.testAccuracy) })),
    trained: prepared.built.trainable.map((t) => ({ name: t.name, shape: t.shape, engine: state.engine[t.name] ?? 'dense' })),
    frozen: prepared.built.frozen,
    pruned: prepared.pruned,
    unpruned: prepared.unpruned,
    notes: prepared.built.notes,
    distilled: prepared.distilled,
    checkpoints: outcome.checkpoints,
    resumedFrom: prepared.resumed ?? null,
    activeZeros: activeZerosOf(state),
    srigl: prepared.srigl ? sriglResult(prepared.srigl, state) : null,
  };
}

function sriglResult(srigl: PreparedSrigl, state: TrainState): FineTuneResult['srigl'] {
  const last = state.maskUpdates[state.maskUpdates.length - 1];
  return {
    deltaT: srigl.schedule.deltaT,
    tEnd: Math.floor(srigl.schedule.tEndFraction * srigl.schedule.totalSteps),
    layers: srigl.layers.map((l) => {
      const figures = last?.layers.find((f) => f.name === l.name);
      const rows = l.shape[l.layout.outAxis];
      return {
        name: l.displayName ?? l.name,
        sparsity: l.sparsity,
        plannedK: l.k,
        k: figures?.k ?? l.k,
        ablated: figures?.ablated ?? [],
        ablatable: l.gammaSal !== null,
        active: figures?.active ?? rows * l.k,
      };
    }),
    updates: state.maskUpdates.map((u) => ({
      step: u.step,
      dropFraction: u.dropFraction,
      moved: u.layers.reduce((a, l) => a + l.grown, 0),
      ablated: u.layers.reduce((a, l) => a + l.ablated.length, 0),
    })),
  };
}

/** A check of the written model failed: a bug, never a user's mistake; the file is not kept. */
export class TrainedVerificationError extends Error {}

function float32Bytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytes;
}

/**
 * Writes the trained weights into a copy of the input model (the pruning's ONNX writer: only the
 * trained initializers' bytes change, provenance appended to metadata_props), staged beside the
 * output, re-opened and checked (every other tensor identical, every trained one holding exactly
 * the trained values, masked weights zero off their mask), then renamed into place.
 */
export async function writeFineTuned(prepared: PreparedFineTune, outcome: RunOutcome, signal?: AbortSignal): Promise<FineTuneResult> {
  const partial = resultOf(prepared, outcome, []);
  const { request } = prepared;
  const masks =
    request.saveMasks === undefined
      ? []
      : await writeNewFile({
          output: request.saveMasks,
          tensors: Object.entries(outcome.state.masks).map(([name, mask]) => ({
            name: `${name}.mask`,
            dtype: 'uint8' as const,
            shape: prepared.built.trainable.find((t) => t.name === name)!.shape,
            bytes: mask,
          })),
          metadata: {
            'sparsity_lens.masks': `the final masks of ${nodePath.basename(request.model)} trained into ${nodePath.basename(request.output)}: 1 = active`,
          },
          inputs: inputFiles(prepared.checkpoint),
          force: request.force,
          signal,
        });
  // The masks and the model are one result: a model that cannot be written takes its masks with it.
  const paths = await writeTrainedModel(prepared, outcome.state, partial, request.output, signal).catch(async (e: unknown) => {
    await Promise.all(masks.map((m) => rm(m, { force: true })));
    throw e;
  });
  return { ...partial, written: [...masks, ...paths] };
}

/**
 * The smallest normal float32, written for a weight its mask keeps that training left at exactly
 * 0 (grown where no gradient ever reached it: an input that is always 0, a neuron that never
 * fires). An ONNX file holds values, not masks, so its non-zeros are the mask for every reader
 * (report, condense, `w != 0`); added to any sum of normal numbers it rounds away, so no output
 * changes (tested with onnxruntime).
 */
export const ACTIVE_ZERO_VALUE = 2 ** -126;

/** The weights with every active exact zero written as ACTIVE_ZERO_VALUE. */
function withActiveNonZero(trained: Float32Array, mask: Uint8Array): Float32Array {
  let copy: Float32Array | undefined;
  for (let i = 0; i < trained.length; i++) {
    if (mask[i] && trained[i] === 0) {
      copy ??= Float32Array.from(trained);
      copy[i] = ACTIVE_ZERO_VALUE;
    }
  }
  return copy ?? trained;
}

/** Per masked weight, how many active positions training left at exactly 0 (only those with any). */
function activeZerosOf(state: TrainState): { readonly name: string; readonly count: number }[] {
  return Object.entries(state.masks).flatMap(([name, mask]) => {
    const values = state.parameters[name];
    let count = 0;
    if (values) for (let i = 0; i < mask.length; i++) if (mask[i] && values[i] === 0) count++;
    return count ? [{ name, count }] : [];
  });
}

/** OUT.onnx → OUT.step120.onnx: the checkpoint kept at a step of the run. */
export function checkpointPath(output: string, step: number): string {
  const ext = nodePath.extname(output);
  return `${output.slice(0, output.length - ext.length)}.step${step}${ext}`;
}

/** The model with the state's weights, staged, verified and renamed into place at `output`. */
async function writeTrainedModel(
  prepared: PreparedFineTune,
  state: TrainState,
  result: FineTuneResult,
  output: string,
  signal?: AbortSignal,
): Promise<string[]> {
  const { checkpoint, request } = prepared;
  const values = new Map<string, Float32Array>();
  for (const t of prepared.built.trainable) {
    const trained = state.parameters[t.name];
    if (!trained || trained.length !== numelOf(t.shape)) throw new TrainedVerificationError(`the engine returned no values for ${t.name}`);
    const mask = state.masks[t.name];
    if (mask && trained.some((v, i) => !mask[i] && v !== 0))
      throw new TrainedVerificationError(`${t.name}: the engine moved a weight off its mask`);
    values.set(t.name, mask ? withActiveNonZero(trained, mask) : trained);
  }
  const byName = new Map(checkpoint.tensors.map((t) => [t.name, t]));
  const edits: { layer: string; edit: StoredEdit }[] = [];
  for (const [name, trained] of values)
    edits.push(...replacedEdits(byName.get(name)!, float32Bytes(trained)).map((edit) => ({ layer: name, edit })));
  checkNothingElseChanges(checkpoint, edits);
  const provenance = {
    ...prepared.provenance,
    'sparsity_lens.method': result.method,
    'sparsity_lens.training': JSON.stringify({
      status: result.status,
      data: nodePath.basename(request.data),
      keys: request.keys,
      steps: state.step,
      epochs: state.history.length,
      seed: request.seed,
      lr: request.lr,
      schedule: request.schedule,
      batch: request.batch,
      optimizer: request.optimizer,
      trainLoss: result.trainLoss,
      testAccuracy: result.testAccuracy,
      initialTestAccuracy: result.initialTestAccuracy,
      trained: result.trained.map((t) => `${t.name}: ${t.engine}`),
      activeZeros: result.activeZeros,
      ...(result.resumedFrom ? { resumedFrom: { file: nodePath.basename(result.resumedFrom.file), step: result.resumedFrom.step } } : {}),
    }),
    ...(prepared.srigl && request.srigl
      ? { 'sparsity_lens.srigl': JSON.stringify(sriglProvenance(prepared.srigl, request.srigl, state)) }
      : {}),
    ...(prepared.built.notes.length ? { 'sparsity_lens.notes': prepared.built.notes.join('; ') } : {}),
  };
  const { paths } = await writeVerified({
    checkpoint,
    edits: edits.map((e) => e.edit),
    provenance,
    output,
    force: request.force,
    verify: (written) => verifyTrained(checkpoint, written, values, signal),
    signal,
  });
  return paths;
}

/** A SRigL run's parameters and where its masks ended, for the output's metadata_props. */
function sriglProvenance(srigl: PreparedSrigl, settings: SriglSettings, state: TrainState) {
  const last = state.maskUpdates[state.maskUpdates.length - 1];
  return {
    sparsity: settings.sparsity,
    distribution: settings.distribution,
    init: settings.init,
    deltaT: srigl.schedule.deltaT,
    alpha: srigl.schedule.alpha,
    tEndFraction: srigl.schedule.tEndFraction,
    tEnd: Math.floor(srigl.schedule.tEndFraction * srigl.schedule.totalSteps),
    gammaSal: settings.gammaSal,
    gradAccumulation: settings.gradAccumulation,
    resetOptimizerState: settings.resetOptimizerState,
    maskUpdates: state.maskUpdates.length,
    layers: srigl.layers.map((l) => {
      const figures = last?.layers.find((f) => f.name === l.name);
      return {
        name: l.displayName ?? l.name,
        sparsity: l.sparsity,
        k: figures?.k ?? l.k,
        ablated: figures?.ablated.length ?? 0,
        ablatable: l.gammaSal !== null,
      };
    }),
  };
}

async function verifyTrained(
  input: Checkpoint,
  written: Checkpoint,
  values: ReadonlyMap<string, Float32Array>,
  signal?: AbortSignal,
): Promise<void> {
  const fail = (what: string) => new TrainedVerificationError(`the written model failed its check: ${what}; nothing was kept`);
  if (written.tensors.length !== input.tensors.length) throw fail(`${written.tensors.length} tensors instead of ${input.tensors.length}`);
  const outputs = new Map(written.tensors.map((t) => [t.name, t]));
  for (const a of input.tensors) {
    const b = outputs.get(a.name);
    if (!b || b.dtype !== a.dtype || b.shape.join() !== a.shape.join()) throw fail(`${printable(a.name)} changed its name, dtype or shape`);
    const trained = values.get(a.name);
    const expected = trained ? float32Bytes(trained) : undefined;
    let at = 0;
    for await (const [ca, cb] of chunkPairs(a, b, numelOf(a.shape), signal)) {
      const want = expected ? expected.subarray(at * 4, (at + ca.count) * 4) : ca.bytes; // trained tensors are float32
      if (!sameBytes(want, cb.bytes))
        throw fail(`${printable(a.name)} does not hold ${trained ? 'the trained values' : 'its input bytes'}`);
      at += ca.count;
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One line per epoch for the CLI's progress: "epoch 3/20  step 36/240  loss 0.1234  test 97.5 %". */
export function describeAccuracy(a: TestAccuracy | undefined): string {
  return a ? `${formatCount(a.correct)}/${formatCount(a.total)} (${((100 * a.correct) / a.total).toFixed(1)} %)` : 'no test set';
}
