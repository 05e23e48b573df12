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

  it('Compare with… previews the diff of two checkpoints (digits_mlp.npz → its 2:4 twin)', async () => {
    const a = workspaceFile('digits_mlp.npz');
    const b = workspaceFile('digits_mlp_24.safetensors');
    await vscode.commands.executeCommand('sparsityLens.compareWith', a, b);
    const doc = await waitFor('the diff document', () => reportDocument('digits_mlp.npz.vs.digits_mlp_24.safetensors'), {
      explain: openDocuments,
      timeoutMs: 60_000,
    });
    const text = doc.getText();
    // ../shared/data/README.md: the 2:4 twin keeps half of each weight as it was (no fine-tune).
    assert.match(text, /^# digits\\_mlp\.npz → digits\\_mlp\\_24\.safetensors$/m);
    assert.match(
      text,
      /^\| fc1\.weight \| \[256, 64\] \| 100\.00% → 50\.00% \| 0 \| 8192 \| 8192 \| 50\.00% \| 0\.000 \| 0\.000 \| k=64 → k=32 \|$/m,
    );
  });
});
