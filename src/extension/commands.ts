import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseNmPattern, type NmPattern } from '../core/nmPattern';
import { formatReport, type ExportFormat } from '../core/analysis/reportExport';
import { PlanError } from '../core/analysis/plan';
import { formatReportMarkdown } from '../core/analysis/reportText';
import { printable } from '../core/errors';
import { CHECKPOINT_EXTENSIONS } from '../core/formats/registry';
import type { Analyses } from './analyses';
import { CheckpointEditorProvider } from './checkpointEditor';
import { runJob, showError } from './jobs';
import { exportCondensed, pruneToFanIn, pruneToNm, type PruneArgs } from './pruneCommands';
import { fineTune, fineTuneSrigl, type FineTuneArgs } from './fineTuneCommand';

export interface CommandContext {
  readonly output: vscode.OutputChannel;
  readonly reports: ReportDocuments;
  readonly analyses: Analyses;
  readonly editor: CheckpointEditorProvider;
  /** The extension's version, written into the provenance of the files it writes. */
  readonly toolVersion: string;
}

/**
 * Read-only Markdown documents holding reports, so a preview needs no untitled editor that
 * would ask to be saved when closed.
 */
export class ReportDocuments implements vscode.TextDocumentContentProvider {
  static readonly scheme = 'sparsity-lens-report';
  private readonly contents = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  show(checkpoint: vscode.Uri, markdown: string): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: ReportDocuments.scheme, path: `${checkpoint.path}.report.md` });
    this.contents.set(uri.toString(), markdown);
    this.changed.fire(uri);
    return uri;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? '';
  }

  dispose(): void {
    this.changed.dispose();
  }
}

type Command = (ctx: CommandContext, ...args: unknown[]) => Promise<void>;

/** Every command the extension contributes, by id; package.json declares the same ids. */
const COMMANDS: Readonly<Record<string, Command>> = {
  'sparsityLens.showReport': showReport,
  'sparsityLens.exportReport': exportReport,
  'sparsityLens.showLayerHeatmap': showLayerHeatmap,
  'sparsityLens.checkNm': checkNm,
  'sparsityLens.compareWith': compareWith,
  'sparsityLens.openCheckpoint': openCheckpoint,
  'sparsityLens.openInEditor': openCheckpoint,
  'sparsityLens.pruneNm': async (ctx, arg, args) => {
    const uri = await requireWritable(ctx, arg);
    if (uri) await pruneToNm(ctx, uri, args as PruneArgs | undefined);
  },
  'sparsityLens.pruneFanIn': async (ctx, arg, args) => {
    const uri = await requireWritable(ctx, arg);
    if (uri) await pruneToFanIn(ctx, uri, args as PruneArgs | undefined);
  },
  'sparsityLens.exportCondensed': async (ctx, arg, args) => {
    const uri = await requireTarget(ctx, arg);
    if (uri) await exportCondensed(ctx, uri, args as PruneArgs | undefined);
  },
  // An ONNX model (else one is asked for); the command shows its own errors, in its words.
  'sparsityLens.fineTune': (ctx, arg, args) => fineTune(ctx, targetUri(ctx, arg), args as FineTuneArgs | undefined),
  'sparsityLens.fineTuneSrigl': (ctx, arg, args) => fineTuneSrigl(ctx, targetUri(ctx, arg), args as FineTuneArgs | undefined),
};

export function registerCommands(ctx: CommandContext): vscode.Disposable[] {
  return Object.entries(COMMANDS).map(([id, run]) =>
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        await run(ctx, ...args);
      } catch (e) {
        showError(ctx.output, e);
      }
    }),
  );
}

/** The checkpoint a command acts on: an explicit URI, the focused checkpoint editor, the active file. */
function targetUri(ctx: CommandContext, arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  if (ctx.editor.active) return ctx.editor.active;
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputText || input instanceof vscode.TabInputCustom) return input.uri;
  return vscode.window.activeTextEditor?.document.uri;
}

