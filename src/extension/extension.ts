import * as vscode from 'vscode';
import { registerCommands, ReportDocuments } from './commands';

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Sparsity Lens');
  const reports = new ReportDocuments();
  context.subscriptions.push(
    output,
    reports,
    vscode.workspace.registerTextDocumentContentProvider(ReportDocuments.scheme, reports),
    ...registerCommands({ output, reports }),
  );
}

export function deactivate(): void {}
