import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { planCheckpoint, planRequestOf, type CheckpointPlan } from '../core/analysis/checkpointPlan';
import { DISTRIBUTIONS, type Distribution } from '../core/analysis/plan';
import { formatCount } from '../core/checkpoint';
import { headline, isCheckpointError, printable } from '../core/errors';
import { neuronGeometry } from '../core/neuronView';
import type { NmPattern } from '../core/nmPattern';
import { outputNameFor } from '../core/prune/pruneSelection';
import {
  DEFAULT_MASK_UPDATES,
  prepareFineTune,
  runFineTune,
  writeFineTuned,
  type FineTuneResult,
  type PreparedFineTune,
  type RunOutcome,
} from '../core/train/fineTune';
import { maskUpdateCount, sriglTEnd, type SriglSchedule } from '../core/train/sriglSchedule';
import type { DataKeys } from '../core/train/trainingData';
import { fineTuneRequestOf, formatTrainResult, SRIGL_DEFAULTS, TRAIN_DEFAULTS, type TrainOptions } from '../cli/train';
import type { TestAccuracy, TrainProgress } from '../kernels/jobs/jobTypes';
import type { TrainingPoint, TrainingSrigl } from '../webview/protocol';
import type { CommandContext } from './commands';
import { chooseArrays, shown } from './fineTuneData';
import { runJob, type JobProgress } from './jobs';
import type { TrainingFeed } from './trainingFeed';
import { maskUpdateOf, packMasks } from './trainingMasks';

/**
 * How a fine-tune trains: every weight (dense), the model's zeros kept (fixed), pruned to 2:4
 * first (nm), or with SRigL's masks moving (srigl: "Fine-tune with SRigL…").
 */
export type FineTuneMethod = 'dense' | 'fixed' | 'nm' | 'srigl';

/** What a test (or a keybinding) may pass instead of answering the dialogs. */
export interface FineTuneArgs {
  readonly data?: vscode.Uri;
  /** Fine-tune…'s method. */
  readonly method?: Exclude<FineTuneMethod, 'srigl'>;
  /** Fine-tune with SRigL…'s global sparsity (0.9) and distribution. */
  readonly sparsity?: number;
  readonly distribution?: Distribution;
  readonly epochs?: number;
  /** Replace an existing output without asking. */
  readonly force?: boolean;
}

const NM_RECIPE: NmPattern = { n: 2, m: 4 };

const METHODS: readonly { label: string; method: Exclude<FineTuneMethod, 'srigl'>; description: string; detail: string }[] = [
  {
    label: 'Dense',
    method: 'dense',
    description: 'all weights train',
    detail: 'Every weight of the Gemm, MatMul and Conv layers may change, zeros too.',
  },
  {
    label: 'Keep zeros fixed',
    method: 'fixed',
    description: 'the model was pruned before',
    detail: 'Zero weights stay zero: the sparsity (2:4, constant fan-in, …) survives.',
  },
  {
    label: 'Prune to 2:4, then fine-tune',
    method: 'nm',
    description: 'NVIDIA ASP recipe',
    detail: 'Each group of 4 inputs keeps its 2 largest weights; those then train, the mask fixed.',
  },
];

/** The global sparsities offered first (SRigL's paper reports 80, 90, 95 and 99 %). */
const SRIGL_SPARSITIES = [0.8, 0.9, 0.95];

const DISTRIBUTION_CHOICES: Readonly<Record<Distribution, { label: string; description: string }>> = {
  erk: { label: 'ERK', description: 'Erdős–Rényi-Kernel: small layers denser (the paper’s CNN runs)' },
  uniform: { label: 'Uniform', description: 'every layer the same sparsity (the paper’s ViT runs)' },
  er: { label: 'ER', description: 'Erdős–Rényi: by rows and columns, kernel size left out' },
};

/** What the notification says while a run is prepared, where it is more than reading the files. */
const PREPARING: Partial<Record<FineTuneMethod, string>> = {
  nm: 'reading the data, pruning to 2:4',
  srigl: 'reading the model and the data, planning the masks',
};

