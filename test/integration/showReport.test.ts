import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import { activeExtension, allTabs, closeAllEditors, waitFor, workspaceFile } from './helpers';

/** The open Markdown document of the report on `file` (its URI names the checkpoint). */
function reportDocument(file: string): vscode.TextDocument | undefined {
  return vscode.workspace.textDocuments.find(
    (d) => d.languageId === 'markdown' && d.uri.scheme !== 'file' && d.uri.path.includes(`/${file}`) && d.getText().length > 0,
  );
}

/** What is open, for failure messages. */
function openDocuments(): string {
  return vscode.workspace.textDocuments.map((d) => `${d.uri.toString()} (${d.languageId}, ${d.getText().length} chars)`).join('\n');
}

function markdownPreviewTab(): vscode.Tab | undefined {
  return allTabs().find((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.includes('markdown.preview'));
}

describe('extension host: Show Report', () => {
  before(() => activeExtension());
  beforeEach(() => closeAllEditors());

  it('opens a Markdown preview of examples/digits_mlp_24.onnx with the reference figures', async () => {
    const uri = workspaceFile('digits_mlp_24.onnx');
    await vscode.commands.executeCommand('sparsityLens.showReport', uri);
    const doc = await waitFor('the report document', () => reportDocument('digits_mlp_24.onnx'), { explain: openDocuments });
    const text = doc.getText();
    assert.match(text, /weights \(linear \+ conv\): 25216 of 50432 non-zero, sparsity 50\.00%/);
    assert.match(text, /all tensors: 25610 of 50826 non-zero/);
    assert.match(text, /2:4 compliant groups: 12608 of 12608 \(100\.00%\)/);
    assert.match(text, /constant fan-in: 3 of 3 weight tensors/);
    assert.ok(await waitFor('the Markdown preview tab', markdownPreviewTab));
  });

  it('reports a safetensors checkpoint under fixtures/ too', async () => {
    const uri = workspaceFile('fixtures', 'digits_mlp_unstructured80.safetensors');
    await vscode.commands.executeCommand('sparsityLens.showReport', uri);
    const doc = await waitFor('the report document', () => reportDocument('digits_mlp_unstructured80.safetensors'), {
      explain: openDocuments,
    });
    assert.match(doc.getText(), /weights \(linear \+ conv\): \d+ of 50432 non-zero/);
  });

  it('Compare with… shows the comparison in the first checkpoint’s editor (digits_mlp.npz → its 2:4 twin)', async () => {
    const a = workspaceFile('digits_mlp.npz');
    const b = workspaceFile('digits_mlp_24.safetensors');
    await vscode.commands.executeCommand('sparsityLens.compareWith', a, b);
    // The figures themselves are checked in the editor (test/e2e/compare.test.ts) and by the CLI tests.
    await waitFor(
      'the checkpoint editor of A',
      () => allTabs().find((t) => t.input instanceof vscode.TabInputCustom && t.input.uri.toString() === a.toString()),
      { timeoutMs: 60_000 },
    );
    assert.equal(markdownPreviewTab(), undefined, 'no Markdown preview any more');
  });
});
