import { strict as assert } from 'node:assert';
import { expectText, useWorkbench } from './harness';

describe('e2e: Compare with… in the checkpoint editor', () => {
  const wb = useWorkbench();

  it('compares the dense digits MLP with its 2:4 twin: a table per tensor and the turned-off positions in the heatmap', async () => {
    // The extension is active once its view is there; a file opened before would get the text editor.
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('digits_mlp.npz');
    const view = wb().webview();
    await expectText(view.locator('body'), /fc2\.weight/, 60_000);

    // B is picked in the file dialog, as a user does (code-server's dialog is a path box).
    await wb().runCommand('Sparsity Lens: Compare with…', 30_000, { asks: true });
    const input = wb().page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    // The dialog lists A's folder, then sets its path box: type once that is done.
    await wb()
      .page.locator('.quick-input-list .monaco-list-row', { hasText: 'digits_mlp_24.safetensors' })
      .first()
      .waitFor({ state: 'visible', timeout: 15_000 });
    await wb().page.waitForTimeout(500);
    const folder = await input.inputValue();
    // It starts in A's folder, shown as ".../workspace" or ".../workspace/".
    await input.fill(`${folder.replace(/\/?$/, '/')}digits_mlp_24.safetensors`);
    // The dialog checks the typed path before it accepts it: press Enter until it closes.
    for (let attempt = 0; attempt < 10 && (await input.isVisible()); attempt++) {
      await wb().page.waitForTimeout(500);
      await input.press('Enter').catch(() => undefined);
    }
    await input.waitFor({ state: 'hidden', timeout: 10_000 });

    // ../shared/data/README.md: the 2:4 twin keeps half of each weight, unchanged (no fine-tune).
    const table = view.locator('table.compare-table');
    const fc1 = await expectText(table.locator('tr', { hasText: 'fc1.weight' }), /100(\.0)?\s?% → 50\.0\s?%/, 60_000);
    assert.match(fc1, /0\s*8,192\s*8,192\s*50\.0\s?%/); // turned on, off, kept, churn
    await expectText(
      view.locator('.compare-summary'),
      /Compared with digits_mlp_24\.safetensors: 6 tensors matched; 0 positions turned on and 25,216 turned off/,
    );

    // The heatmap shows the changes: fc1's turned-off half in red, the kept half in grey.
    await table.locator('tr', { hasText: 'fc1.weight' }).click();
    assert.equal(await view.locator('vscode-radio[value="changes"]').getAttribute('checked'), '');
    await expectText(view.locator('.heatmap-legend'), /turned off/);
    const canvas = view.locator('canvas.heatmap-canvas');
    let red = 0;
    for (let attempt = 0; attempt < 30 && red === 0; attempt++) {
      red = await canvas.evaluate((c: HTMLCanvasElement) => {
        const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] > 150 && data[i + 1] < 110 && data[i + 2] < 110) n++;
        return n;
      });
      if (red === 0) await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(red > 0, 'turned-off positions are drawn in red');
    await wb().screenshot('compare', view.locator('body'));
    await wb().screenshot('compare-heatmap', view.locator('.detail-panel'));

    // Closing the comparison takes the Changes colouring away.
    await view.locator('vscode-toolbar-button[label="Close the comparison"]').click();
    await view.locator('table.compare-table').waitFor({ state: 'detached', timeout: 10_000 });
    assert.equal(await view.locator('vscode-radio[value="changes"]').isVisible(), false);
  });
});
