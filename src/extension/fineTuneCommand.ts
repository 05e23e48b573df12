import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatCount, type TensorEntry } from '../core/checkpoint';
import { headline, isCheckpointError, printable } from '../core/errors';
import { openCheckpoint } from '../core/formats/registry';
import type { NmPattern } from '../core/nmPattern';
import { outputNameFor } from '../core/prune/pruneSelection';
import {
  prepareFineTune,
  runFineTune,
  writeFineTuned,
  type FineTuneResult,
  type PreparedFineTune,
  type RunOutcome,
} from '../core/train/fineTune';
import { DEFAULT_KEYS, type DataKeys } from '../core/train/trainingData';
import { fineTuneRequestOf, formatTrainResult, TRAIN_DEFAULTS, type TrainOptions } from '../cli/train';
import type { TestAccuracy, TrainProgress } from '../kernels/jobs/jobTypes';
import type { TrainingPoint } from '../webview/protocol';
import type { CommandContext } from './commands';
import { runJob, type JobProgress } from './jobs';
import type { TrainingFeed } from './trainingFeed';

export type FineTuneMethod = 'dense' | 'fixed' | 'nm';

/** What a test (or a keybinding) may pass instead of answering the dialogs. */
export interface FineTuneArgs {
  readonly data?: vscode.Uri;
  readonly method?: FineTuneMethod;
  readonly epochs?: number;
  /** Replace an existing output without asking. */
  readonly force?: boolean;
}

const NM_RECIPE: NmPattern = { n: 2, m: 4 };

const METHODS: readonly { label: string; method: FineTuneMethod; short: string; description: string; detail: string }[] = [
  {
    label: 'Dense',
    method: 'dense',
    short: 'Dense',
    description: 'all weights train',
    detail: 'Every weight of the Gemm, MatMul and Conv layers may change, zeros too.',
  },
  {
    label: 'Keep zeros fixed',
    method: 'fixed',
    short: 'Keep zeros fixed',
    description: 'the model was pruned before',
    detail: 'Zero weights stay zero: the sparsity (2:4, constant fan-in, …) survives.',
  },
  {
    label: 'Prune to 2:4, then fine-tune',
    method: 'nm',
    short: 'Prune to 2:4, then fine-tune',
    description: 'NVIDIA ASP recipe',
    detail: 'Each group of 4 inputs keeps its 2 largest weights; those then train, the mask fixed.',
  },
];

/** The CLI's options in the core's messages, as the editor's dialogs name them. */
const CHOICE_OF_OPTION: readonly [string, string][] = [
  ['--method fixed', '“Keep zeros fixed”'],
  ['--method dense', '“Dense”'],
  ['--nm', '“Prune to 2:4”'],
  ['--epochs', 'the epochs'],
];

/** Models being fine-tuned, by URI: one run per model at a time. */
const running = new Set<string>();

/** Names from files are shown escaped, and `$(…)` is kept from being read as an icon. */
const shown = (name: string) => printable(name).replace(/\$\(/g, '\\$(');

const percentOf = (a: number | null | undefined) => (a === null || a === undefined ? '–' : `${(100 * a).toFixed(1)} %`);
const fraction = (a: TestAccuracy | undefined) => (a ? a.correct / a.total : null);

/**
 * "Fine-tune…": data, arrays (when the file lacks the default keys), method and epochs asked for,
 * the run shown live in the model's checkpoint editor and in a cancellable notification (the
 * training runs in the kernels' job worker), the result written beside the model, verified, and
 * opened beside it with the comparison.
 */
export async function fineTune(ctx: CommandContext, target: vscode.Uri | undefined, args: FineTuneArgs = {}): Promise<void> {
  const model = target && /\.onnx$/i.test(target.fsPath) ? target : await pickModel();
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
        title: `Fine-tune ${name}: training data`,
        openLabel: 'Train on this',
        defaultUri: vscode.Uri.joinPath(model, '..'),
        canSelectMany: false,
        filters: { 'NumPy arrays': ['npz', 'npy'] },
      })
    )?.[0];
  if (!data) return;
  let arrays: ChosenArrays | undefined;
  try {
    arrays = await chooseArrays(data, name);
  } catch (e) {
    showFailure(ctx, e, name, [model, data]);
    return;
  }
  if (!arrays) return;
  const method = args.method ?? (await pickMethod(ctx, model))?.method;
  if (!method) return;
  const epochs = args.epochs ?? (await askEpochs(arrays.trainSamples));
  if (!epochs) return;
  const output = vscode.Uri.file(outputNameFor(model.fsPath, 'finetuned'));
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
    method: method === 'dense' ? 'dense' : 'fixed',
    ...(method === 'nm' ? { nm: NM_RECIPE } : {}),
    epochs: String(epochs),
  };
  if (running.has(model.toString())) {
    void vscode.window.showInformationMessage(`${name} is being fine-tuned already: cancel that run first.`);
    return;
  }
  running.add(model.toString());
  try {
    await run(ctx, model, data, output, method, options, arrays.none);
  } finally {
    running.delete(model.toString());
  }
}

