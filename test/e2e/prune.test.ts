import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { expectText, useWorkbench } from './harness';

/** Accepts code-server's save dialog (a path box) once it holds the default name `name`, beside the source. */
async function acceptSaveDialog(page: Page, name: string): Promise<void> {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await page.waitForFunction(
    (expected) =>
      (document.querySelector('.quick-input-widget .quick-input-box input') as HTMLInputElement | null)?.value.endsWith(expected),
    name,
    { timeout: 15_000 },
  );
  // The dialog checks the path before it accepts it: press Enter until it closes.
  for (let attempt = 0; attempt < 10 && (await input.isVisible()); attempt++) {
    await input.press('Enter').catch(() => undefined);
    await page.waitForTimeout(500);
  }
  await input.waitFor({ state: 'hidden', timeout: 10_000 });
}

describe('e2e: Prune to N:M… from the command palette', () => {
  const wb = useWorkbench({ fixtures: ['digits_mlp.onnx'] });

  it('prunes the dense digits MLP to 2:4: the pruned file opens beside it, 100 % compliant, and the source shows what changed', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('fixtures/digits_mlp.onnx');
    await expectText(wb().webview().locator('body'), /fc2\.weight/, 60_000);

    await wb().runCommand('Sparsity Lens: Prune to N:M…', 30_000, { asks: true });
    const page = wb().page;
    const input = page.locator('.quick-input-widget .quick-input-box input');
    const row = (text: string) => page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first();
    // The pattern, then the layers (all three can take 2:4, all picked), then the save dialog.
    await row('NVIDIA sparse tensor cores').waitFor({ state: 'visible', timeout: 15_000 });
    await wb().screenshot('prune-pattern');
    await row('NVIDIA sparse tensor cores').click();
    await row('fc3.weight').waitFor({ state: 'visible', timeout: 60_000 });
    await wb().screenshot('prune-layers');
    await input.press('Enter');
    await acceptSaveDialog(wb().page, 'digits_mlp.pruned-2of4.onnx');

    // The pruned checkpoint opens beside the source, every layer 2:4.
    await page.locator('.tabs-container .tab', { hasText: 'digits_mlp.pruned-2of4.onnx' }).waitFor({ timeout: 60_000 });
    const pruned = wb().webview({ index: 1 });
    await expectText(pruned.locator('.verdict'), /^2:4: 3 of 3 layers comply \(12,608 groups\)\.$/, 60_000);
    // The source's editor compares it with the pruned file: half of each weight turned off (README: 25,216 of 50,432 kept).
    const source = wb().webview({ index: 0 });
    await expectText(
      source.locator('.compare-summary'),
      /Compared with digits_mlp\.pruned-2of4\.onnx: 6 tensors matched; 0 positions turned on and 25,216 turned off/,
      60_000,
    );
    const notes = await wb().notifications();
    assert.ok(
      notes.some((n) => /Pruned 3 layers of digits_mlp\.onnx: 25,216 weights removed/.test(n)),
      `a summary notification: ${JSON.stringify(notes)}`,
    );
    await wb().screenshot('prune-result');

    const folder = path.join(wb().workspace, 'fixtures');
    assert.deepEqual(fs.readdirSync(folder).sort(), ['digits_mlp.onnx', 'digits_mlp.pruned-2of4.onnx'], 'nothing staged is left behind');

    // The pruned file (the focused editor) exported condensed: read back, the same 2:4 weights.
    await wb().runCommand('Sparsity Lens: Export Condensed…', 30_000, { asks: true });
    await acceptSaveDialog(wb().page, 'digits_mlp.pruned-2of4.condensed.safetensors');
    await page.locator('.tabs-container .tab', { hasText: 'digits_mlp.pruned-2of4.condensed.safetensors' }).waitFor({ timeout: 60_000 });
    await expectText(wb().webview().locator('.verdict'), /^2:4: 3 of 3 layers comply \(12,608 groups\)\.$/, 60_000);
    await expectText(page.locator('.notifications-toasts'), /Condensed 3 layers of digits_mlp\.pruned-2of4\.onnx/, 30_000);
    await wb().screenshot('condensed');
  });
});