/** The CLI's options in the core's messages, as the editor's dialogs name them. */
const CHOICE_OF_OPTION: readonly [string, string][] = [
  ['--method fixed', '“Keep zeros fixed”'],
  ['--method dense', '“Dense”'],
  ['--method srigl', '“SRigL”'],
  ['--nm', '“Prune to 2:4”'],
  ['--sparsity', 'the sparsity'],
  ['--epochs', 'the epochs'],
];

/** Models being fine-tuned, by URI: one run per model at a time. */
const running = new Set<string>();

const percentOf = (a: number | null | undefined) => (a === null || a === undefined ? '–' : `${(100 * a).toFixed(1)} %`);
const fraction = (a: TestAccuracy | undefined) => (a ? a.correct / a.total : null);

/** What the questions after the data decided: how to train, and what to call it. */
interface Recipe {
  readonly method: FineTuneMethod;
  /** The method as the Fine-tuning section shows it: "Dense", "SRigL 90 % (ERK)". */
  readonly label: string;
  /** The output is NAME.TAG.onnx beside the model. */
  readonly tag: string;
  /** The CLI's options the choice sets. */
  readonly options: Pick<TrainOptions, 'method' | 'nm' | 'sparsity' | 'distribution'>;
}

/** One command of the flow: what its dialogs are titled, and what it asks between the data and the epochs. */
interface FineTuneFlow {
  /** "Fine-tune digits.onnx", "Fine-tune digits.onnx with SRigL". */
  readonly title: (name: string) => string;
  readonly ask: (ctx: CommandContext, model: vscode.Uri, args: FineTuneArgs) => Promise<Recipe | undefined>;
}

const FINE_TUNE: FineTuneFlow = {
  title: (name) => `Fine-tune ${name}`,
  ask: async (ctx, model, args) => {
    const method = args.method ?? (await pickMethod(ctx, model))?.method;
    if (!method) return undefined;
    return {
      method,
      label: METHODS.find((m) => m.method === method)!.label,
      tag: 'finetuned',
      options: { method: method === 'dense' ? 'dense' : 'fixed', ...(method === 'nm' ? { nm: NM_RECIPE } : {}) },
    };
  },
};

const FINE_TUNE_SRIGL: FineTuneFlow = {
  title: (name) => `Fine-tune ${name} with SRigL`,
  ask: async (ctx, model, args) => {
    const name = path.basename(model.fsPath);
    const sparsity = args.sparsity ?? (await pickSparsity(name));
    if (sparsity === undefined) return undefined;
    const distribution = args.distribution ?? (await pickDistribution(ctx, model, sparsity));
    if (!distribution) return undefined;
    const percent = Number((100 * sparsity).toPrecision(12));
    return {
      method: 'srigl',
      label: `SRigL ${percent} % (${DISTRIBUTION_CHOICES[distribution].label})`,
      tag: `srigl${percent}`,
      options: { method: 'srigl', sparsity: String(sparsity), distribution },
    };
  },
};

/**
 * "Fine-tune…": data, arrays (when the file lacks the default keys), method and epochs asked for,
 * the run shown live in the model's checkpoint editor and in a cancellable notification (the
 * training runs in the kernels' job worker), the result written beside the model, verified, and
 * opened beside it with the comparison.
 */
export function fineTune(ctx: CommandContext, target: vscode.Uri | undefined, args: FineTuneArgs = {}): Promise<void> {
  return fineTuneWith(FINE_TUNE, ctx, target, args);
}

/**
 * "Fine-tune with SRigL…": as Fine-tune…, with the global sparsity and its distribution over the
 * layers asked for instead of the method (each distribution's plan previewed: every layer's k and
 * density), the masks moving during the run (drawn live in the Fine-tuning section), the result
 * NAME.srigl90.onnx.
 */
export function fineTuneSrigl(ctx: CommandContext, target: vscode.Uri | undefined, args: FineTuneArgs = {}): Promise<void> {
  return fineTuneWith(FINE_TUNE_SRIGL, ctx, target, args);
}

