import * as path from 'node:path';
import { availableParallelism } from 'node:os';
import { formatCount } from '../core/checkpoint';
import type { NmPattern } from '../core/nmPattern';
import { matcherOf } from '../core/roles/roleOverrides';
import {
  describeAccuracy,
  prepareFineTune,
  runFineTune,
  writeFineTuned,
  type FineTuneRequest,
  type FineTuneResult,
  type SriglSettings,
  type TrainMethod,
} from '../core/train/fineTune';
import { DEFAULT_GAMMA_SAL } from '../core/analysis/ablation';
import type { Distribution } from '../core/analysis/plan';
import type { ScheduleKind } from '../core/train/learningRate';
import { DEFAULT_KEYS, type DataKeys } from '../core/train/trainingData';
import { TrainingError } from '../core/train/trainingError';
import type { MaskUpdateFigures, TrainProgress } from '../kernels/jobs/jobTypes';
import type { Kernels } from '../kernels/kernels';
import type { OptimizerSettings } from '../kernels/trainingKernels';
import { alignedTable } from '../core/analysis/textTable';
import { toolVersion } from './toolVersion';

/** The options of `sparsity-lens train` as parseArgs gives them. */
export interface TrainOptions {
  readonly data?: string;
  readonly output?: string;
  readonly force?: boolean;
  readonly method?: string;
  readonly nm?: NmPattern;
  readonly epochs?: string;
  readonly steps?: string;
  readonly batch?: string;
  readonly lr?: string;
  readonly optimizer?: string;
  readonly momentum?: string;
  readonly nesterov?: boolean;
  readonly 'weight-decay'?: string;
  readonly schedule?: string;
  readonly warmup?: string;
  readonly seed?: string;
  readonly temperature?: string;
  readonly x?: string;
  readonly y?: string;
  readonly 'test-x'?: string;
  readonly 'test-y'?: string;
  readonly freeze?: readonly string[];
  readonly threads?: string;
  readonly sparsity?: string;
  readonly distribution?: string;
  readonly 'delta-t'?: string;
  readonly alpha?: string;
  readonly 't-end-fraction'?: string;
  readonly 'gamma-sal'?: string;
  readonly 'no-ablation'?: boolean;
  readonly 'no-ablation-layers'?: readonly string[];
  readonly init?: string;
  readonly 'grad-accumulation'?: string;
  readonly 'reset-optimizer-state'?: boolean;
  readonly 'checkpoint-every'?: string;
  readonly 'save-masks'?: string;
  readonly resume?: string;
}

/**
 * Defaults: NVIDIA's ASP recipe on a small model (mask fixed, SGD momentum 0.9, batch 128, 20
 * epochs), with a cosine schedule: on the digits MLP it settles at the dense accuracy where a
 * constant rate keeps wandering a sample or two around it.
 */
export const TRAIN_DEFAULTS = {
  epochs: 20,
  batch: 128,
  sgdLr: 0.01,
  /** SRigL with SGD: the rate of the reference run the digits results are measured against (fixed masks do best at 0.01). */
  sriglSgdLr: 0.05,
  adamwLr: 0.001,
  momentum: 0.9,
  temperature: 2,
  seed: 0,
} as const;

/** SRigL's defaults: the reference's α, T_end and γ_sal (spec §6.5); ΔT from the run's length (see DEFAULT_MASK_UPDATES). */
export const SRIGL_DEFAULTS = { alpha: 0.3, tEndFraction: 0.75, gammaSal: DEFAULT_GAMMA_SAL, gradAccumulation: 1 } as const;

const patterns = (option: string, values: readonly string[] | undefined): RegExp[] =>
  (values ?? []).map((p) => {
    try {
      return matcherOf(p);
    } catch (e) {
      throw new TrainingError(`--${option}: ${(e as Error).message}`);
    }
  });

