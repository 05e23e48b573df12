import * as vscode from 'vscode';
import type { Analyses } from './analyses';
import type { CheckpointEditorProvider } from './checkpointEditor';

/** Shows the focused checkpoint's sparsity in the status bar. */
export function createStatusBar(analyses: Analyses, editor: CheckpointEditorProvider): vscode.Disposable {
  const item = vscode.window.createStatusBarItem('sparsityLens.status', vscode.StatusBarAlignment.Right, 100);
  item.name = 'Sparsity Lens';
  item.command = 'sparsityLens.showReport';
  const update = () => {
    const uri = editor.active;
    const analysis = uri && analyses.find(uri);
    if (!analysis) {
      item.hide();
      return;
    }
    const r = analysis.report;
    item.text = `$(symbol-array) ${(r.weights.sparsity * 100).toFixed(1)}% sparse`;
    item.tooltip = `Sparsity Lens: ${r.weights.nnz} of ${r.weights.numel} weights non-zero (${r.file}). Click for the report.`;
    item.show();
  };
  const subscriptions = [editor.onDidChangeActive(update), analyses.onDidChange(update)];
  return { dispose: () => [item, ...subscriptions].forEach((d) => d.dispose()) };
}