async function requireTarget(ctx: CommandContext, arg: unknown): Promise<vscode.Uri | undefined> {
  const uri = targetUri(ctx, arg);
  if (uri && CHECKPOINT_EXTENSIONS.includes(path.extname(uri.fsPath).toLowerCase())) return uri;
  return pickCheckpoint({ openLabel: 'Analyse' });
}

/** Formats pruning writes back: TF.js is read, not written. */
const WRITABLE_EXTENSIONS = CHECKPOINT_EXTENSIONS.filter((e) => e !== '.json');

async function requireWritable(ctx: CommandContext, arg: unknown): Promise<vscode.Uri | undefined> {
  const uri = targetUri(ctx, arg);
  if (uri && (WRITABLE_EXTENSIONS.includes(path.extname(uri.fsPath).toLowerCase()) || uri.fsPath.endsWith('.safetensors.index.json')))
    return uri;
  return pickCheckpoint({ openLabel: 'Prune' });
}

/** A checkpoint picked in the open dialog (checkpoint file types only), or undefined. */
async function pickCheckpoint(options: { openLabel: string; title?: string; defaultUri?: vscode.Uri }): Promise<vscode.Uri | undefined> {
  const picked = await vscode.window.showOpenDialog({
    ...options,
    canSelectMany: false,
    filters: { Checkpoints: CHECKPOINT_EXTENSIONS.map((e) => e.slice(1)) },
  });
  return picked?.[0];
}

/** Opens a checkpoint (the argument, or one picked in a dialog) in the checkpoint editor, whatever the file's default editor. */
async function openCheckpoint(ctx: CommandContext, arg?: unknown): Promise<void> {
  const uri = arg instanceof vscode.Uri ? arg : await pickCheckpoint({ openLabel: 'Open', title: 'Open a checkpoint in Sparsity Lens' });
  if (uri) await ctx.editor.show(uri);
}

async function previewReport(ctx: CommandContext, uri: vscode.Uri, markdown: string): Promise<void> {
  await vscode.commands.executeCommand('markdown.showPreview', ctx.reports.show(uri, markdown));
}

async function showReport(ctx: CommandContext, arg?: unknown): Promise<void> {
  const uri = await requireTarget(ctx, arg);
  if (!uri) return;
  const { report } = await ctx.analyses.get(uri);
  await previewReport(ctx, uri, formatReportMarkdown(report));
}

const EXPORT_FORMATS: readonly { label: string; format: ExportFormat; extension: string; description: string }[] = [
  { label: 'JSON', format: 'json', extension: 'json', description: 'the CLI’s --json schema, with the plan' },
  { label: 'CSV', format: 'csv', extension: 'csv', description: 'one row per tensor, with its planned density and k' },
  { label: 'Markdown', format: 'markdown', extension: 'md', description: 'summary, table and plan' },
];

/** Exports the report; args (for tests and keybindings): uri, format, destination uri. */
async function exportReport(ctx: CommandContext, arg?: unknown, formatArg?: unknown, destination?: unknown): Promise<void> {
  const uri = await requireTarget(ctx, arg);
  if (!uri) return;
  const choice =
    EXPORT_FORMATS.find((f) => f.format === formatArg) ??
    (await vscode.window.showQuickPick(EXPORT_FORMATS, { title: 'Export the sparsity report as', placeHolder: 'Format' }));
  if (!choice) return;
  const { report } = await ctx.analyses.get(uri);
  // The plan the editor shows (ERK at 0.9 until the user picks another); none where none can be made.
  const plan = await ctx.editor.planFor(uri).catch((e: unknown) => {
    if (e instanceof PlanError) return undefined;
    throw e;
  });
  const target =
    destination instanceof vscode.Uri
      ? destination
      : await vscode.window.showSaveDialog({
          defaultUri: uri.with({ path: `${uri.path}.sparsity.${choice.extension}` }),
          filters: { [choice.label]: [choice.extension] },
        });
  if (!target) return;
  await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(formatReport(report, choice.format, plan)));
  ctx.output.appendLine(`exported ${uri.fsPath} as ${choice.label} to ${target.fsPath}`);
  if (!(destination instanceof vscode.Uri)) {
    const open = await vscode.window.showInformationMessage(`Sparsity report saved to ${vscode.workspace.asRelativePath(target)}.`, 'Open');
    if (open) await vscode.window.showTextDocument(target);
  }
}

