import * as path from 'node:path';
import * as vscode from 'vscode';
import { planCheckpoint, planRequestOf } from '../core/analysis/checkpointPlan';
import { DISTRIBUTIONS, type Distribution } from '../core/analysis/plan';
import type { TargetKind } from '../core/analysis/target';
import { formatBytes, formatCount } from '../core/checkpoint';
import { printable } from '../core/errors';
import { parseNmPattern, type NmPattern } from '../core/nmPattern';
import type { PruneResult } from '../core/prune/pruneCheckpoint';
import {
  outputNameFor,
  outputTag,
  pruneMethod,
  PruneError,
  selectFanIn,
  selectNm,
  skippedText,
  type PruneSelection,
} from '../core/prune/pruneSelection';
import type { Analysis } from './analyses';
import type { CommandContext } from './commands';
import { runJob, type JobProgress } from './jobs';

/** What a test (or a keybinding) may pass instead of answering the quick picks and the save dialog. */
export interface PruneArgs {
  /** "2:4", or for constant fan-in the sparsity as a decimal ("0.9"). */
  readonly pattern?: string;
  readonly transposable?: boolean;
  readonly distribution?: Distribution;
  /** Names of the layers to prune (default: every one that can take the rule). */
  readonly layers?: readonly string[];
  readonly destination?: vscode.Uri;
  readonly force?: boolean;
}

const NM_CHOICES: readonly { label: string; description: string; nm: NmPattern; transposable: boolean }[] = [
  { label: '2:4', description: 'NVIDIA sparse tensor cores (ASP m4n2_1d)', nm: { n: 2, m: 4 }, transposable: false },
  {
    label: '2:4 transposable',
    description: 'the transposed weight (the backward pass) is 2:4 too (ASP m4n2_2d)',
    nm: { n: 2, m: 4 },
    transposable: true,
  },
  { label: '1:4', description: '', nm: { n: 1, m: 4 }, transposable: false },
  { label: '4:8', description: '', nm: { n: 4, m: 8 }, transposable: false },
  { label: '2:8', description: '', nm: { n: 2, m: 8 }, transposable: false },
];

const SPARSITIES = ['0.5', '0.8', '0.9', '0.95', '0.98', '0.99'];

/** Names from a file are shown escaped, and `$(…)` is kept from being read as an icon. */
const shown = (name: string) => printable(name).replace(/\$\(/g, '\\$(');

/** "Prune to N:M…": pattern, layers and destination asked for, the pruned file opened beside the source with the comparison. */
export async function pruneToNm(ctx: CommandContext, uri: vscode.Uri, args: PruneArgs = {}): Promise<void> {
  let choice = args.pattern ? { nm: parseNmPattern(args.pattern), transposable: args.transposable ?? false } : undefined;
  if (!choice) {
    choice = await vscode.window.showQuickPick(NM_CHOICES, { title: `Prune ${path.basename(uri.fsPath)} to`, placeHolder: 'N:M pattern' });
    if (!choice) return;
  }
  const { nm, transposable } = choice;
  const analysis = await ctx.analyses.get(uri);
  const selection = selectNm(analysis, nm, transposable, { include: [], exclude: [] });
  await pruneAndShow(ctx, uri, analysis, selection, args, {
    method: pruneMethod(nm, transposable),
    tag: outputTag(nm, transposable),
    target: 'nm',
    nm,
  });
}

/** "Prune to Constant Fan-in…": sparsity and distribution picked with each layer's k previewed, then as for N:M. */
export async function pruneToFanIn(ctx: CommandContext, uri: vscode.Uri, args: PruneArgs = {}): Promise<void> {
  const analysis = await ctx.analyses.get(uri);
  const sparsity = args.pattern ?? (await pickSparsity(uri));
  if (!sparsity) return;
  const planOf = (distribution: Distribution) => planCheckpoint(analysis, planRequestOf({ sparsity, distribution }));
  const distribution = args.distribution ?? (await pickDistribution(sparsity, planOf));
  if (!distribution) return;
  const plan = planOf(distribution);
  const selection = selectFanIn(analysis, plan, { include: [], exclude: [] });
  await pruneAndShow(ctx, uri, analysis, selection, args, {
    method: pruneMethod(plan),
    tag: outputTag(plan),
    target: 'fan-in',
    nm: ctx.analyses.target.nm,
  });
}

async function pickSparsity(uri: vscode.Uri): Promise<string | undefined> {
  const other = { label: 'Other…' };
  const picked = await vscode.window.showQuickPick([...SPARSITIES.map((label) => ({ label })), other], {
    title: `Prune ${path.basename(uri.fsPath)} to constant fan-in: global sparsity`,
    placeHolder: 'Share of the linear and conv weights to remove',
  });
  if (picked !== other) return picked?.label;
  return vscode.window.showInputBox({
    title: 'Global sparsity',
    prompt: 'A decimal in [0, 1), e.g. 0.9 keeps 10 % of the weights',
    validateInput: (v) => {
      try {
        planRequestOf({ sparsity: v, distribution: 'erk' });
        return undefined;
      } catch (e) {
        return (e as Error).message.replace(/^--sparsity/, 'The sparsity');
      }
    },
  });
}

/** Each distribution with the plan it gives previewed: per-layer k and density. */
async function pickDistribution(
  sparsity: string,
  planOf: (d: Distribution) => ReturnType<typeof planCheckpoint>,
): Promise<Distribution | undefined> {
  const labels: Record<Distribution, string> = { erk: 'ERK', er: 'ER', uniform: 'Uniform' };
  const items = DISTRIBUTIONS.map((distribution) => {
    const plan = planOf(distribution);
    const layers = plan.layers.map((l) =>
      l.dense
        ? `${shown(l.displayName ?? l.name)} dense`
        : `${shown(l.displayName ?? l.name)} k=${l.k ?? '–'} (${(100 * l.targetDensity).toFixed(1)} %)`,
    );
    return { label: labels[distribution], description: `sparsity ${sparsity}`, detail: layers.join(' · '), distribution };
  });
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Density per layer',
    placeHolder: 'Distribution (each layer’s k shown)',
  });
  return picked?.distribution;
}

