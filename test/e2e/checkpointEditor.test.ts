import { strict as assert } from 'node:assert';
import { EXTENSION_ID, expectText, useWorkbench } from './harness';

describe('e2e: the checkpoint editor', () => {
  const wb = useWorkbench();

  it('opens an ONNX file from the explorer with the table, summary and a drawn heatmap', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('digits_mlp_24.onnx');
    const view = wb().webview();
    const text = await expectText(view.locator('body'), /fc2\.weight/, 60_000);
    for (const figure of [/fc1\.weight/, /\[256, ?64\]|256 ?× ?64/, /50(\.0+)?\s?%/]) {
      assert.match(text, figure, `the editor shows ${figure}`);
    }
    // Select a weight so its heatmap is drawn, then check the canvas has more than one colour.
    await view.locator('tr', { hasText: 'fc1.weight' }).first().click();
    const canvas = view.locator('canvas.heatmap-canvas');
    await canvas.waitFor({ state: 'visible', timeout: 30_000 });
    let colours = 0;
    for (let attempt = 0; attempt < 30 && colours < 2; attempt++) {
      colours = await canvas.evaluate((c: HTMLCanvasElement) => {
        const ctx = c.getContext('2d')!;
        const data = ctx.getImageData(0, 0, c.width, c.height).data;
        const seen = new Set<number>();
        for (let i = 0; i < data.length; i += 4 * 97) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        return seen.size;
      });
      if (colours < 2) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(colours >= 2, `the heatmap canvas is drawn (${colours} colours seen)`);
    await wb().screenshot('checkpoint-editor');
    await wb().screenshot('checkpoint-editor-heatmap', canvas);
  });

  it('opens a PyTorch checkpoint (torch.save) from the explorer in the same editor', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('digits_mlp_unstructured80.pt');
    const view = wb().webview({ extensionId: EXTENSION_ID });
    const text = await expectText(view.locator('body'), /fc2\.weight/, 60_000);
    assert.match(text, /pytorch/i, 'the summary names the format');
    // ../shared/data/README.md: fc2.weight keeps 4748 of 32768 weights, 23 dead neurons.
    const row = await view.locator('tr', { hasText: 'fc2.weight' }).first().innerText();
    assert.match(row, /85\.5\s?%/, `fc2.weight row: ${row}`);
    assert.match(text, /80(\.0)?\s?%/, 'the summary shows 80% weight sparsity');
    await wb().screenshot('checkpoint-editor-pytorch');
  });
});
