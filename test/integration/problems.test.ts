import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import type { ReportNode } from '../../src/extension/reportTree';
import { closeAllEditors, extensionApi, openWithCustomEditor, waitFor, workspaceFile } from './helpers';

describe('extension host: "why no speed-up?" in the Problems panel and the tree', function () {
  this.timeout(120_000);
  beforeEach(() => closeAllEditors());

  it('an analysed checkpoint has one diagnostic per finding, in layer order, until its editor closes', async () => {
    const { analyses, tree } = await extensionApi();
    const uri = workspaceFile('fixtures', 'digits_mlp_unstructured80.safetensors');
    await openWithCustomEditor(uri, 'sparsityLens.checkpoint');
    const analysis = await waitFor('the analysis', () => analyses.find(uri), { timeoutMs: 60_000 });
    const diagnostics = await waitFor('the diagnostics', () => {
      const found = vscode.languages.getDiagnostics(uri);
      return found.length ? found : undefined;
    });
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
    const root = (tree.getChildren() as ReportNode[]).find((n) => n.kind === 'checkpoint' && n.analysis.uri.toString() === uri.toString())!;
    const fc1Node = (tree.getChildren(root) as ReportNode[]).find((n) => n.kind === 'layer' && n.layer.name === 'fc1.weight')!;
    assert.match(String(tree.getTreeItem(fc1Node).description), / · 3 problems$/);
    await closeAllEditors();
    await waitFor('the diagnostics cleared', () => (vscode.languages.getDiagnostics(uri).length === 0 ? true : undefined));
  });
});