async function fineTuneWith(flow: FineTuneFlow, ctx: CommandContext, target: vscode.Uri | undefined, args: FineTuneArgs): Promise<void> {
  const model = target && /\.onnx$/i.test(target.fsPath) ? target : await pickModel(flow);
  if (!model) return;
  const name = path.basename(model.fsPath);
  if (running.has(model.toString())) {
    void vscode.window.showInformationMessage(`${name} is being fine-tuned already: cancel that run first.`);
    return;
  }
  const data =
    args.data ??
    (
      await vscode.window.showOpenDialog({
        title: `${flow.title(name)}: training data`,
        openLabel: 'Train on this',
        defaultUri: vscode.Uri.joinPath(model, '..'),
        canSelectMany: false,
        filters: { 'NumPy arrays': ['npz', 'npy'] },
      })
    )?.[0];
  if (!data) return;
  let arrays: Awaited<ReturnType<typeof chooseArrays>>;
  try {
    arrays = await chooseArrays(data, flow.title(name));
  } catch (e) {
    showFailure(ctx, e, name, [model, data]);
    return;
  }
  if (!arrays) return;
  let recipe: Recipe | undefined;
  try {
    recipe = await flow.ask(ctx, model, args);
  } catch (e) {
    showFailure(ctx, e, name, [model, data]);
    return;
  }
  if (!recipe) return;
  const epochs = args.epochs ?? (await askEpochs(arrays.trainSamples, recipe.method === 'srigl'));
  if (!epochs) return;
  const output = vscode.Uri.file(outputNameFor(model.fsPath, recipe.tag));
  let force = args.force ?? false;
  if (!force && (await exists(output.fsPath))) {
    const replace = await vscode.window.showWarningMessage(
      `${path.basename(output.fsPath)} already exists. Replace it with the fine-tuned model?`,
      { modal: true },
      'Replace',
    );
    if (replace !== 'Replace') return;
    force = true;
  }
  const options: TrainOptions = {
    ...arrays.options,
    data: data.fsPath,
    output: output.fsPath,
    force,
    ...recipe.options,
    epochs: String(epochs),
  };
  if (running.has(model.toString())) {
    void vscode.window.showInformationMessage(`${name} is being fine-tuned already: cancel that run first.`);
    return;
  }
  running.add(model.toString());
  try {
    await run(ctx, model, data, output, recipe, options, arrays.none);
  } finally {
    running.delete(model.toString());
  }
}

async function pickModel(flow: FineTuneFlow): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({
    title: flow === FINE_TUNE_SRIGL ? 'Fine-tune an ONNX model with SRigL' : 'Fine-tune an ONNX model',
    openLabel: 'Fine-tune',
    canSelectMany: false,
    filters: { 'ONNX models': ['onnx'] },
  });
  return picked?.[0];
}

async function pickMethod(ctx: CommandContext, model: vscode.Uri): Promise<(typeof METHODS)[number] | undefined> {
  // The zeros the model holds now, when its analysis is at hand: "Keep zeros fixed" needs some.
  const report = ctx.analyses.find(model)?.report;
  const weights = report?.layers.filter((l) => l.role !== 'other');
  const zeros = weights?.reduce((s, l) => s + (l.numel - l.nnz), 0);
  const total = weights?.reduce((s, l) => s + l.numel, 0);
  const items = METHODS.map((m) => ({
    ...m,
    description:
      m.method === 'fixed' && zeros !== undefined && total
        ? `${m.description}: its weights are ${((100 * zeros) / total).toFixed(1)} % zeros`
        : m.description,
  }));
  return vscode.window.showQuickPick(items, {
    title: `Fine-tune ${path.basename(model.fsPath)}: method`,
    placeHolder: 'Which weights train',
    matchOnDescription: true,
  });
}

