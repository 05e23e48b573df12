import * as vscode from 'vscode';
import { Analyses } from './analyses';
import { CheckpointEditorProvider } from './checkpointEditor';
import { registerCommands, ReportDocuments } from './commands';
import { ReportTreeProvider, type ReportNode } from './reportTree';
import { createProblemsPanel } from './problemsPanel';
import { createStatusBar } from './statusBar';

/** What the extension exposes to its integration tests. */
export interface SparsityLensApi {
  readonly analyses: Analyses;
  readonly tree: ReportTreeProvider;
  readonly editor: CheckpointEditorProvider;
}

export function activate(context: vscode.ExtensionContext): SparsityLensApi {
  const output = vscode.window.createOutputChannel('Sparsity Lens');
  const analyses = new Analyses(context.extensionPath, output);
  const reports = new ReportDocuments();
  const editor = new CheckpointEditorProvider(context.extensionUri, analyses, output);
  const tree = new ReportTreeProvider(analyses);
  const treeView = vscode.window.createTreeView<ReportNode>('sparsityLens.report', { treeDataProvider: tree, showCollapseAll: true });
  // The tree follows the layer selected in an editor.
  const followSelection = editor.onDidSelectLayer(({ uri, layer }) => {
    const analysis = analyses.find(uri);
    const row = analysis?.report.layers.find((l) => l.name === layer);
    if (analysis && row && treeView.visible) void treeView.reveal({ kind: 'layer', analysis, layer: row }, { select: true, focus: false });
  });
  context.subscriptions.push(
    output,
    analyses,
    reports,
    treeView,
    followSelection,
    vscode.workspace.registerTextDocumentContentProvider(ReportDocuments.scheme, reports),
    ...[CheckpointEditorProvider.viewType, CheckpointEditorProvider.onRequestViewType].map((viewType) =>
      vscode.window.registerCustomEditorProvider(viewType, editor, {
        // Kept alive when hidden: zoom and selection survive tab switches, and a webview hidden
        // while still loading does not stall its resource loads.
        webviewOptions: { retainContextWhenHidden: true },
        supportsMultipleEditorsPerDocument: true,
      }),
    ),
    vscode.commands.registerCommand('sparsityLens.groupByModule', () => tree.setGrouped(true)),
    vscode.commands.registerCommand('sparsityLens.listFlat', () => tree.setGrouped(false)),
    createStatusBar(analyses, editor),
    createProblemsPanel(analyses, editor),
    ...registerCommands({ output, reports, analyses, editor, toolVersion: String(context.extension.packageJSON.version) }),
  );
  return { analyses, tree, editor };
}

export function deactivate(): void {}
