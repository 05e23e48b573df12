import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import type { ReportNode } from '../../src/extension/reportTree';
import { allTabs, closeAllEditors, extensionApi, openWithCustomEditor, waitFor, workspaceFile } from './helpers';

/** The findings filed for a checkpoint: under one URI per layer (the checkpoint with `#layer=NAME`). */
function findings(checkpoint: vscode.Uri): { uri: vscode.Uri; diagnostic: vscode.Diagnostic }[] {
  return vscode.languages
    .getDiagnostics()
    .filter(([uri]) => uri.scheme === checkpoint.scheme && uri.path === checkpoint.path)
    .flatMap(([uri, diagnostics]) => diagnostics.map((diagnostic) => ({ uri, diagnostic })));
}

describe('extension host: "why no speed-up?" in the Problems panel and the tree', function () {
  this.timeout(120_000);
  beforeEach(() => closeAllEditors());

  it('an analysed checkpoint has one diagnostic per finding, in layer order, until its editor closes', async () => {
    const { analyses, tree } = await extensionApi();
    const uri = workspaceFile('fixtures', 'digits_mlp_unstructured80.safetensors');
    await openWithCustomEditor(uri, 'sparsityLens.checkpoint');
    const analysis = await waitFor('the analysis', () => analyses.find(uri), { timeoutMs: 60_000 });
    const filed = await waitFor('the diagnostics', () => {
      const found = findings(uri);
      return found.length ? found : undefined;
    });
    const diagnostics = filed.map((f) => f.diagnostic);
    // 80 % unstructured magnitude pruning: every weight is unstructured, small, and mostly zeros stored densely.
    assert.equal(diagnostics.length, analysis.report.problems.length);
    const fc1 = diagnostics.filter((d) => d.message.startsWith('fc1.weight: '));
    assert.deepEqual(
      fc1.map((d) => [d.code, d.severity, d.source]),
      [
        ['unstructured', vscode.DiagnosticSeverity.Warning, 'Sparsity Lens'],
        ['small-layer', vscode.DiagnosticSeverity.Information, 'Sparsity Lens'],
        ['zeros-stored-densely', vscode.DiagnosticSeverity.Information, 'Sparsity Lens'],
      ],
    );
    const layerIndex = analysis.report.layers.findIndex((l) => l.name === 'fc1.weight');
    assert.ok(fc1.every((d) => d.range.start.line === layerIndex));
    assert.ok(filed.every((f) => f.uri.fragment === `layer=${encodeURIComponent(f.diagnostic.message.split(': ')[0])}`));
    const root = (tree.getChildren() as ReportNode[]).find((n) => n.kind === 'checkpoint' && n.analysis.uri.toString() === uri.toString())!;
    const fc1Node = (tree.getChildren(root) as ReportNode[]).find((n) => n.kind === 'layer' && n.layer.name === 'fc1.weight')!;
    assert.match(String(tree.getTreeItem(fc1Node).description), / · 3 problems$/);
    await closeAllEditors();
    await waitFor('the diagnostics cleared', () => (findings(uri).length === 0 ? true : undefined));
  });

  it('opening a finding (a click in the Problems panel) shows its layer in the checkpoint editor instead of a second tab', async () => {
    const { analyses } = await extensionApi();
    const uri = workspaceFile('fixtures', 'digits_mlp_unstructured80.safetensors');
    await openWithCustomEditor(uri, 'sparsityLens.checkpoint');
    await waitFor('the analysis', () => analyses.find(uri), { timeoutMs: 60_000 });
    const fc2 = await waitFor('fc2.weight findings', () => findings(uri).find((f) => f.diagnostic.message.startsWith('fc2.weight: ')));
    await vscode.commands.executeCommand('vscode.open', fc2.uri);
    const tabs = () => allTabs().filter((t) => t.input instanceof vscode.TabInputCustom || t.input instanceof vscode.TabInputText);
    await waitFor('the finding’s tab closed', () =>
      tabs().some((t) => (t.input as vscode.TabInputCustom).uri.fragment) ? undefined : true,
    );
    const open = tabs().map((t) => (t.input as vscode.TabInputCustom).uri.toString());
    assert.deepEqual(open, [uri.toString()]);
  });
});
