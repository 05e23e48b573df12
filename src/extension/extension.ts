import * as vscode from 'vscode';
import { createKernels } from '../kernels/createKernels';
import { registerCommands, ReportDocuments } from './commands';

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('Sparsity Lens');
  const reports = new ReportDocuments();
  // One kernel worker for the whole session, started on first use.
  const kernels = createKernels({
    backend: 'auto',
    root: context.extensionPath,
    onWarning: (message) => {
      output.appendLine(`[warning] ${message}`);
      void vscode.window.showWarningMessage(message);
    },
  });
  context.subscriptions.push(
    output,
    reports,
    { dispose: () => void kernels.dispose() },
    vscode.workspace.registerTextDocumentContentProvider(ReportDocuments.scheme, reports),
    ...registerCommands({ output, reports, kernels }),
  );
}

export function deactivate(): void {}