async function pickModel(): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({
    title: 'Fine-tune an ONNX model',
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

async function askEpochs(trainSamples: number | undefined): Promise<number | undefined> {
  const perEpoch = trainSamples ? Math.ceil(trainSamples / TRAIN_DEFAULTS.batch) : undefined;
  const text = await vscode.window.showInputBox({
    title: 'Epochs',
    prompt:
      trainSamples && perEpoch
        ? `Passes over the ${formatCount(trainSamples)} training samples, in batches of ${TRAIN_DEFAULTS.batch}: ${perEpoch} steps each`
        : `Passes over the training samples, in batches of ${TRAIN_DEFAULTS.batch}`,
    value: String(TRAIN_DEFAULTS.epochs),
    validateInput: (v) => (epochsOf(v) === undefined ? 'A whole number of epochs, from 1 to 100,000' : undefined),
  });
  return text === undefined ? undefined : epochsOf(text);
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
// Which arrays of the data file are what.

interface ChosenArrays {
  /** The CLI's --x / --y / --test-x / --test-y for the arrays picked (the defaults otherwise). */
  readonly options: Pick<TrainOptions, 'x' | 'y' | 'test-x' | 'test-y'>;
  /** Roles chosen to be left out: no labels (distil), no test set. */
  readonly none: readonly (keyof DataKeys)[];
  readonly trainSamples: number | undefined;
}

interface ArrayInfo {
  /** The key (.npz) or the file name beside the data (.npy). */
  readonly key: string;
  readonly shape: readonly number[];
  readonly dtype: string;
}

const isInteger = (a: ArrayInfo) => /^u?int/.test(a.dtype);
const describeArray = (a: ArrayInfo) => `[${a.shape.join(', ')}] ${a.dtype}`;

/**
 * The arrays of the data, by role. A file with every default key (x_train, y_train, x_test,
 * y_test) is taken as it is; otherwise each missing role is picked among the arrays that fit it
 * (labels: integer, one per sample), or left out. With .npy data the file is the inputs and the
 * others are .npy files beside it. Undefined when the user cancels.
 */
async function chooseArrays(data: vscode.Uri, modelName: string): Promise<ChosenArrays | undefined> {
  const npy = /\.npy$/i.test(data.fsPath);
  const arrays = npy ? await npyFilesBeside(data) : await npzArrays(data);
  const byKey = new Map(arrays.map((a) => [a.key, a]));
  const dataName = path.basename(data.fsPath);
  const title = (what: string) => `Fine-tune ${modelName}: ${what} in ${dataName}`;
  const has = (role: keyof DataKeys) => !npy && byKey.has(DEFAULT_KEYS[role]);
  if (!npy && (['x', 'y', 'testX', 'testY'] as const).every(has))
    return { options: {}, none: [], trainSamples: byKey.get(DEFAULT_KEYS.x)!.shape[0] };

  const options: { -readonly [K in keyof ChosenArrays['options']]: string } = {};
  const none: (keyof DataKeys)[] = [];
  // Training inputs: the data file itself (.npy), the default key, or one picked.
  let x: ArrayInfo | undefined = npy ? byKey.get(path.basename(data.fsPath)) : byKey.get(DEFAULT_KEYS.x);
  if (!x) {
    const candidates = arrays.filter((a) => a.shape.length >= 2 && !isInteger(a));
    x =
      (await pickArray(candidates.length ? candidates : arrays, title('the training inputs'), 'Training inputs: one sample per row')) ??
      undefined;
    if (!x) return undefined;
    options.x = x.key;
  }
  const count = x.shape[0];
  const sampleShape = x.shape.slice(1).join();
  const labelsFor = (n: number, not: readonly ArrayInfo[]) =>
    arrays.filter((a) => !not.includes(a) && isInteger(a) && a.shape.length === 1 && a.shape[0] === n);

  const pickRole = async (
    role: keyof DataKeys,
    candidates: ArrayInfo[],
    what: string,
    placeHolder: string,
    noneLabel: string,
  ): Promise<ArrayInfo | null | undefined> => {
    if (has(role)) return byKey.get(DEFAULT_KEYS[role]);
    if (candidates.length === 0) {
      none.push(role);
      return null;
    }
    const picked = await pickArray(candidates, title(what), placeHolder, noneLabel);
    if (picked === undefined) return undefined;
    if (picked === null) none.push(role);
    else options[role === 'y' ? 'y' : role === 'testX' ? 'test-x' : 'test-y'] = picked.key;
    return picked;
  };

  const y = await pickRole(
    'y',
    labelsFor(count, [x]),
    'the training labels',
    `Integer classes, ${formatCount(count)} of them`,
    'None — distil the model’s own outputs',
  );
  if (y === undefined) return undefined;
  const testX = await pickRole(
    'testX',
    arrays.filter((a) => a !== x && a !== y && !isInteger(a) && a.shape.slice(1).join() === sampleShape),
    'the test inputs',
    'Test inputs: measured after each epoch',
    'None — no test accuracy',
  );
  if (testX === undefined) return undefined;
  if (testX === null) none.push('testY');
  else {
    const testY = await pickRole(
      'testY',
      labelsFor(testX.shape[0], [x, testX, ...(y ? [y] : [])]),
      'the test labels',
      `Integer classes, ${formatCount(testX.shape[0])} of them`,
      'None — no test accuracy',
    );
    if (testY === undefined) return undefined;
  }
  return { options, none, trainSamples: count };
}

/** One array picked (null: the "none" item), undefined when the pick is cancelled. */
async function pickArray(
  arrays: readonly ArrayInfo[],
  title: string,
  placeHolder: string,
  noneLabel?: string,
): Promise<ArrayInfo | null | undefined> {
  const items: (vscode.QuickPickItem & { array: ArrayInfo | null })[] = arrays.map((a) => ({
    label: shown(a.key),
    description: describeArray(a),
    array: a,
  }));
  if (noneLabel) items.push({ label: noneLabel, array: null });
  const picked = await vscode.window.showQuickPick(items, { title, placeHolder, matchOnDescription: true });
  return picked ? picked.array : undefined;
}

async function npzArrays(data: vscode.Uri): Promise<ArrayInfo[]> {
  const checkpoint = await openCheckpoint(data.fsPath);
  try {
    return checkpoint.tensors.map((t: TensorEntry) => ({ key: t.name, shape: t.shape, dtype: t.dtype }));
  } finally {
    await checkpoint.release?.();
  }
}

/** The .npy files beside the data (the data first), their shapes read from their headers. */
async function npyFilesBeside(data: vscode.Uri): Promise<ArrayInfo[]> {
  const folder = path.dirname(data.fsPath);
  const names = (await fs.readdir(folder)).filter((n) => /\.npy$/i.test(n)).sort();
  const dataName = path.basename(data.fsPath);
  const ordered = [dataName, ...names.filter((n) => n !== dataName)].slice(0, 200);
  const out: ArrayInfo[] = [];
  for (const name of ordered) {
    const checkpoint = await openCheckpoint(path.join(folder, name)).catch((e: unknown) => {
      if (name === dataName) throw e;
      return undefined; // another .npy beside it that cannot be read is simply not offered
    });
    if (!checkpoint) continue;
    try {
      const t = checkpoint.tensors[0];
      if (t) out.push({ key: name, shape: t.shape, dtype: t.dtype });
    } finally {
      await checkpoint.release?.();
    }
  }
  return out;
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
  method: FineTuneMethod,
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
    };
    // The model's editor shows the run (opened now if it is not open).
    feed = await ctx.editor.startTraining(model);
    const runId = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const methodLabel = METHODS.find((m) => m.method === method)!.short;
    const job = await runJob<Prepared>({ title: `Fine-tuning ${name}`, output: ctx.output, notifyAfterMs: 0 }, async (signal, report) => {
      report({ message: method === 'nm' ? 'reading the data, pruning to 2:4' : 'reading the model and the data', increment: 0 });
      const prepared = await prepareFineTune(request, ctx.analyses.kernels, signal);
      logPrepared(ctx, prepared);
      const { steps, batch } = prepared.spec;
      feed!.start({
        run: runId,
        data: relative(data),
        output: relative(output),
        method: methodLabel,
        steps,
        epochs: Math.ceil(steps / Math.ceil(prepared.data.train.count / batch)),
        batch,
        trainSamples: prepared.data.train.count,
        tested: !!prepared.data.test?.y,
      });
      report({ message: `starting: ${formatCount(steps)} steps`, increment: 0 });
      const outcome = await runFineTune(prepared, ctx.analyses.kernels, {
        signal,
        onProgress: progressReporter(feed!, report),
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
    const figures =
      after !== null
        ? `test accuracy ${percentOf(before)}${method === 'nm' ? ' after pruning' : ''} → ${percentOf(after)}`
        : `train loss ${result.trainLoss?.toFixed(4) ?? '–'}`;
    feed.finish({
      status: result.status,
      step: result.steps,
      testAccuracy: after,
      output: relative(written),
      message:
        result.status === 'done'
          ? `Done: ${formatCount(result.steps)} steps in ${result.seconds.toFixed(1)} s (${formatCount(Math.round(result.stepsPerSecond))} steps/s); saved and verified ${path.basename(written.fsPath)}.`
          : `Stopped at step ${formatCount(result.steps)} of ${formatCount(of)}; its weights were saved and verified as ${path.basename(written.fsPath)}.`,
    });
    await showResult(ctx, model, written, method);
    void vscode.window.showInformationMessage(
      `${result.status === 'done' ? 'Fine-tuned' : 'Saved the partly fine-tuned'} ${name} → ${path.basename(written.fsPath)}: ${figures}${
        result.testCorrect !== null ? ` (${formatCount(result.testCorrect)}/${formatCount(result.testTotal ?? 0)})` : ''
      }; verified.`,
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
  for (const f of prepared.built.frozen) ctx.output.appendLine(`  frozen ${f.name}: ${f.reason}`);
  if (prepared.distilled) ctx.output.appendLine(`  no labels: distilling the input model's outputs (T = ${request.temperature})`);
  if (!prepared.data.test) ctx.output.appendLine('  no test set: no test accuracy');
}

/**
 * Each step to the editor's feed (which batches them); to the notification a line at most every
 * quarter second and at each epoch's end: "epoch 3/20, loss 0.123, test 97.2 %".
 */
function progressReporter(feed: TrainingFeed, report: (p: JobProgress) => void): (p: TrainProgress) => void {
  const started = performance.now();
  let shownAt = -Infinity;
  let reported = 0;
  let epochLoss: number | undefined;
  let test: number | null = null;
  return (p) => {
    const now = performance.now();
    feed.progress(pointOf(p), (now - started) / 1000);
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
      message: `epoch ${p.epoch}/${p.epochs}, loss ${loss.toFixed(3)}${test !== null ? `, test ${(100 * test).toFixed(1)} %` : ''}`,
      increment: percent - reported,
    });
    reported = percent;
  };
}

function pointOf(p: TrainProgress): TrainingPoint {
  return {
    step: p.step,
    epoch: p.epoch,
    loss: p.loss,
    lr: p.lr,
    ...(p.epochEnd
      ? { epochEnd: { epoch: p.epochEnd.epoch, trainLoss: p.epochEnd.trainLoss, testAccuracy: fraction(p.epochEnd.testAccuracy) } }
      : {}),
    ...(p.initialTestAccuracy ? { initialTestAccuracy: p.initialTestAccuracy.correct / p.initialTestAccuracy.total } : {}),
  };
}

/** As after pruning: the source's editor compares it with the result, which opens beside it. */
async function showResult(ctx: CommandContext, model: vscode.Uri, written: vscode.Uri, method: FineTuneMethod): Promise<void> {
  if (method === 'nm') ctx.analyses.setTarget('nm', NM_RECIPE);
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
