import * as vscode from 'vscode';
import { buildReport, type SparsityReport } from '../core/analysis/report';
import { formatReportMarkdown } from '../core/analysis/reportText';
import { isCheckpointError } from '../core/errors';
import { openCheckpoint } from '../core/formats/open';
import type { Kernels } from '../kernels/kernels';

export interface CommandContext {
  readonly output: vscode.OutputChannel;
  readonly reports: ReportDocuments;
  readonly kernels: Kernels;
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

async function computeReport(ctx: CommandContext, uri: vscode.Uri): Promise<SparsityReport> {
  if (uri.scheme !== 'file') throw new Error(`only files on disk can be analysed, not ${uri.scheme}: URIs`);
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Sparsity Lens: analysing ${vscode.workspace.asRelativePath(uri)}`, cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      const subscription = token.onCancellationRequested(() => abort.abort());
      try {
        const checkpoint = await openCheckpoint(uri.fsPath);
        return await buildReport(checkpoint, ctx.kernels, {
          signal: abort.signal,
          onProgress: (_done, total, name) => progress.report({ message: name, increment: 100 / total }),
        });
      } catch (e) {
        if (abort.signal.aborted) throw new vscode.CancellationError();
        throw e;
      } finally {
        subscription.dispose();
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
  const report = await computeReport(ctx, target);
  ctx.output.appendLine(`report: ${target.fsPath}: ${report.layers.length} tensors, sparsity ${report.total.sparsity.toFixed(4)}`);
  const markdown = formatReportMarkdown({ ...report, file: vscode.workspace.asRelativePath(target) });
  await vscode.commands.executeCommand('markdown.showPreview', ctx.reports.show(target, markdown));
}
