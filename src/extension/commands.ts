import * as vscode from 'vscode';
import { buildReport, type SparsityReport } from '../core/analysis/report';
import { formatReportMarkdown } from '../core/analysis/reportText';
import { isCheckpointError } from '../core/errors';
import { openCheckpoint } from '../core/formats/open';
import { ReferenceKernels } from '../kernels/referenceKernels';

export interface CommandContext {
  readonly output: vscode.OutputChannel;
}

/** Every command the extension contributes, by id; package.json declares the same ids. */
const COMMANDS: Readonly<Record<string, (ctx: CommandContext, uri?: vscode.Uri) => Promise<void>>> = {
  'sparsityLens.showReport': showReport,
};

export function registerCommands(ctx: CommandContext): vscode.Disposable[] {
  return Object.entries(COMMANDS).map(([id, run]) =>
    vscode.commands.registerCommand(id, async (uri?: vscode.Uri) => {
      try {
        await run(ctx, uri instanceof vscode.Uri ? uri : undefined);
      } catch (e) {
        reportError(ctx, e);
      }
    }),
  );
}

/** One clear sentence for the user; the details go to the output channel. */
function reportError(ctx: CommandContext, e: unknown): void {
  if (e instanceof vscode.CancellationError) return;
  const message = isCheckpointError(e) ? e.message : `Sparsity Lens failed: ${(e as Error).message ?? String(e)}`;
  ctx.output.appendLine(`[error] ${(e as Error).stack ?? String(e)}`);
  void vscode.window.showErrorMessage(message);
}

/** The checkpoint a command acts on: the explorer selection, else the active editor's file. */
function targetUri(uri?: vscode.Uri): vscode.Uri | undefined {
  if (uri) return uri;
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputText || input instanceof vscode.TabInputCustom) return input.uri;
  return vscode.window.activeTextEditor?.document.uri;
}

async function computeReport(uri: vscode.Uri): Promise<SparsityReport> {
  if (uri.scheme !== 'file') throw new Error(`only files on disk can be analysed, not ${uri.scheme}: URIs`);
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Sparsity Lens: analysing ${vscode.workspace.asRelativePath(uri)}`, cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      const subscription = token.onCancellationRequested(() => abort.abort());
      const kernels = new ReferenceKernels();
      try {
        const checkpoint = await openCheckpoint(uri.fsPath);
        return await buildReport(checkpoint, kernels, {
          signal: abort.signal,
          onProgress: (_done, total, name) => progress.report({ message: name, increment: 100 / total }),
        });
      } catch (e) {
        if (abort.signal.aborted) throw new vscode.CancellationError();
        throw e;
      } finally {
        subscription.dispose();
        await kernels.dispose();
      }
    },
  );
}

async function showReport(ctx: CommandContext, uri?: vscode.Uri): Promise<void> {
  const target = targetUri(uri);
  if (!target) {
    void vscode.window.showInformationMessage('Open or select a checkpoint (.onnx, .safetensors) to see its sparsity report.');
    return;
  }
  const report = await computeReport(target);
  ctx.output.appendLine(`report: ${target.fsPath}: ${report.layers.length} tensors, sparsity ${report.total.sparsity.toFixed(4)}`);
  const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: formatReportMarkdown(report) });
  await vscode.commands.executeCommand('markdown.showPreview', doc.uri);
}