/** A layer's shape and, for constant fan-in, its k against its dense fan-in: "256 × 64 · k = 7 of 64". */
function describeLayer(analysis: Analysis, l: PruneSelection['layers'][number]): string {
  const report = analysis.report.layers.find((r) => r.name === l.name);
  const shape = report ? report.shape.join(' × ') : '';
  const dense = analysis.neurons.get(l.name)?.geometry.cols;
  return l.rule.kind === 'fanIn' ? `${shape} · k = ${l.rule.k} of ${dense}` : shape;
}

/** Layers picked among those the rule can take (all by default); the others are listed as skipped. */
async function pickLayers(analysis: Analysis, selection: PruneSelection, args: PruneArgs): Promise<PruneSelection | undefined> {
  const names = (l: { name: string }) => analysis.report.layers.find((r) => r.name === l.name)?.displayName ?? l.name;
  let chosen = args.layers ? selection.layers.filter((l) => args.layers!.includes(l.name)) : undefined;
  if (!chosen) {
    const picked = await vscode.window.showQuickPick(
      selection.layers.map((l) => ({
        label: shown(names(l)),
        description: describeLayer(analysis, l),
        picked: true,
        layer: l,
      })),
      {
        title: 'Layers to prune',
        placeHolder: selection.skipped.length ? `${selection.skipped.length} other layers cannot take it: listed in the summary` : 'Layers',
        canPickMany: true,
      },
    );
    if (!picked) return undefined;
    chosen = picked.map((p) => p.layer);
  }
  const left = selection.layers.filter((l) => !chosen!.includes(l)).map((l) => ({ name: l.name, reason: 'not selected' }));
  return { layers: chosen, skipped: [...selection.skipped, ...left] };
}

async function pruneAndShow(
  ctx: CommandContext,
  uri: vscode.Uri,
  analysis: Analysis,
  all: PruneSelection,
  args: PruneArgs,
  how: { method: string; tag: string; target: TargetKind; nm: NmPattern },
): Promise<void> {
  if (all.layers.length === 0) throw new PruneError(`no layer of ${path.basename(uri.fsPath)} can take it: ${skippedText(all.skipped)}`);
  const selection = await pickLayers(analysis, all, args);
  if (!selection || selection.layers.length === 0) return;
  const destination =
    args.destination ??
    (await vscode.window.showSaveDialog({
      title: `Save the pruned ${path.basename(uri.fsPath)} as`,
      defaultUri: vscode.Uri.file(outputNameFor(uri.fsPath, how.tag)),
    }));
  if (!destination) return;
  const title = `Sparsity Lens: pruning ${vscode.workspace.asRelativePath(uri)}`;
  const result = await runJob({ title, output: ctx.output }, (signal, report) =>
    ctx.analyses.kernels.pruneFile(
      {
        file: uri.fsPath,
        roles: analysis.key.roles,
        output: destination.fsPath,
        // The save dialog asked before replacing a file.
        force: args.destination ? (args.force ?? false) : true,
        layers: selection.layers,
        skipped: selection.skipped,
        method: how.method,
        toolVersion: ctx.toolVersion,
      },
      { signal, onProgress: progressOf(report, { masks: 'computing masks', writing: 'writing', verifying: 'verifying' }) },
    ),
  );
  logResult(ctx, result);
  const written = vscode.Uri.file(result.written[result.written.length - 1]);
  // Every view now answers for the structure just made; the source's editor shows what changed,
  // and the pruned checkpoint opens beside it.
  ctx.analyses.setTarget(how.target, how.nm);
  const diff = await ctx.analyses.kernels.diffFiles({
    a: { file: uri.fsPath, roles: analysis.key.roles },
    b: { file: written.fsPath, roles: analysis.key.roles },
    renames: [],
    nm: how.nm,
  });
  await ctx.editor.compare(uri, written, {
    ...diff,
    fileA: vscode.workspace.asRelativePath(uri),
    fileB: vscode.workspace.asRelativePath(written),
  });
  await ctx.editor.show(written, vscode.ViewColumn.Beside);
  const skipped = result.skipped.length ? `; ${result.skipped.length} left as they were (see the output)` : '';
  void vscode.window.showInformationMessage(
    `Pruned ${result.layers.length} layers of ${path.basename(uri.fsPath)}: ${formatCount(result.removed)} weights removed, every pruned layer verified ${result.layers[0]?.rule.startsWith('constant') ? 'constant fan-in' : '100 % compliant'}${skipped}.`,
  );
}