async function showLayerHeatmap(ctx: CommandContext, arg?: unknown, layerArg?: unknown): Promise<void> {
  const uri = await requireTarget(ctx, arg);
  if (!uri) return;
  let layer = typeof layerArg === 'string' ? layerArg : undefined;
  if (!layer) {
    const { report } = await ctx.analyses.get(uri);
    const weights = report.layers.filter((l) => l.role !== 'other');
    // Names come from the file: shown escaped, and `$(…)` kept from being read as an icon.
    const picked = await vscode.window.showQuickPick(
      weights.map((l) => ({
        label: printable(l.name).replace(/\$\(/g, '\\$('),
        description: `[${l.shape.join(', ')}] ${(l.sparsity * 100).toFixed(1)}% sparse`,
        name: l.name,
      })),
      { title: 'Show the heatmap of layer', placeHolder: 'Layer' },
    );
    layer = picked?.name;
  }
  if (layer) await ctx.editor.reveal(uri, layer);
}

const NM_CHOICES = ['2:4', '1:4', '4:8', '1:2', '2:8'];

/** Makes an N:M pattern picked from a list (or typed) the target, and shows the checkpoint's editor; args: uri, "N:M". */
async function checkNm(ctx: CommandContext, arg?: unknown, patternArg?: unknown): Promise<void> {
  const uri = await requireTarget(ctx, arg);
  if (!uri) return;
  let pattern: NmPattern | undefined;
  if (typeof patternArg === 'string') pattern = parseNmPattern(patternArg);
  else {
    const current = `${ctx.analyses.target.nm.n}:${ctx.analyses.target.nm.m}`;
    const items = [...new Set([current, ...NM_CHOICES])].map((label) => ({ label }));
    const other = { label: 'Other N:M…' };
    const picked = await vscode.window.showQuickPick([...items, other], { title: 'Check N:M compliance', placeHolder: 'Pattern' });
    if (!picked) return;
    const text =
      picked === other
        ? await vscode.window.showInputBox({
            title: 'N:M pattern',
            prompt: 'At most N non-zeros in every group of M consecutive inputs',
            value: current,
            validateInput: (v) => {
              try {
                parseNmPattern(v);
                return undefined;
              } catch (e) {
                return (e as Error).message;
              }
            },
          })
        : picked.label;
    if (!text) return;
    pattern = parseNmPattern(text);
  }
  // Every view checks the pattern from now on; the editor shows the answer.
  ctx.analyses.setTarget('nm', pattern);
  await ctx.editor.show(uri);
}

/**
 * Compares a checkpoint with a second one (args: A, B; B picked in a dialog when absent) and shows
 * the comparison in A's checkpoint editor.
 */
async function compareWith(ctx: CommandContext, arg?: unknown, otherArg?: unknown): Promise<void> {
  const a = await requireTarget(ctx, arg);
  if (!a) return;
  const b =
    otherArg instanceof vscode.Uri
      ? otherArg
      : await pickCheckpoint({
          openLabel: 'Compare',
          title: `Compare ${path.basename(a.fsPath)} with`,
          defaultUri: vscode.Uri.joinPath(a, '..'),
        });
  if (!b) return;
  const settings = ctx.analyses.currentSettings;
  const title = `Sparsity Lens: comparing ${path.basename(a.fsPath)} with ${path.basename(b.fsPath)}`;
  const diff = await runJob({ title, output: ctx.output }, (signal) =>
    ctx.analyses.kernels.diffFiles(
      {
        a: { file: a.fsPath, roles: settings.layerRoles },
        b: { file: b.fsPath, roles: settings.layerRoles },
        renames: [],
        nm: ctx.analyses.target.nm,
      },
      { signal },
    ),
  );
  await ctx.editor.compare(a, b, { ...diff, fileA: vscode.workspace.asRelativePath(a), fileB: vscode.workspace.asRelativePath(b) });
}
