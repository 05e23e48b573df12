import { strict as assert } from 'node:assert';
import { expectText, useWorkbench } from './harness';

describe('e2e: the Plan section of the checkpoint editor', () => {
  const wb = useWorkbench();

  it('plans the dense digits MLP at 90 % ERK (k = 7 / 17 / 82), then uniform, and says why 1.5 is refused', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('digits_mlp.npz');
    const view = wb().webview();
    await expectText(view.locator('body'), /fc2\.weight/, 60_000);
    await view.locator('vscode-collapsible.plan').click({ position: { x: 40, y: 10 } });
    const table = view.locator('table.plan-table');
    // ERK densities 0.117002 / 0.070201 / 0.645851 (../shared/docs/srigl-spec.md §1.2 on this model).
    const erk = await expectText(table, /82 of 128/, 30_000);
    for (const figure of [/7 of 64/, /17 of 256/, /11\.7\s?%/, /7\.0\s?%/, /64\.6\s?%/]) assert.match(erk, figure);
    await expectText(view.locator('.plan-status'), /ERK at sparsity 0\.9/);
    await wb().screenshot('plan-erk');

    // fc1's 15 ablation candidates (numpy: scripts/fixtures/make_ablation_expected.py) are marked in the fan-in gutter.
    await view.locator('table.layers tr', { hasText: 'fc1.weight' }).first().click();
    const canvas = view.locator('canvas.heatmap-canvas');
    await canvas.waitFor({ state: 'visible', timeout: 30_000 });
    let marked = 0;
    for (let attempt = 0; attempt < 30 && marked === 0; attempt++) {
      marked = await canvas.evaluate((c: HTMLCanvasElement) => {
        const data = c.getContext('2d')!.getImageData(0, 0, Math.round(56 * devicePixelRatio), c.height).data;
        let yellow = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] > 170 && data[i + 1] > 120 && data[i + 1] < 200 && data[i + 2] < 60) yellow++;
        return yellow;
      });
      if (marked === 0) await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(marked > 0, 'ablation candidates are marked in the fan-in gutter');
    await wb().screenshot('plan-ablation-marks', canvas);

    await view.locator('vscode-radio[value="uniform"]').click();
    const uniform = await expectText(table, /25 of 256/, 30_000);
    assert.match(uniform, /6 of 64/);
    assert.match(uniform, /12 of 128/);

    const field = view.locator('vscode-textfield.plan-sparsity');
    await field.click();
    await field.press('Control+A');
    await field.pressSequentially('1.5');
    await expectText(view.locator('.plan-status.error'), /^Sparsity must be a decimal in \[0, 1\), not "1\.5"$/, 30_000);
    await wb().screenshot('plan-error');
  });

  it('a 2:4 layer lists why it will not speed up and its smallest storage', async () => {
    await wb().openFromExplorer('digits_mlp_24.onnx');
    const view = wb().webview();
    await expectText(view.locator('body'), /fc3\.weight/, 60_000);
    await view.locator('table.layers tr', { hasText: 'fc3.weight' }).first().click();
    const header = await expectText(view.locator('.detail-header'), /2:4 sparse tensor cores need outputs in multiples of 8/, 30_000);
    // 1,280 float32 weights at 2:4: 640 values (2,560 B) + 2 bits each (160 B) = 2.7 KiB, dense 5.0 KiB.
    assert.match(header, /stored as 2:4: 2\.7 KiB \(dense 5\.0 KiB\)/);
    await wb().screenshot('detail-lints', view.locator('.detail-header'));
  });
});
