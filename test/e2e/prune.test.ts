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

  it('prunes to constant fan-in: sparsity, then the distribution with each layer’s k previewed; every neuron of the result keeps k', async () => {
    // A clean editor area after the test before.
    await wb().runCommand('View: Close All Editor Groups');
    await wb().openFromExplorer('fixtures/digits_mlp.onnx');
    await expectText(wb().webview().locator('body'), /fc2\.weight/, 60_000);
    await wb().runCommand('Sparsity Lens: Prune to Constant Fan-in…', 30_000, { asks: true });
    const page = wb().page;
    const input = page.locator('.quick-input-widget .quick-input-box input');
    const row = (text: string) => page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first();
    await row('0.9').waitFor({ state: 'visible', timeout: 15_000 });
    await page
      .locator('.quick-input-list .monaco-list-row', { hasText: /^0\.9$/ })
      .first()
      .click();
    // ERK at 0.9, by hand (spec §1.2; see test/unit/prune/pruneSafetensors.test.ts): k = 7, 17, 82.
    const erk = row('ERK');
    await erk.waitFor({ state: 'visible', timeout: 15_000 });
    assert.match(await erk.innerText(), /fc1\.weight k=7 \(11\.7 %\) · fc2\.weight k=17 \(7\.0 %\) · fc3\.weight k=82 \(64\.6 %\)/);
    await wb().screenshot('prune-fanin-distribution');
    await erk.click();
    await row('k = 7 of 64').waitFor({ state: 'visible', timeout: 15_000 });
    await input.press('Enter');
    await acceptSaveDialog(page, 'digits_mlp.fanin90.onnx');
    await page.locator('.tabs-container .tab', { hasText: 'digits_mlp.fanin90.onnx' }).waitFor({ timeout: 60_000 });
    // The pruned checkpoint beside, checked for the structure just made: constant fan-in.
    await expectText(wb().webview({ index: 1 }).locator('.verdict'), /^Constant fan-in: 3 of 3 layers, k = 7 \/ 17 \/ 82\.$/, 60_000);
    const notes = await wb().notifications();
    assert.ok(
      notes.some((n) => /Pruned 3 layers of digits_mlp\.onnx: 45,644 weights removed, every pruned layer verified constant fan-in/.test(n)),
      `a summary notification: ${JSON.stringify(notes)}`,
    );
    await wb().screenshot('prune-fanin-result');
  });
});