/** Where each phase of a write starts, in percent of the job: the first (masks, scanning) fills the first half layer by layer. */
const PHASE_STARTS = [0, 50, 80];

/** A write's progress (phases named by `words`, in order) as the job's notification shows it. */
function progressOf<Phase extends string>(
  report: (p: JobProgress) => void,
  words: Readonly<Record<Phase, string>>,
): (p: { readonly phase: Phase; readonly done: number; readonly total: number; readonly name?: string }) => void {
  const phases = Object.keys(words);
  let reported = 0;
  return (p) => {
    const i = phases.indexOf(p.phase);
    const at = PHASE_STARTS[i] + (i === 0 ? (50 * p.done) / Math.max(1, p.total) : 0);
    report({ message: p.name ? `${words[p.phase]}: ${p.name}` : words[p.phase], increment: at - reported });
    reported = at;
  };
}

function logResult(ctx: CommandContext, result: PruneResult): void {
  ctx.output.appendLine(`pruned ${result.input} (${result.method}) → ${result.written.join(', ')}`);
  for (const l of result.layers) ctx.output.appendLine(`  ${l.name}: ${l.rule}, non-zeros ${l.nnzBefore} → ${l.nnzAfter}`);
  for (const s of result.skipped) ctx.output.appendLine(`  skipped ${s.name}: ${s.reason}`);
}

/** "Export Condensed…": the constant fan-in layers as values / indices / active rows in a safetensors file, opened beside the source. */
export async function exportCondensed(ctx: CommandContext, uri: vscode.Uri, args: PruneArgs = {}): Promise<void> {
  const destination =
    args.destination ??
    (await vscode.window.showSaveDialog({
      title: `Save ${path.basename(uri.fsPath)} condensed as`,
      defaultUri: vscode.Uri.file(outputNameFor(uri.fsPath, 'condensed', '.safetensors')),
      filters: { Safetensors: ['safetensors'] },
    }));
  if (!destination) return;
  const title = `Sparsity Lens: condensing ${vscode.workspace.asRelativePath(uri)}`;
  const result = await runJob({ title, output: ctx.output }, (signal, report) =>
    ctx.analyses.kernels.condenseFile(
      {
        file: uri.fsPath,
        roles: ctx.analyses.currentSettings.layerRoles,
        output: destination.fsPath,
        force: args.destination ? (args.force ?? false) : true,
        toolVersion: ctx.toolVersion,
      },
      { signal, onProgress: progressOf(report, { scanning: 'finding constant fan-in', writing: 'writing', verifying: 'verifying' }) },
    ),
  );
  ctx.output.appendLine(`condensed ${result.input} → ${result.written.join(', ')}`);
  for (const l of result.layers) ctx.output.appendLine(`  ${l.name}: k = ${l.k} of ${l.denseFanIn}, ${l.activeRows} active rows`);
  for (const s of result.skipped) ctx.output.appendLine(`  left dense ${s.name}: ${s.reason}`);
  await ctx.editor.show(vscode.Uri.file(result.written[result.written.length - 1]), vscode.ViewColumn.Beside);
  const [dense, condensed] = result.layers.reduce(([d, c], l) => [d + l.denseBytes, c + l.condensedBytes], [0, 0]);
  void vscode.window.showInformationMessage(
    `Condensed ${result.layers.length} layers of ${path.basename(uri.fsPath)}: their weights take ${formatBytes(condensed)} instead of ${formatBytes(dense)}; verified.`,
  );
}
