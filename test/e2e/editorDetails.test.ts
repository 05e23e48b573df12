import { strict as assert } from 'node:assert';
import { expectText, useWorkbench } from './harness';

describe('e2e: prune pairs, the filter and the keyboard', () => {
  const wb = useWorkbench();

  it('torch.nn.utils.prune pairs are said once, with a badge per layer', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('fixtures/pruned.pt');
    const view = wb().webview();
    // pruned.pt (scripts/fixtures/make_pytorch_fixtures.py) prunes conv.weight and fc1.weight.
    await expectText(view.locator('.summary'), /2 layers pruned with torch\.nn\.utils\.prune/, 60_000);
    assert.doesNotMatch(await view.locator('.summary').innerText(), /weight_orig \(pruning pair/);
    assert.equal(await view.locator('table.layers .pair-badge').count(), 2);
    await wb().screenshot('prune-pairs', view.locator('.summary-slot'));
  });

  it('a layer asked for from outside is never hidden by the table filter; Ctrl+Alt+N checks N:M', async () => {
    await wb().openFromExplorer('digits_mlp_24.onnx');
    const view = wb().webview();
    await expectText(view.locator('.verdict'), /^2:4/, 60_000);
    const filter = view.locator('vscode-textfield.filter');
    await filter.click();
    await filter.pressSequentially('fc1');
    await expectText(view.locator('.table-count').last(), /^2 of 6 tensors$/);
    await wb().runCommand('Sparsity Lens: Show Layer Heatmap', 30_000, { asks: true });
    await wb().page.locator('.quick-input-list .monaco-list-row', { hasText: 'fc3.weight' }).first().click();
    await expectText(view.locator('.detail-title'), /^fc3\.weight$/, 30_000);
    await expectText(view.locator('.table-count').last(), /^6 tensors$/);
    assert.equal(await view.locator('table.layers tr[aria-selected="true"]', { hasText: 'fc3.weight' }).count(), 1);

    await view.locator('vscode-checkbox', { hasText: 'By module' }).click();
    await expectText(view.locator('table.layers tr.group-row').first(), /^fc1 · 2 tensors$/);
    assert.equal(await view.locator('table.layers tr.group-row').count(), 3);
    await wb().screenshot('table-by-module', view.locator('.layers-panel'));
    await view.locator('vscode-checkbox', { hasText: 'By module' }).click();
    assert.equal(await view.locator('table.layers tr.group-row').count(), 0);

    // The keybinding applies in the checkpoint editor: focus its group, then press (again if focus was still moving).
    const picker = wb().page.locator('.quick-input-widget', { hasText: 'Check N:M' });
    for (let attempt = 0; attempt < 5 && !(await picker.isVisible()); attempt++) {
      await wb().runCommand('View: Focus Active Editor Group');
      await wb().page.keyboard.press('Control+Alt+N');
      await picker.waitFor({ state: 'visible', timeout: 3_000 }).catch(() => undefined);
    }
    assert.ok(await picker.isVisible(), 'Ctrl+Alt+N opened Check N:M');
    await wb().page.keyboard.press('Escape');
  });
});
