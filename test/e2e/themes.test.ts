import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectText, lowContrastText, REPO, useWorkbench } from './harness';

describe('e2e: the conv layout, navigation and errors in light and high-contrast themes', () => {
  const wb = useWorkbench({ fixtures: ['generated/bn_folded.onnx', 'digits_mlp_unstructured80.safetensors'] });

  it('each is drawn and readable (text ≥ 4.5:1) in Light Modern and Dark High Contrast', async () => {
    fs.writeFileSync(
      path.join(wb().workspace, 'cut.onnx'),
      fs.readFileSync(path.join(REPO, 'examples', 'digits_mlp_24.onnx')).subarray(0, 30_000),
    );
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().runCommand('Refresh Explorer');
    try {
      for (const [theme, tag] of [
        ['Light Modern', 'light'],
        ['Dark High Contrast', 'high-contrast'],
      ]) {
        await wb().setColorTheme(theme);

        await wb().openFromExplorer('fixtures/bn_folded.onnx');
        let view = wb().webview();
        await view.locator('table.layers tr', { hasText: 'layer1.0.conv1' }).first().click({ timeout: 60_000 });
        await view.locator('vscode-toolbar-button[label="Zoom to single weights"]').click();
        await expectText(view.locator('.heatmap-status'), /single weights/, 30_000);
        await wb().screenshot(`conv-position-major-${tag}`, view.locator('.detail-panel'));
        assert.deepEqual(await lowContrastText(view), [], `conv view, ${theme}`);

        await wb().openFromExplorer('fixtures/digits_mlp_unstructured80.safetensors');
        view = wb().webview();
        await view.locator('table.layers tr', { hasText: 'fc2.weight' }).first().click({ timeout: 60_000 });
        await view.locator('vscode-toolbar-button[label="Next violating group (N)"]').click();
        await expectText(view.locator('.heatmap-status'), /Violating group: row/, 30_000);
        await wb().screenshot(`navigation-violation-${tag}`, view.locator('.detail-panel'));
        assert.deepEqual(await lowContrastText(view), [], `navigation, ${theme}`);

        await wb().openFromExplorer('cut.onnx');
        view = wb().webview();
        await expectText(view.locator('.banner-text'), /^Truncated: /, 60_000);
        await wb().screenshot(`error-truncated-${tag}`, view.locator('.banner'));
      }
    } finally {
      await wb().setColorTheme('Dark Modern');
    }
  });
});