/** SRigL's options, checked; undefined unless the method is srigl. */
function sriglSettingsOf(o: TrainOptions, method: TrainMethod): SriglSettings | undefined {
  const sriglOnly = (
    [
      'delta-t',
      'alpha',
      't-end-fraction',
      'gamma-sal',
      'no-ablation',
      'no-ablation-layers',
      'init',
      'grad-accumulation',
      'reset-optimizer-state',
    ] as const
  ).filter((k) => o[k] !== undefined);
  if (method !== 'srigl') {
    if (o.sparsity !== undefined || sriglOnly.length)
      throw new TrainingError(`--${o.sparsity !== undefined ? 'sparsity' : sriglOnly[0]} is a SRigL option: use it with --method srigl`);
    return undefined;
  }
  if (o.sparsity === undefined) throw new TrainingError('--method srigl needs --sparsity S (the global sparsity, e.g. 0.9)');
  if (o['no-ablation'] && o['gamma-sal'] !== undefined) throw new TrainingError('give --gamma-sal or --no-ablation, not both');
  return {
    sparsity: number('sparsity', o.sparsity, 0, (v) => v > 0 && v < 1, 'a number in (0, 1)'),
    distribution: oneOf<Distribution>('distribution', o.distribution, ['erk', 'uniform', 'er']),
    ...(o['delta-t'] !== undefined ? { deltaT: number('delta-t', o['delta-t'], 1, whole, 'a whole number ≥ 1') } : {}),
    alpha: number('alpha', o.alpha, SRIGL_DEFAULTS.alpha, (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
    tEndFraction: number('t-end-fraction', o['t-end-fraction'], SRIGL_DEFAULTS.tEndFraction, (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    gammaSal: o['no-ablation']
      ? null
      : number('gamma-sal', o['gamma-sal'], SRIGL_DEFAULTS.gammaSal, (v) => v > 0, 'a number > 0 (≥ 1: a count)'),
    noAblation: patterns('no-ablation-layers', o['no-ablation-layers']),
    init: oneOf('init', o.init, ['checkpoint', 'random'] as const),
    gradAccumulation: number('grad-accumulation', o['grad-accumulation'], SRIGL_DEFAULTS.gradAccumulation, whole, 'a whole number ≥ 1'),
    resetOptimizerState: o['reset-optimizer-state'] ?? false,
  };
}

function number(option: string, text: string | undefined, fallback: number, check: (v: number) => boolean, what: string): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || !check(v)) throw new TrainingError(`--${option} must be ${what}, not "${text}"`);
  return v;
}

const whole = (v: number) => Number.isInteger(v) && v >= 1;
const nonNegativeWhole = (v: number) => Number.isInteger(v) && v >= 0;

function oneOf<T extends string>(option: string, text: string | undefined, values: readonly T[]): T {
  const v = text ?? values[0];
  if (!values.includes(v as T)) throw new TrainingError(`--${option} must be ${values.join(', ')}, not "${v}"`);
  return v as T;
}

/** The request a command line makes, every option checked. */
export async function fineTuneRequestOf(model: string, o: TrainOptions): Promise<FineTuneRequest> {
  if (!o.data) throw new TrainingError('train needs data: --data FILE.npz (x_train, y_train, x_test, y_test) or --data X.npy --y Y.npy');
  if (!o.output) throw new TrainingError('train needs an output file: -o OUT.onnx');
  if (o.epochs !== undefined && o.steps !== undefined) throw new TrainingError('give --epochs or --steps, not both');
  const optimizerKind = oneOf('optimizer', o.optimizer, ['sgd', 'adamw'] as const);
  const weightDecay = number('weight-decay', o['weight-decay'], optimizerKind === 'adamw' ? 0.01 : 0, (v) => v >= 0, 'a number ≥ 0');
  const optimizer: OptimizerSettings = {
    kind: optimizerKind,
    momentum: number('momentum', o.momentum, TRAIN_DEFAULTS.momentum, (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    nesterov: o.nesterov ?? false,
    weightDecay,
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
  };
  if (optimizer.nesterov && (optimizer.kind !== 'sgd' || optimizer.momentum === 0))
    throw new TrainingError('--nesterov is an SGD option and needs --momentum > 0');
  const keys: DataKeys = {
    x: o.x ?? DEFAULT_KEYS.x,
    y: o.y ?? DEFAULT_KEYS.y,
    testX: o['test-x'] ?? DEFAULT_KEYS.testX,
    testY: o['test-y'] ?? DEFAULT_KEYS.testY,
  };
  const namedKeys = new Set(
    (
      [
        ['x', o.x],
        ['y', o.y],
        ['testX', o['test-x']],
        ['testY', o['test-y']],
      ] as const
    ).flatMap(([k, v]) => (v !== undefined ? [k] : [])),
  );
  const freeze = patterns('freeze', o.freeze);
  const method = oneOf<TrainMethod>('method', o.method ?? (o.nm ? 'fixed' : o.sparsity !== undefined ? 'srigl' : 'dense'), [
    'dense',
    'fixed',
    'srigl',
  ]);
  if (o.nm && (method === 'srigl' || o.sparsity !== undefined))
    throw new TrainingError('--nm prunes to N:M and keeps that mask: it does not go with SRigL (--method srigl, --sparsity)');
  const srigl = sriglSettingsOf(o, method);
  const steps = o.steps !== undefined ? number('steps', o.steps, 0, whole, 'a whole number ≥ 1') : undefined;
  return {
    model,
    data: o.data,
    keys,
    namedKeys,
    output: o.output,
    force: o.force ?? false,
    method,
    ...(o.nm ? { nm: o.nm } : {}),
    ...(srigl ? { srigl } : {}),
    ...(o['checkpoint-every'] !== undefined
      ? { checkpointEvery: number('checkpoint-every', o['checkpoint-every'], 1, whole, 'a whole number ≥ 1') }
      : {}),
    ...(o['save-masks'] !== undefined ? { saveMasks: o['save-masks'] } : {}),
    ...(o.resume !== undefined ? { resume: o.resume } : {}),
    epochs: number('epochs', o.epochs, TRAIN_DEFAULTS.epochs, whole, 'a whole number ≥ 1'),
    ...(steps !== undefined ? { steps } : {}),
    batch: number('batch', o.batch, TRAIN_DEFAULTS.batch, whole, 'a whole number ≥ 1'),
    lr: number(
      'lr',
      o.lr,
      optimizerKind === 'adamw' ? TRAIN_DEFAULTS.adamwLr : method === 'srigl' ? TRAIN_DEFAULTS.sriglSgdLr : TRAIN_DEFAULTS.sgdLr,
      (v) => v > 0,
      'a number > 0',
    ),
    optimizer,
    schedule: oneOf<ScheduleKind>('schedule', o.schedule, ['cosine', 'constant', 'step']),
    warmup: number('warmup', o.warmup, 0, nonNegativeWhole, 'a whole number ≥ 0'),
    seed: number('seed', o.seed, TRAIN_DEFAULTS.seed, (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff, 'a whole number'),
    temperature: number('temperature', o.temperature, TRAIN_DEFAULTS.temperature, (v) => v > 0, 'a number > 0'),
    freeze,
    toolVersion: await toolVersion(),
    threads: number('threads', o.threads, Math.max(1, availableParallelism()), whole, 'a whole number ≥ 1'),
  };
}

/**
 * Prepares, runs and writes a fine-tune. Progress goes to `log`: one line per epoch (step, loss,
 * learning rate, steps/s, test accuracy) and, in long epochs, a line every few seconds. A signal
 * stops at a step boundary and writes the weights of the last step done.
 */
export async function runTrain(
  request: FineTuneRequest,
  kernels: Kernels,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<FineTuneResult> {
  const prepared = await prepareFineTune(request, kernels);
  if (signal?.aborted) throw new TrainingError('interrupted before training started: nothing was written');
  for (const p of prepared.pruned)
    log(`pruned ${p.name} to ${request.nm!.n}:${request.nm!.m}: ${formatCount(p.before)} → ${formatCount(p.after)} non-zeros`);
  for (const u of prepared.unpruned) log(`left dense ${u.name}: ${u.reason}`);
  for (const f of prepared.built.frozen) log(`frozen ${f.name}: ${f.reason}`);
  if (prepared.distilled)
    log(
      `no labels "${request.keys.y}" in ${path.basename(request.data)}: distilling the input model's outputs (T = ${request.temperature})`,
    );
  if (prepared.srigl) {
    const { schedule, updates, layers, dense } = prepared.srigl;
    const name = (l: { name: string; displayName?: string }) => l.displayName ?? l.name;
    log(
      `SRigL: ${layers.map((l) => `${name(l)} s=${l.sparsity.toFixed(3)} k=${l.k}${l.gammaSal === null ? ' (never ablated)' : ''}`).join(', ')}` +
        (dense.length ? `; dense: ${dense.join(', ')}` : ''),
    );
    log(
      `SRigL: ${updates} mask updates, every ${schedule.deltaT} steps until step ${Math.floor(schedule.tEndFraction * schedule.totalSteps)}`,
    );
  }
  const { steps, batch } = prepared.spec;
  if (prepared.resumed)
    log(
      `going on from ${path.basename(prepared.resumed.file)} at step ${prepared.resumed.step} (the optimizer's momentum starts again at 0)`,
    );
  log(
    `training ${prepared.built.trainable.length} tensors for ${steps} steps of ${batch} samples (${prepared.data.train.count} training samples)`,
  );
  const started = performance.now();
  let lastLine = started;
  const outcome = await runFineTune(prepared, kernels, {
    signal,
    onCheckpoint: (file, step) => log(`checkpoint at step ${step}: ${path.basename(file)}`),
    onProgress: (p: TrainProgress) => {
      if (p.maskUpdate) log(maskUpdateLine(p.maskUpdate, prepared.srigl!.layers));
      const now = performance.now();
      if (!p.epochEnd && now - lastLine < 3000) return;
      lastLine = now;
      const rate = (p.step / Math.max(1e-9, (now - started) / 1000)).toFixed(0);
      const head = `epoch ${p.epoch}/${p.epochs}  step ${p.step}/${p.of}  loss ${p.loss.toFixed(4)}  lr ${p.lr.toPrecision(3)}  ${rate} steps/s`;
      log(p.epochEnd ? `${head}  train loss ${p.epochEnd.trainLoss.toFixed(4)}  test ${describeAccuracy(p.epochEnd.testAccuracy)}` : head);
    },
  });
  if (outcome.status === 'cancelled') log(`stopped at step ${outcome.state.step} of ${steps}: writing the weights of that step`);
  return writeFineTuned(prepared, outcome, undefined);
}

/** "update 3/35 at step 15: drop fraction 0.291, 1,234 weights moved, 2 neurons ablated; k fc1 7, fc2 12". */
function maskUpdateLine(u: MaskUpdateFigures, layers: readonly { name: string; displayName?: string }[]): string {
  const moved = u.layers.reduce((a, l) => a + l.grown, 0);
  const ablated = u.layers.reduce((a, l) => a + l.ablated.length, 0);
  const ks = u.layers.map((l) => {
    const layer = layers.find((x) => x.name === l.name);
    return `${layer?.displayName ?? l.name} ${l.k}`;
  });
  return `update ${u.index}/${u.of} at step ${u.step}: drop fraction ${u.dropFraction.toFixed(3)}, ${formatCount(moved)} ${moved === 1 ? 'weight' : 'weights'} moved, ${ablated} ${ablated === 1 ? 'neuron' : 'neurons'} ablated; k ${ks.join(', ')}`;
}

function activeZerosLines(result: FineTuneResult): string[] {
  if (!result.activeZeros.length) return [];
  const total = result.activeZeros.reduce((a, z) => a + z.count, 0);
  const each = result.activeZeros.map((z) => `${z.name} ${formatCount(z.count)}`).join(', ');
  return [
    `  note: ${formatCount(total)} active ${total === 1 ? 'weight' : 'weights'} ended at exactly 0, no gradient having reached ${total === 1 ? 'it' : 'them'} (${each}): written as 2^-126, the smallest normal float, so that the file's non-zeros are its masks`,
  ];
}

function sriglLines(result: FineTuneResult): string[] {
  const { srigl } = result;
  if (!srigl) return [];
  const moved = srigl.updates.reduce((a, u) => a + u.moved, 0);
  const rows = srigl.layers.map((l) => [
    l.name,
    l.sparsity.toFixed(3),
    l.plannedK === l.k ? `${l.k}` : `${l.plannedK} → ${l.k}`,
    l.ablatable ? `${l.ablated.length}` : 'never',
    formatCount(l.active),
  ]);
  return [
    `  SRigL: ${srigl.updates.length} mask updates every ${srigl.deltaT} steps until step ${srigl.tEnd}, ${formatCount(moved)} weights moved in all`,
    ...alignedTable([['layer', 'sparsity', 'k', 'ablated', 'active'], ...rows]).map((l) => `  ${l}`),
  ];
}

export function formatTrainResult(result: FineTuneResult): string {
  const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(1)} %`);
  const rows = result.trained.map((t) => [t.name, `[${t.shape.join(', ')}]`, t.engine]);
  return (
    [
      `${result.status === 'done' ? 'Trained' : 'Stopped early:'} ${path.basename(result.input)} → ${result.written.map((w) => path.basename(w)).join(', ')}: ${result.method}`,
      `  ${result.steps} steps in ${result.seconds.toFixed(2)} s (${result.stepsPerSecond.toFixed(0)} steps/s); last epoch's train loss ${result.trainLoss?.toFixed(4) ?? '–'}`,
      `  test accuracy ${pct(result.initialTestAccuracy)} → ${pct(result.testAccuracy)}${result.testCorrect !== null ? ` (${result.testCorrect}/${result.testTotal})` : ''}`,
      ...alignedTable([['tensor', 'shape', 'trained'], ...rows]).map((l) => `  ${l}`),
      ...sriglLines(result),
      ...result.notes.map((n) => `  note: ${n}`),
      ...activeZerosLines(result),
      `Verified before writing: re-opened, every other tensor identical, every trained one holding exactly the trained values${result.activeZeros.length ? ' (its active exact zeros as 2^-126)' : ''}.`,
    ].join('\n') + '\n'
  );
}
