// Checks driven by package.json, so contributions the extension gains are covered without a new
// test: every custom editor opens each workspace example its selector matches, every view can be
// focused. Feature tests (what the custom editor shows, the tree's items) go in their own files;
// see helpers.ts for openWithCustomEditor, exampleUris and waitFor.
import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import * as vscode from 'vscode';
import { activeExtension, closeAllEditors, globToRegExp, isCheckpointName, openWithCustomEditor, packageJson, workspaceFile, workspaceRoot } from './helpers';

const contributes = packageJson().contributes ?? {};
/** Checkpoints at the top of the workspace (a copy of examples/), read when the file loads. */
const examples = readdirSync(workspaceRoot().fsPath).filter((n) => isCheckpointName(n)).sort();

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

describe('extension host: contributed views can be shown', () => {
  before(() => activeExtension());

  for (const view of Object.values(contributes.views ?? {}).flat()) {
    it(`${view.id} (${view.name}) focuses`, async () => {
      await vscode.commands.executeCommand(`${view.id}.focus`);
    });
  }
  // Tree contents (lead): get the extension's TreeDataProvider through its exported API or run
  // the view's commands, then assert on the items for the workspace examples.
});
