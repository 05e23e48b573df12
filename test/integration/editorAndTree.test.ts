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
    assert.match(String(item.description), /85\.5% sparse · fan-in 0–64 · N:M 98\.2%/);
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'warning', 'dead neurons and N:M violations are flagged');
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

  it('Check N:M previews the report with the pattern it was given', async () => {
    const uri = workspaceFile('digits_mlp_24.safetensors');
    const name = 'digits_mlp_24.safetensors.1-4.report.md';
    await vscode.commands.executeCommand('sparsityLens.checkNm', uri, '1:4');
    // What the command shows: a Markdown preview of the report checked against 1:4.
    await waitFor(
      `the preview of ${name}`,
      () =>
        allTabs().find(
          (t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.includes('markdown.preview') && t.label.includes(name),
        ),
      {
        explain: () =>
          `tabs: ${allTabs()
            .map((t) => t.label)
            .join(', ')}`,
      },
    );
    const doc = await waitFor(`the document of ${name}`, () =>
      vscode.workspace.textDocuments.find((d) => d.uri.scheme !== 'file' && d.uri.path.endsWith(`/${name}`) && d.getText().length > 0),
    );
    const text = doc.getText();
    // A 2:4 checkpoint: no group of four holds a single non-zero.
    assert.match(text, /^- 1:4 compliant groups: 0 of 12608 \(0\.00%\)$/m);
    assert.match(text, /^\| tensor \|.*\| 1:4 compliant \|$/m);
    assert.match(text, /^\| fc1\.weight \|.*\| 0\/4096 \(0\.00%\) \|$/m);
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
