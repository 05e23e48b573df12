import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXTENSION_ID, expectText, MARKDOWN_PREVIEW, REPO, useWorkbench } from './harness';

// package.json declares untrusted workspaces supported with limits: reading a checkpoint runs no
// code, so the editor and reports work in Restricted Mode, but a workspace's own
// sparsityLens.layerRoles (patterns, regular expressions among them) is a restricted setting.
// VS Code itself leaves workspace values of restricted settings out of getConfiguration() in an
// untrusted workspace; these tests show what a person then sees.

/** A workspace override that makes fc1.weight of the example a plain tensor (no fan-in, no N:M). */
const WORKSPACE_SETTINGS = { 'sparsityLens.layerRoles': { 'fc1.weight': { role: 'other' } } };

/** The role column of fc1.weight in the checkpoint editor's table. */
async function fc1Role(wb: ReturnType<ReturnType<typeof useWorkbench>>): Promise<string> {
  await wb.waitForView('Sparsity Report');
  await wb.openFromExplorer('digits_mlp_24.onnx');
  const view = wb.webview({ extensionId: EXTENSION_ID });
  await expectText(view.locator('body'), /fc3\.weight/, 60_000);
  const row = view.locator('tr', { hasText: 'fc1.weight' }).first();
  const cells = await row.locator('td').allInnerTexts();
  const role = cells.find((c) => c === 'linear' || c === 'other');
  assert.ok(role, `the row of fc1.weight has a role cell: ${JSON.stringify(cells)}`);
  return role;
}

describe('e2e: restricted mode (workspace not trusted)', () => {
  const wb = useWorkbench({ restrictedMode: true, workspaceSettings: WORKSPACE_SETTINGS });

  it('the manifest declares limited support with sparsityLens.layerRoles restricted, and no virtual workspaces', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
      capabilities: {
        untrustedWorkspaces: { supported: unknown; restrictedConfigurations?: string[] };
        virtualWorkspaces: { supported: unknown };
      };
      contributes: { configuration: { properties: Record<string, unknown> } };
    };
    const { untrustedWorkspaces, virtualWorkspaces } = pkg.capabilities;
    assert.equal(untrustedWorkspaces.supported, 'limited');
    assert.deepEqual(untrustedWorkspaces.restrictedConfigurations, ['sparsityLens.layerRoles']);
    for (const key of untrustedWorkspaces.restrictedConfigurations ?? [])
      assert.ok(key in pkg.contributes.configuration.properties, `${key} is a contributed setting`);
    assert.equal(virtualWorkspaces.supported, false);
  });

  it('opens and reports a checkpoint, and ignores the workspace’s layerRoles', async () => {
    // The workbench is in Restricted Mode: its status bar says so.
    await wb().page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: 30_000 });
    // The workspace value would make fc1.weight "other": ignored, it stays a linear weight.
    assert.equal(await fc1Role(wb()), 'linear');
    await wb().screenshot('restricted-mode-editor');
    await wb().runCommand('Sparsity Lens: Show Report');
    const text = await expectText(wb().webview({ extensionId: MARKDOWN_PREVIEW }).locator('body'), /fc1\.weight/, 60_000);
    assert.match(text, /constant fan-in: 3 of 3 weight tensors/, 'fc1.weight still counts as a weight in the report');
    assert.match(text, /fc1\.weight\s+\[256, 64\]\s+float32\s+linear/);
    await wb().screenshot('restricted-mode-report');
  });
});

describe('e2e: the same workspace trusted (trust off) applies its layerRoles', () => {
  const wb = useWorkbench({ workspaceSettings: WORKSPACE_SETTINGS });

  it('fc1.weight is "other" as the workspace setting says', async () => {
    assert.equal(await fc1Role(wb()), 'other');
  });
});
