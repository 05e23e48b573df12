import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import type { ReportNode } from '../../src/extension/reportTree';
import { allTabs, closeAllEditors, exampleUris, extensionApi, openWithCustomEditor, waitFor, workspaceFile } from './helpers';

const VIEW_TYPE = 'sparsityLens.checkpoint';

describe('extension host: checkpoint editor, Sparsity Report tree, export and N:M', function () {
  this.timeout(120_000);
  beforeEach(() => closeAllEditors());

  it('every bundled example opens in the custom editor and is analysed', async () => {
    const { analyses } = await extensionApi();
    const examples = await exampleUris();
    // Non-zero weights of each example (../shared/data/README.md): digits_mlp is dense,
    // digits_mlp_24 is 2:4, digits_mlp_unstructured80 is 80% sparse.
    const nnz: Record<string, number> = {
      'digits_mlp_24.onnx': 25216,
      'digits_mlp_24.safetensors': 25216,
      'digits_mlp_unstructured80.pt': 10086,
      'digits_mlp.npz': 50432,
      'pytorch_model.bin': 50432,
    };
    assert.deepEqual(examples.map((u) => u.path.split('/').pop()).sort(), Object.keys(nnz).sort(), 'the workspace holds the examples');
    for (const uri of examples) {
      await openWithCustomEditor(uri, /\.(bin|json)$/.test(uri.path) ? 'sparsityLens.checkpointOnRequest' : VIEW_TYPE);
      const analysis = await waitFor(`the analysis of ${uri.path}`, () => analyses.find(uri), { timeoutMs: 60_000 });
      assert.equal(analysis.report.weights.nnz, nnz[uri.path.split('/').pop()!], uri.path);
      assert.equal(analysis.report.weights.numel, 50432, uri.path);
    }
  });

  it('the tree lists the open checkpoints and their layers, warnings on layers with problems', async () => {
    const { analyses, tree } = await extensionApi();
    const uri = workspaceFile('fixtures', 'digits_mlp_unstructured80.safetensors');
    await openWithCustomEditor(uri, VIEW_TYPE);
    await waitFor('the analysis', () => analyses.find(uri), { timeoutMs: 60_000 });
    const roots = tree.getChildren() as ReportNode[];
    const root = roots.find((n) => n.kind === 'checkpoint' && n.analysis.uri.toString() === uri.toString());
    assert.ok(root, `the tree lists ${uri.path}`);
    const layers = tree.getChildren(root) as ReportNode[];
    assert.equal(layers.length, 6);
    const fc2 = layers.find((n) => n.kind === 'layer' && n.layer.name === 'fc2.weight')!;
    const item = tree.getTreeItem(fc2);
    // 148 of its 8,192 groups of 4 hold more than 2 non-zeros (numpy: scripts/fixtures/make_nm_expected.py).
    assert.match(String(item.description), /^85\.5% sparse · 148 of 8,192 groups violate · \d+ problems?$/);
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'warning', 'a layer that misses the 2:4 target is flagged');
    assert.match(String(tree.getTreeItem(root).tooltip), /Not 2:4: 3 of 3 layers, 568 groups violate/);
    assert.equal(item.command?.command, 'sparsityLens.showLayerHeatmap');
    const bias = layers.find((n) => n.kind === 'layer' && n.layer.name === 'fc2.bias')!;
    assert.notEqual((tree.getTreeItem(bias).iconPath as vscode.ThemeIcon).id, 'warning');
  });

  it('Export Report writes the CLI schema as JSON, and CSV, each with the editor’s plan', async () => {
    const uri = workspaceFile('digits_mlp_24.onnx');
    const json = workspaceFile('export.json');
    const csv = workspaceFile('export.csv');
    await vscode.commands.executeCommand('sparsityLens.exportReport', uri, 'json', json);
    const report = JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(json)));
    assert.deepEqual(report.weights, { numel: 50432, nnz: 25216, sparsity: 0.5 });
    assert.deepEqual(report.layers[0].nm, { groups: 4096, compliant: 4096, partial: 0, excess: 0 });
    // With the plan the editor shows first, ERK at 90 %: k = 7 / 17 / 82 on this MLP (spec §1.2, §2).
    assert.deepEqual(
      report.plan.layers.map((l: { k: number }) => l.k),
      [7, 17, 82],
    );
    await vscode.commands.executeCommand('sparsityLens.exportReport', uri, 'csv', csv);
    const lines = new TextDecoder()
      .decode(await vscode.workspace.fs.readFile(csv))
      .trim()
      .split('\n');
    assert.equal(lines.length, 7);
    const header = lines[0].split(',');
    const fc3 = lines.find((l) => l.startsWith('fc3.weight,'))!.split(',');
    assert.equal(fc3[header.indexOf('planK')], '82');
  });

  it('Group Tensors by Module lists each checkpoint’s tensors under their modules, and back', async () => {
    const { analyses, tree } = await extensionApi();
    const uri = workspaceFile('digits_mlp_24.safetensors');
    await openWithCustomEditor(uri, VIEW_TYPE);
    await waitFor('the analysis', () => analyses.find(uri), { timeoutMs: 60_000 });
    const root = () =>
      (tree.getChildren() as ReportNode[]).find((n) => n.kind === 'checkpoint' && n.analysis.uri.toString() === uri.toString())!;
    try {
      await vscode.commands.executeCommand('sparsityLens.groupByModule');
      const modules = tree.getChildren(root()) as ReportNode[];
      assert.deepEqual(
        modules.map((m) => (m.kind === 'module' ? [m.module, m.layers.map((l) => l.name)] : m.kind)),
        [
          ['fc1', ['fc1.weight', 'fc1.bias']],
          ['fc2', ['fc2.weight', 'fc2.bias']],
          ['fc3', ['fc3.weight', 'fc3.bias']],
        ],
      );
      const fc1 = (tree.getChildren(modules[0]) as ReportNode[])[0];
      assert.equal(tree.getParent(fc1)?.kind, 'module');
    } finally {
      await vscode.commands.executeCommand('sparsityLens.listFlat');
    }
    assert.equal((tree.getChildren(root()) as ReportNode[])[0].kind, 'layer');
  });

  it('Check N:M makes the pattern the target of every view and shows the checkpoint in its editor', async () => {
    const { analyses, tree } = await extensionApi();
    const uri = workspaceFile('digits_mlp_24.safetensors');
    try {
      await vscode.commands.executeCommand('sparsityLens.checkNm', uri, '1:4');
      await waitFor('the editor', () =>
        allTabs().find((t) => t.input instanceof vscode.TabInputCustom && t.input.uri.toString() === uri.toString()),
      );
      const analysis = await waitFor('the analysis at 1:4', () => analyses.find(uri), { timeoutMs: 60_000 });
      assert.deepEqual(analysis.report.nm, { n: 1, m: 4 });
      assert.deepEqual(analyses.target, { kind: 'nm', nm: { n: 1, m: 4 } });
      // A 2:4 checkpoint: every group of four holds 2 non-zeros, one more than 1:4 allows.
      const fc1 = analysis.report.layers.find((l) => l.name === 'fc1.weight')!;
      assert.deepEqual(fc1.nm, { groups: 4096, compliant: 0, partial: 0, excess: 4096 });
      const root = (tree.getChildren() as ReportNode[]).find(
        (n) => n.kind === 'checkpoint' && n.analysis.uri.toString() === uri.toString(),
      )!;
      assert.match(
        String(tree.getTreeItem(root).tooltip),
        /Not 1:4: 3 of 3 layers, 12,608 groups violate; projecting to 1:4 removes 50% of the non-zeros/,
      );
      assert.equal(allTabs().filter((t) => t.input instanceof vscode.TabInputWebview).length, 0, 'no Markdown preview');
    } finally {
      analyses.setTarget('nm', { n: 2, m: 4 });
    }
  });

  it('Open in Sparsity Lens opens a .bin (whose default editor is the text editor) in the checkpoint editor', async () => {
    const uri = workspaceFile('pytorch_model.bin');
    await vscode.commands.executeCommand('sparsityLens.openInEditor', uri);
    const tab = await waitFor('the checkpoint editor', () =>
      allTabs().find((t) => t.input instanceof vscode.TabInputCustom && t.input.uri.toString() === uri.toString()),
    );
    assert.equal((tab.input as vscode.TabInputCustom).viewType, 'sparsityLens.checkpointOnRequest');
  });

  it('Show Layer Heatmap opens the editor of the checkpoint', async () => {
    const uri = workspaceFile('digits_mlp_24.onnx');
    await vscode.commands.executeCommand('sparsityLens.showLayerHeatmap', uri, 'fc2.weight');
    await waitFor('the checkpoint editor', () =>
      vscode.window.tabGroups.all
        .flatMap((g) => g.tabs)
        .find((t) => t.input instanceof vscode.TabInputCustom && t.input.uri.toString() === uri.toString()),
    );
  });
});