/** SRigL's global sparsity: 0.8, 0.9, 0.95 or one typed. */
async function pickSparsity(name: string): Promise<number | undefined> {
  const other = { label: 'Other…', description: 'a decimal between 0 and 1', sparsity: undefined };
  const items = SRIGL_SPARSITIES.map((s) => ({
    label: String(s),
    description: `keeps ${Number((100 * (1 - s)).toPrecision(12))} % of the linear and conv weights`,
    sparsity: s as number | undefined,
  }));
  const picked = await vscode.window.showQuickPick([...items, other], {
    title: `Fine-tune ${name} with SRigL: global sparsity`,
    placeHolder: 'Share of the linear and conv weights that are zero while it trains',
  });
  if (!picked) return undefined;
  if (picked !== other) return picked.sparsity;
  const text = await vscode.window.showInputBox({
    title: `Fine-tune ${name} with SRigL: global sparsity`,
    prompt: 'A decimal between 0 and 1: 0.9 keeps 10 % of the weights',
    validateInput: (v) => (sparsityOf(v) === undefined ? 'A decimal between 0 and 1 (both left out), e.g. 0.9' : undefined),
  });
  return text === undefined ? undefined : sparsityOf(text);
}

function sparsityOf(text: string): number | undefined {
  try {
    const density = planRequestOf({ sparsity: text.trim(), distribution: 'erk' }).density;
    return density < 1 ? Number(text.trim()) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The distribution of the sparsity over the layers, each with the plan it gives previewed (the
 * plan the run uses: every linear and conv weight's k and density, from the model's analysis).
 */
async function pickDistribution(ctx: CommandContext, model: vscode.Uri, sparsity: number): Promise<Distribution | undefined> {
  const analysis = await ctx.analyses.get(model);
  const planOf = (distribution: Distribution) => planCheckpoint(analysis, planRequestOf({ sparsity: String(sparsity), distribution }));
  // ERK first (the paper's default), then uniform, then ER.
  const order: Distribution[] = ['erk', 'uniform', ...DISTRIBUTIONS.filter((d) => d !== 'erk' && d !== 'uniform')];
  const items = order.map((distribution) => ({
    label: DISTRIBUTION_CHOICES[distribution].label,
    description: DISTRIBUTION_CHOICES[distribution].description,
    detail: planPreview(planOf(distribution)),
    distribution,
  }));
  const picked = await vscode.window.showQuickPick(items, {
    title: `Fine-tune ${path.basename(model.fsPath)} with SRigL: sparsity ${sparsity} over the layers`,
    placeHolder: 'Distribution (each layer’s constant fan-in k and density shown)',
    matchOnDescription: true,
  });
  return picked?.distribution;
}

/** "fc1.weight k=7 (11.7 %) · fc3.weight dense": every layer of a plan, in one line (as Prune to Constant Fan-in… shows it). */
export function planPreview(plan: CheckpointPlan): string {
  if (plan.layers.length === 0) return 'No linear or conv weight to make sparse.';
  return plan.layers
    .map((l) => {
      const name = shown(l.displayName ?? l.name);
      if (l.dense) return `${name} dense`;
      if (l.k === null) return `${name} k=0: too sparse`;
      return `${name} k=${l.k} (${(100 * l.targetDensity).toFixed(1)} %)`;
    })
    .join(' · ');
}

async function askEpochs(trainSamples: number | undefined, srigl: boolean): Promise<number | undefined> {
  const perEpoch = trainSamples ? Math.ceil(trainSamples / TRAIN_DEFAULTS.batch) : undefined;
  const text = await vscode.window.showInputBox({
    title: 'Epochs',
    prompt:
      trainSamples && perEpoch
        ? `Passes over the ${formatCount(trainSamples)} training samples, in batches of ${TRAIN_DEFAULTS.batch}: ${perEpoch} steps each`
        : `Passes over the training samples, in batches of ${TRAIN_DEFAULTS.batch}`,
    value: String(TRAIN_DEFAULTS.epochs),
    validateInput: (v) => {
      const epochs = epochsOf(v);
      if (epochs === undefined) return 'A whole number of epochs, from 1 to 100,000';
      // SRigL: how often the masks move in a run of that length (this line takes the prompt's place: it says the steps too).
      if (!srigl || !perEpoch) return undefined;
      const steps = `${formatCount(epochs)} epoch${epochs === 1 ? '' : 's'} of ${formatCount(perEpoch)} steps`;
      return {
        message: `${steps}: ${sriglScheduleText(defaultSchedule(epochs * perEpoch))}`,
        severity: vscode.InputBoxValidationSeverity.Info,
      };
    },
  });
  return text === undefined ? undefined : epochsOf(text);
}

/** The schedule a run of `steps` steps gets with SRigL's defaults (as prepareFineTune decides it). */
export function defaultSchedule(steps: number): SriglSchedule {
  const tEnd = Math.floor(SRIGL_DEFAULTS.tEndFraction * steps);
  return {
    totalSteps: steps,
    deltaT: Math.max(1, Math.floor(tEnd / (DEFAULT_MASK_UPDATES + 1))),
    alpha: SRIGL_DEFAULTS.alpha,
    tEndFraction: SRIGL_DEFAULTS.tEndFraction,
  };
}

/** "35 mask updates, every 5 steps until step 180". */
export function sriglScheduleText(schedule: SriglSchedule): string {
  const updates = maskUpdateCount(schedule);
  if (updates === 0) return 'too short for a mask update (the masks stay as they start)';
  const every = schedule.deltaT === 1 ? 'after every step' : `every ${formatCount(schedule.deltaT)} steps`;
  return `${formatCount(updates)} mask update${updates === 1 ? '' : 's'}, ${every} until step ${formatCount(sriglTEnd(schedule))}`;
}

function epochsOf(text: string): number | undefined {
  if (!/^\s*\d+\s*$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 100_000 ? n : undefined;
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

// ---------------------------------------------------------------------------------------------
// The run.

interface Prepared {
  readonly prepared: PreparedFineTune;
  readonly outcome: RunOutcome;
  /** Written when the run went to the end; a cancelled run's weights wait for the user's word. */
  readonly result?: FineTuneResult;
}

async function run(
  ctx: CommandContext,
  model: vscode.Uri,
  data: vscode.Uri,
  output: vscode.Uri,
  recipe: Recipe,
  options: TrainOptions,
  none: readonly (keyof DataKeys)[],
): Promise<void> {
  const name = path.basename(model.fsPath);
  const relative = (uri: vscode.Uri) => vscode.workspace.asRelativePath(uri);
  const files = [model, data, output];
  let feed: TrainingFeed | undefined;
  try {
    const base = await fineTuneRequestOf(model.fsPath, options);
    const request = {
      ...base,
      keys: { ...base.keys, ...Object.fromEntries(none.map((role) => [role, ''])) },
      namedKeys: new Set([...base.namedKeys].filter((k) => !none.includes(k))),
      toolVersion: ctx.toolVersion,
      liveMasks: true,
    };
    // The model's editor shows the run (opened now if it is not open).
    feed = await ctx.editor.startTraining(model);
    const runId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const { method } = recipe;
    const job = await runJob<Prepared>({ title: `Fine-tuning ${name}`, output: ctx.output, notifyAfterMs: 0 }, async (signal, report) => {
      report({ message: PREPARING[method] ?? 'reading the model and the data', increment: 0 });
      const prepared = await prepareFineTune(request, ctx.analyses.kernels, signal);
      logPrepared(ctx, prepared);
      const { steps, batch } = prepared.spec;
      feed!.start({
        run: runId,
        data: relative(data),
        output: relative(output),
        method: recipe.label,
        steps,
        epochs: Math.ceil(steps / Math.ceil(prepared.data.train.count / batch)),
        batch,
        trainSamples: prepared.data.train.count,
        tested: !!prepared.data.test?.y,
        ...(prepared.srigl ? { srigl: sriglStarted(prepared) } : {}),
      });
      report({ message: `starting: ${formatCount(steps)} steps`, increment: 0 });
      const outcome = await runFineTune(prepared, ctx.analyses.kernels, {
        signal,
        onProgress: progressReporter(feed!, report, prepared),
      });
      if (outcome.status === 'cancelled') return { prepared, outcome };
      report({ message: 'writing and verifying', increment: 0 });
      return { prepared, outcome, result: await writeFineTuned(prepared, outcome, signal) };
    });
    let result = job.result;
    const { prepared, outcome } = job;
    const of = prepared.spec.steps;
    if (!result) {
      const step = outcome.state.step;
      feed.finish({
        status: 'cancelled',
        step,
        testAccuracy: lastAccuracy(outcome),
        output: null,
        message: `Stopped at step ${formatCount(step)} of ${formatCount(of)}.`,
      });
      const save = `Save the weights of step ${formatCount(step)}`;
      const answer =
        step > 0
          ? await vscode.window.showInformationMessage(
              `Fine-tuning ${name} stopped at step ${formatCount(step)} of ${formatCount(of)}.`,
              {
                modal: true,
                detail: `Save what it learned so far as ${path.basename(output.fsPath)}, or discard it (Cancel discards it too).${
                  lastAccuracy(outcome) !== null ? ` Test accuracy at its last epoch: ${percentOf(lastAccuracy(outcome))}.` : ''
                }`,
              },
              save,
              'Discard',
            )
          : undefined;
      if (answer !== save) {
        feed.finish({
          status: 'cancelled',
          step,
          testAccuracy: lastAccuracy(outcome),
          output: null,
          message: `Stopped at step ${formatCount(step)} of ${formatCount(of)}; its weights were discarded, nothing was written.`,
        });
        ctx.output.appendLine(`fine-tuning ${model.fsPath} stopped at step ${step} of ${of}; discarded`);
        return;
      }
      result = await runJob({ title: `Saving the fine-tuned ${name}`, output: ctx.output }, (signal) =>
        writeFineTuned(prepared, outcome, signal),
      );
    }
    const written = vscode.Uri.file(result.written[result.written.length - 1]);
    ctx.output.append(formatTrainResult(result));
    const before = result.initialTestAccuracy;
    const after = result.testAccuracy;
    const startedAt = method === 'nm' ? ' after pruning' : method === 'srigl' ? ' with the first masks' : '';
    const figures =
      after !== null
        ? `test accuracy ${percentOf(before)}${startedAt} → ${percentOf(after)}`
        : `train loss ${result.trainLoss?.toFixed(4) ?? '–'}`;
    // SRigL: how much the masks moved ("35 mask updates moved 1,234 weights").
    const moves = result.srigl ? movesText(result.srigl.updates) : '';
    feed.finish({
      status: result.status,
      step: result.steps,
      testAccuracy: after,
      output: relative(written),
      message:
        result.status === 'done'
          ? `Done: ${formatCount(result.steps)} steps in ${result.seconds.toFixed(1)} s (${formatCount(Math.round(result.stepsPerSecond))} steps/s)${moves ? `, ${moves}` : ''}; saved and verified ${path.basename(written.fsPath)}.`
          : `Stopped at step ${formatCount(result.steps)} of ${formatCount(of)}${moves ? ` (${moves})` : ''}; its weights were saved and verified as ${path.basename(written.fsPath)}.`,
    });
    await showResult(ctx, model, written, method);
    void vscode.window.showInformationMessage(
      `${result.status === 'done' ? 'Fine-tuned' : 'Saved the partly fine-tuned'} ${name}${method === 'srigl' ? ' with SRigL' : ''} → ${path.basename(written.fsPath)}: ${figures}${
        result.testCorrect !== null ? ` (${formatCount(result.testCorrect)}/${formatCount(result.testTotal ?? 0)})` : ''
      }${moves ? `; ${moves}` : ''}; verified.`,
    );
  } catch (e) {
    if (e instanceof vscode.CancellationError) {
      feed?.finish({ status: 'cancelled', step: 0, testAccuracy: null, output: null, message: 'Cancelled; nothing was written.' });
      return;
    }
    const message = showFailure(ctx, e, name, files);
    feed?.finish({ status: 'failed', step: 0, testAccuracy: null, output: null, message: `Failed: ${message}` });
  }
}

function lastAccuracy(outcome: RunOutcome): number | null {
  const history = outcome.state.history;
  return fraction(history[history.length - 1]?.testAccuracy ?? outcome.state.initialTestAccuracy);
}

/** What prepare decided, in the output channel (as the CLI prints it). */
function logPrepared(ctx: CommandContext, prepared: PreparedFineTune): void {
  const { request } = prepared;
  ctx.output.appendLine(`fine-tuning ${request.model} on ${request.data}`);
  for (const p of prepared.pruned)
    ctx.output.appendLine(
      `  pruned ${p.name} to ${request.nm!.n}:${request.nm!.m}: ${formatCount(p.before)} → ${formatCount(p.after)} non-zeros`,
    );
  for (const u of prepared.unpruned) ctx.output.appendLine(`  left dense ${u.name}: ${u.reason}`);
  if (prepared.srigl) {
    const { schedule, layers, dense } = prepared.srigl;
    for (const l of layers)
      ctx.output.appendLine(
        `  SRigL ${l.displayName ?? l.name}: sparsity ${l.sparsity.toFixed(3)}, k = ${l.k}${l.gammaSal === null ? ', never ablated' : ''}`,
      );
    for (const d of dense) ctx.output.appendLine(`  SRigL leaves dense ${d}: its planned sparsity is 0`);
    ctx.output.appendLine(`  SRigL over ${formatCount(schedule.totalSteps)} steps: ${sriglScheduleText(schedule)}`);
  }
  for (const f of prepared.built.frozen) ctx.output.appendLine(`  frozen ${f.name}: ${f.reason}`);
  if (prepared.distilled) ctx.output.appendLine(`  no labels: distilling the input model's outputs (T = ${request.temperature})`);
  if (!prepared.data.test) ctx.output.appendLine('  no test set: no test accuracy');
}

/** "35 mask updates moved 1,234 weights". */
function movesText(updates: NonNullable<FineTuneResult['srigl']>['updates']): string {
  const moved = updates.reduce((a, u) => a + u.moved, 0);
  return `${formatCount(updates.length)} mask update${updates.length === 1 ? '' : 's'} moved ${formatCount(moved)} weight${moved === 1 ? '' : 's'}`;
}

/** What the Fine-tuning section needs to draw a SRigL run: its layers, schedule and first masks. */
function sriglStarted(prepared: PreparedFineTune): TrainingSrigl {
  const srigl = prepared.srigl!;
  const settings = prepared.request.srigl!;
  return {
    sparsity: settings.sparsity,
    distribution: DISTRIBUTION_CHOICES[settings.distribution].label,
    schedule: srigl.schedule,
    updates: srigl.updates,
    layers: srigl.layers.map((l) => {
      const { rows, cols } = neuronGeometry(l.shape, l.layout);
      return { name: l.name, label: l.displayName ?? l.name, rows, cols, sparsity: l.sparsity, k: l.k, ablatable: l.gammaSal !== null };
    }),
    dense: srigl.dense.map((name) => prepared.checkpoint.tensors.find((t) => t.name === name)?.displayName ?? name),
    initialMasks: packMasks(srigl.layers, prepared.masks),
  };
}

/**
 * Each step to the editor's feed (which batches them; SRigL's masks packed); to the notification
 * a line at most every quarter second and at each epoch's end: "epoch 3/20, loss 0.123, test
 * 97.2 %" (SRigL: ", mask update 12/35").
 */
function progressReporter(feed: TrainingFeed, report: (p: JobProgress) => void, prepared: PreparedFineTune): (p: TrainProgress) => void {
  const started = performance.now();
  const layers = prepared.srigl?.layers ?? [];
  let shownAt = -Infinity;
  let reported = 0;
  let epochLoss: number | undefined;
  let test: number | null = null;
  let update: string | undefined;
  return (p) => {
    const now = performance.now();
    feed.progress(pointOf(p, layers), (now - started) / 1000);
    if (p.maskUpdate) update = `mask update ${p.maskUpdate.index}/${p.maskUpdate.of}`;
    if (p.initialTestAccuracy) test = fraction(p.initialTestAccuracy);
    if (p.epochEnd) {
      epochLoss = p.epochEnd.trainLoss;
      test = fraction(p.epochEnd.testAccuracy) ?? test;
    }
    if (!p.epochEnd && now - shownAt < 250) return;
    shownAt = now;
    const percent = (100 * p.step) / p.of;
    const loss = epochLoss ?? p.loss;
    report({
      message: `epoch ${p.epoch}/${p.epochs}, loss ${loss.toFixed(3)}${test !== null ? `, test ${(100 * test).toFixed(1)} %` : ''}${update ? `, ${update}` : ''}`,
      increment: percent - reported,
    });
    reported = percent;
  };
}

function pointOf(p: TrainProgress, layers: NonNullable<PreparedFineTune['srigl']>['layers']): TrainingPoint {
  return {
    step: p.step,
    epoch: p.epoch,
    loss: p.loss,
    lr: p.lr,
    ...(p.epochEnd
      ? { epochEnd: { epoch: p.epochEnd.epoch, trainLoss: p.epochEnd.trainLoss, testAccuracy: fraction(p.epochEnd.testAccuracy) } }
      : {}),
    ...(p.initialTestAccuracy ? { initialTestAccuracy: p.initialTestAccuracy.correct / p.initialTestAccuracy.total } : {}),
    ...(p.maskUpdate ? { maskUpdate: maskUpdateOf(p.maskUpdate, layers) } : {}),
  };
}

/** As after pruning: the source's editor compares it with the result, which opens beside it. */
async function showResult(ctx: CommandContext, model: vscode.Uri, written: vscode.Uri, method: FineTuneMethod): Promise<void> {
  // The result is checked for what the run made: 2:4, or SRigL's constant fan-in.
  if (method === 'nm') ctx.analyses.setTarget('nm', NM_RECIPE);
  if (method === 'srigl') ctx.analyses.setTarget('fan-in', ctx.analyses.target.nm);
  const roles = ctx.analyses.find(model)?.key.roles ?? ctx.analyses.currentSettings.layerRoles;
  const diff = await runJob(
    { title: `Sparsity Lens: comparing ${path.basename(model.fsPath)} with the fine-tuned model`, output: ctx.output },
    (signal) =>
      ctx.analyses.kernels.diffFiles(
        { a: { file: model.fsPath, roles }, b: { file: written.fsPath, roles }, renames: [], nm: ctx.analyses.target.nm },
        { signal },
      ),
  );
  await ctx.editor.compare(model, written, {
    ...diff,
    fileA: vscode.workspace.asRelativePath(model),
    fileB: vscode.workspace.asRelativePath(written),
  });
  await ctx.editor.show(written, vscode.ViewColumn.Beside);
}

/**
 * One readable line for a failure (never a stack): a checkpoint error's headline, else the
 * error's first line, with the files' full paths shortened to their names. Shown, logged with
 * the details, and returned.
 */
function showFailure(ctx: CommandContext, e: unknown, name: string, files: readonly vscode.Uri[]): string {
  ctx.output.appendLine(`[error] fine-tuning ${name}: ${(e as Error)?.stack ?? String(e)}`);
  let line = isCheckpointError(e)
    ? `${printable(path.basename(e.file))}: ${headline(e)}`
    : String((e as Error)?.message ?? e)
        .split('\n')[0]
        .trim();
  for (const f of files) line = line.split(f.fsPath).join(path.basename(f.fsPath));
  // The core's words are the CLI's: here the options are the choices the user made.
  for (const [option, choice] of CHOICE_OF_OPTION) line = line.split(option).join(choice);
  if (line.startsWith(`${name}: `)) line = line.slice(name.length + 2);
  const message = `Could not fine-tune ${name}: ${line}`;
  void vscode.window.showErrorMessage(message);
  return line;
}
