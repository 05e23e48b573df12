import * as nodePath from 'node:path';
import type { JobKernels } from '../../kernels/jobKernels';
import type { EpochFigures, TestAccuracy, TrainProgress, TrainSpec, TrainState } from '../../kernels/jobs/jobTypes';
import type { WeightRef } from '../../kernels/kernels';
import type { MaskKernels } from '../../kernels/maskKernels';
import type { OptimizerSettings, ProgramParam } from '../../kernels/trainingKernels';
import { formatCount, numelOf, type Checkpoint, type TensorEntry } from '../checkpoint';
import { printable } from '../errors';
import { readOnnxGraph } from '../formats/onnx/graph';
import { openCheckpoint } from '../formats/registry';
import type { StoredEdit } from '../formats/writer';
import type { NmPattern } from '../nmPattern';
import { provenanceOf } from '../prune/provenance';
import { checkNothingElseChanges } from '../prune/sharedBytes';
import { checkOutputs, inputFiles, writeVerified } from '../prune/stagedOutput';
import { replacedEdits } from '../prune/storedEdits';
import { withFile } from '../randomAccessFile';
import { chunkPairs } from '../tensorBytes';
import type { ScheduleKind } from './learningRate';
import { loadTrainingData, type DataKeys, type TrainingData } from './trainingData';
import { TrainingError } from './trainingError';
import { buildTrainingProgram, type BuiltProgram, type TrainableTensor } from './trainingProgram';

export type TrainMethod = 'dense' | 'fixed';

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
  await checkOutputs([request.output], inputFiles(checkpoint), request.force);
  const graph = await withFile(request.model, readOnnxGraph);
  const freeze = (name: string) => {
    const display = checkpoint.tensors.find((t) => t.name === name)?.displayName;
    return request.freeze.some((p) => p.test(name) || (display !== undefined && p.test(display)));
  };
  const built = await buildTrainingProgram(graph, checkpoint, { freeze });
  const data = await loadTrainingData(request.data, request.keys, request.namedKeys, built.sampleDims, built.inputName);
  checkLabels(data, graph.outputs[0]?.dims, built.outputKind);

  const masks = new Map<string, Uint8Array>();
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

  const masked = (p: ProgramParam): ProgramParam => {
    const mask = masks.get(p.name);
    return mask ? { ...p, data: p.data.map((v, i) => (mask[i] ? v : 0 * v)), mask } : p;
  };
  const program = { ...built.program, params: built.program.params.map(masked) };
  const stepsPerEpoch = Math.ceil(data.train.count / request.batch);
  const steps = request.steps ?? request.epochs * stepsPerEpoch;
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
    seed: request.seed,
    threads: request.threads,
  };
  return { request, checkpoint, built: { ...built, program }, data, spec, masks, unpruned, pruned, distilled };
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
}

/** Runs the prepared job in the kernels' job worker, a step at a time; a cancel stops at a step boundary. */
export async function runFineTune(
  prepared: PreparedFineTune,
  kernels: JobKernels,
  options: { readonly signal?: AbortSignal; readonly onProgress?: (progress: TrainProgress) => void } = {},
): Promise<RunOutcome> {
  const session = await kernels.openJob('train', prepared.spec);
  const started = performance.now();
  try {
    const outcome = await session.run({ signal: options.signal, onProgress: options.onProgress });
    const seconds = (performance.now() - started) / 1000;
    return { status: outcome.status === 'done' ? 'done' : 'cancelled', state: outcome.state, seconds };
  } finally {
    await session.close();
  }
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
}

const fraction = (a: TestAccuracy | undefined) => (a ? a.correct / a.total : null);

/** What a run is, in words: for the output's provenance and the CLI's summary. */
export function methodText(prepared: PreparedFineTune): string {
  const { request } = prepared;
  const how = request.nm
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
  const { checkpoint, request } = prepared;
  const values = new Map<string, Float32Array>();
  for (const t of prepared.built.trainable) {
    const trained = outcome.state.parameters[t.name];
    if (!trained || trained.length !== numelOf(t.shape)) throw new TrainedVerificationError(`the engine returned no values for ${t.name}`);
    const mask = prepared.masks.get(t.name);
    if (mask && trained.some((v, i) => !mask[i] && v !== 0))
      throw new TrainedVerificationError(`${t.name}: the engine moved a weight off its fixed mask`);
    values.set(t.name, trained);
  }
  const byName = new Map(checkpoint.tensors.map((t) => [t.name, t]));
  const edits: { layer: string; edit: StoredEdit }[] = [];
  for (const [name, trained] of values)
    edits.push(...replacedEdits(byName.get(name)!, float32Bytes(trained)).map((edit) => ({ layer: name, edit })));
  checkNothingElseChanges(checkpoint, edits);
  const partial = resultOf(prepared, outcome, []);
  const provenance = {
    ...(await provenanceOf(checkpoint.file, request.toolVersion)),
    'sparsity_lens.method': partial.method,
    'sparsity_lens.training': JSON.stringify({
      status: partial.status,
      data: nodePath.basename(request.data),
      keys: request.keys,
      steps: partial.steps,
      epochs: partial.history.length,
      seed: request.seed,
      trainLoss: partial.trainLoss,
      testAccuracy: partial.testAccuracy,
      initialTestAccuracy: partial.initialTestAccuracy,
      trained: partial.trained.map((t) => `${t.name}: ${t.engine}`),
    }),
    ...(prepared.built.notes.length ? { 'sparsity_lens.notes': prepared.built.notes.join('; ') } : {}),
  };
  const { paths } = await writeVerified({
    checkpoint,
    edits: edits.map((e) => e.edit),
    provenance,
    output: request.output,
    force: request.force,
    verify: (written) => verifyTrained(checkpoint, written, values, signal),
    signal,
  });
  return resultOf(prepared, outcome, paths);
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
