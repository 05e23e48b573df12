// Checks driven by package.json, so contributions the extension gains are covered without a new
// test: every custom editor opens each workspace example its selector matches, every view shows
// its rows when focused. Feature tests (what the custom editor shows, the tree's items) go in
// their own files; see helpers.ts for openWithCustomEditor, exampleUris and waitFor.
import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import * as vscode from 'vscode';
import type { SparsityLensApi } from '../../src/extension/extension';
import type { ReportNode } from '../../src/extension/reportTree';
import {
  activeExtension,
  closeAllEditors,
  extensionApi,
  globToRegExp,
  isCheckpointName,
  openWithCustomEditor,
  packageJson,
  waitFor,
  workspaceFile,
  workspaceRoot,
} from './helpers';

const contributes = packageJson().contributes ?? {};
/** Checkpoints at the top of the workspace (a copy of examples/), read when the file loads. */
const examples = readdirSync(workspaceRoot().fsPath)
  .filter((n) => isCheckpointName(n))
  .sort();

describe('extension host: contributed custom editors open every matching example', () => {
  before(() => activeExtension());
  afterEach(() => closeAllEditors());

  for (const editor of contributes.customEditors ?? []) {
    const patterns = editor.selector.map((s) => globToRegExp(s.filenamePattern));
    const matching = examples.filter((name) => patterns.some((p) => p.test(name)));
    it(`${editor.viewType} matches at least one example`, () => {
      assert.ok(matching.length > 0, `no example matches ${editor.selector.map((s) => s.filenamePattern).join(', ')}`);
    });
    for (const name of matching) {
      it(`${editor.viewType} opens ${name}`, async () => {
        const tab = await openWithCustomEditor(workspaceFile(name), editor.viewType);
        assert.ok(tab.input instanceof vscode.TabInputCustom);
      });
    }
  }
});

/**
 * How a test sees what a contributed view shows: the data provider the extension exports for it.
 * VS Code asks a tree's provider for its rows only while the view is on screen.
 */
function viewProvider(api: SparsityLensApi, viewId: string): vscode.TreeDataProvider<ReportNode> | undefined {
  if (viewId === 'sparsityLens.report') return api.tree;
  return undefined;
}

describe('extension host: contributed views can be shown', () => {
  before(() => activeExtension());

  for (const view of Object.values(contributes.views ?? {}).flat()) {
    it(`${view.id} (${view.name}) focuses and shows a checkpoint analysed while it was hidden`, async () => {
      const api = await extensionApi();
      const provider = viewProvider(api, view.id);
      assert.ok(provider, `no data provider of ${view.id} to observe: add it to viewProvider()`);
      // Another container in the side bar hides the view.
      await vscode.commands.executeCommand('workbench.view.explorer');
      // A checkpoint no other test analyses, analysed while the view is hidden: the view can only
      // list it by asking the provider again once it is shown.
      const uri = workspaceFile('views', `${view.id}-${Date.now()}.onnx`);
      await vscode.workspace.fs.copy(workspaceFile('digits_mlp_24.onnx'), uri);
      const rendered: ReportNode[] = [];
      const getTreeItem = provider.getTreeItem;
      provider.getTreeItem = function (node: ReportNode) {
        rendered.push(node);
        return getTreeItem.call(this, node);
      };
      try {
        await api.analyses.get(uri);
        // A hidden view must not render it: leave a refresh the time to arrive, then check.
        await new Promise((r) => setTimeout(r, 500));
        const isRow = (n: ReportNode) => n.kind === 'checkpoint' && n.analysis.uri.toString() === uri.toString();
        assert.ok(!rendered.some(isRow), `${view.id} rendered ${uri.path} while the Explorer was shown`);
        await vscode.commands.executeCommand(`${view.id}.focus`);
        await waitFor(`${view.id} to show ${uri.path}`, () => rendered.some(isRow), {
          timeoutMs: 10_000,
          explain: () =>
            `rows rendered: ${rendered.map((n) => (n.kind === 'checkpoint' ? n.analysis.uri.path : n.kind === 'module' ? n.module : n.layer.name)).join(', ') || 'none'}`,
        });
      } finally {
        provider.getTreeItem = getTreeItem;
      }
    });
  }
});
