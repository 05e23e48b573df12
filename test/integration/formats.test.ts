import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ReportNode } from '../../src/extension/reportTree';
import type { ExpectedTensor } from '../helpers/expectedFigures';
import { closeAllEditors, extensionApi, openWithCustomEditor, REPO, waitFor, workspaceFile } from './helpers';

function expectedTensors(folder: string, file: string): ExpectedTensor[] {
  const expected = JSON.parse(readFileSync(path.join(REPO, 'test', 'fixtures', folder, 'expected.json'), 'utf8')) as {
    files: Record<string, { tensors: ExpectedTensor[] }>;
  };
  return expected.files[file].tensors;
}

describe('extension host: every checkpoint format in the editor and the tree', function () {
  this.timeout(120_000);
  beforeEach(() => closeAllEditors());

  it('a TF.js model.json opens with "Open With" and its layers reach the tree with the Keras layouts', async () => {
    const { analyses, tree } = await extensionApi();
    const uri = workspaceFile('fixtures', 'layers', 'model.json');
    await openWithCustomEditor(uri, 'sparsityLens.checkpointOnRequest');
    const analysis = await waitFor('the analysis of model.json', () => analyses.find(uri), { timeoutMs: 60_000 });
    assert.equal(analysis.report.format, 'tfjs');
    const expected = expectedTensors('tfjs', 'layers/model.json');
    assert.deepEqual(
      analysis.report.layers.map((l) => [l.name, l.nnz, l.role]),
      expected.map((t) => [t.name, t.nnz, t.role]),
    );
    const root = (tree.getChildren() as ReportNode[]).find((n) => n.kind === 'checkpoint' && n.analysis.uri.toString() === uri.toString());
    assert.ok(root, 'the tree lists model.json');
    assert.equal((tree.getChildren(root) as ReportNode[]).length, expected.length);
  });

  it('a pruned PyTorch checkpoint shows the effective weight and says so', async () => {
    const { analyses, tree } = await extensionApi();
    const uri = workspaceFile('fixtures', 'pruned.pt');
    await openWithCustomEditor(uri, 'sparsityLens.checkpoint');
    const analysis = await waitFor('the analysis of pruned.pt', () => analyses.find(uri), { timeoutMs: 60_000 });
    const expected = expectedTensors('pytorch', 'pruned.pt');
    for (const t of expected) {
      const layer = analysis.report.layers.find((l) => l.name === t.name);
      assert.ok(layer, `pruned.pt has ${t.name}`);
      assert.equal(layer.nnz, t.nnz, t.name);
      if (t.note) assert.equal(layer.note, t.note, t.name);
    }
    const pruned = expected.find((t) => t.note)!;
    const root = (tree.getChildren() as ReportNode[]).find((n) => n.kind === 'checkpoint' && n.analysis.uri.toString() === uri.toString())!;
    const node = (tree.getChildren(root) as ReportNode[]).find((n) => n.kind === 'layer' && n.layer.name === pruned.name)!;
    const tooltip = tree.getTreeItem(node).tooltip as vscode.MarkdownString;
    assert.equal(tooltip.isTrusted, false);
    assert.equal(tooltip.supportHtml, false);
    // The note goes in as text: appendText writes spaces as &nbsp; and escapes Markdown with backslashes.
    const shown = tooltip.value.replace(/&nbsp;/g, ' ').replace(/\\(.)/g, '$1');
    assert.ok(shown.includes(`$(info) ${pruned.note}`), `the tooltip says how the weight is derived:\n${tooltip.value}`);
  });

  it('the layerRoles setting overrides a role, and an invalid one is a clear error', async () => {
    const { analyses } = await extensionApi();
    const uri = workspaceFile('digits_mlp_24.safetensors');
    const config = vscode.workspace.getConfiguration('sparsityLens');
    try {
      await config.update('layerRoles', { 'fc1.*': { role: 'other' } }, vscode.ConfigurationTarget.Global);
      const overridden = await waitFor('the setting applied', async () => {
        const a = await analyses.get(uri);
        return a.report.layers.find((l) => l.name === 'fc1.weight')?.role === 'other' ? a : undefined;
      });
      assert.equal(overridden.report.weights.numel, 50432 - 256 * 64);
      await config.update('layerRoles', { 'fc1.weight': { role: 'linear', outAxis: 5 } }, vscode.ConfigurationTarget.Global);
      await waitFor('the invalid setting reported', () =>
        analyses.get(uri).then(
          () => undefined,
          (e: Error) => (/sparsityLens\.layerRoles is invalid/.test(e.message) ? e : undefined),
        ),
      );
    } finally {
      await config.update('layerRoles', undefined, vscode.ConfigurationTarget.Global);
    }
  });
});
