import { strict as assert } from 'node:assert';
import { expectText, useWorkbench } from './harness';

/** The heatmap's plot starts after the fan-in gutter and a gap (webview/src/heatmap/viewport.ts: GUTTER 56 + GAP 6). */
const PLOT_X = 62;

describe('e2e: conv heatmaps show N:M groups', () => {
  const wb = useWorkbench({ fixtures: ['generated/bn_folded.onnx'] });

  it('a conv layer is drawn kernel position first: the channels of a 2:4 group are adjacent columns', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('fixtures/bn_folded.onnx');
    const view = wb().webview();
    await expectText(view.locator('body'), /layer1\.0\.conv1/, 60_000);
    // layer1.0.conv1: [8, 8, 3, 3], 9 kernel positions of 8 input channels = 72 columns.
    await view.locator('table.layers tr', { hasText: 'layer1.0.conv1' }).first().click();
    await expectText(view.locator('.heatmap-axes'), /columns: 9 kernel positions × 8 input channels \(channels side by side\)/);
    const canvas = view.locator('canvas.heatmap-canvas');
    await canvas.waitFor({ state: 'visible', timeout: 30_000 });
    await view.locator('vscode-toolbar-button[label="Zoom to fit (0)"]').click();
    const box = (await canvas.boundingBox())!;
    const width = box.width - PLOT_X;
    const columnX = (c: number) => PLOT_X + (c + 0.5) * (width / 72);
    const tooltip = view.locator('.heatmap-tooltip');
    const tipAt = async (c: number) => {
      await canvas.hover({ position: { x: columnX(c), y: 10 } });
      return expectText(tooltip, /input/, 10_000);
    };
    // Columns 0–3: channels 0–3 at kernel position 0, one 2:4 group; column 8 is channel 0 at position 1.
    for (let c = 0; c < 4; c++) assert.match(await tipAt(c), new RegExp(`channel ${c}, kernel position 0`));
    assert.match(await tipAt(8), /channel 0, kernel position 1/);
    await view.locator('vscode-toolbar-button[label="Zoom to single weights"]').click();
    await expectText(
      view.locator('.heatmap-status'),
      /single weights · 2:4 groups of input channels at each of 9 kernel positions/,
      30_000,
    );
    await wb().page.mouse.move(0, 0);
    await wb().screenshot('conv-position-major', view.locator('.detail-panel'));
  });
});
