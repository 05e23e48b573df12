import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { expectText, lowContrastText, useWorkbench, type Workbench } from './harness';

/** Answers code-server's open dialog (a path box starting in the model's folder) with `name` in that folder. */
async function acceptOpenDialog(page: Page, folder: string, name: string): Promise<void> {
  const input = page.locator('.quick-input-widget .quick-input-box input');
  await page.waitForFunction(
    (expected) =>
      (document.querySelector('.quick-input-widget .quick-input-box input') as HTMLInputElement | null)?.value.startsWith(expected),
    folder,
    { timeout: 15_000 },
  );
  const typed = path.join(folder, name);
  await input.fill(typed);
  // The dialog checks the path before it accepts it: press Enter until the box moves on (the same
  // quick input then asks the next question, so its visibility says nothing).
  for (let attempt = 0; attempt < 10; attempt++) {
    await input.press('Enter').catch(() => undefined);
    const moved = await page
      .waitForFunction(
        (value) => (document.querySelector('.quick-input-widget .quick-input-box input') as HTMLInputElement | null)?.value !== value,
        typed,
        { timeout: 1_500 },
      )
      .then(
        () => true,
        () => false,
      );
    if (moved) return;
  }
  throw new Error(`the open dialog did not take ${typed}`);
}

/**
 * Runs "Fine-tune…" on the open model from the palette (or from the explorer's context menu of
 * `fromExplorer`): the data, the method (a quick pick row's text) and the epochs answered as a person does.
 */
async function startFineTune(
  wb: Workbench,
  method: string,
  epochs: string,
  options: { screenshots?: boolean; fromExplorer?: string } = {},
): Promise<void> {
  const page = wb.page;
  if (options.fromExplorer) await wb.explorerContextMenu(options.fromExplorer, 'Fine-tune…');
  else await wb.runCommand('Sparsity Lens: Fine-tune…', 30_000, { asks: true });
  await acceptOpenDialog(page, path.join(wb.workspace, 'fixtures'), 'digits.npz');
  const row = (text: string) => page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first();
  await row(method).waitFor({ state: 'visible', timeout: 15_000 });
  if (options.screenshots) await wb.screenshot('fine-tune-method');
  await row(method).click();
  const input = page.locator('.quick-input-widget .quick-input-box input');
  // The epochs: 20 by default, the steps per epoch told.
  await expectText(page.locator('.quick-input-widget'), /1,437 training samples, in batches of 128: 12 steps each/, 15_000);
  assert.equal(await input.inputValue(), '20');
  await input.fill(epochs);
  await input.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: 10_000 });
}

describe('e2e: Fine-tune… an ONNX model', () => {
  const wb = useWorkbench({ fixtures: ['digits_mlp.onnx', 'train/digits.npz'] });

  it('prunes digits_mlp to 2:4 and fine-tunes it 3 epochs: the run shows live in its editor, the result opens beside it, verified', async function () {
    this.timeout(240_000);
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('fixtures/digits_mlp.onnx');
    const source = wb().webview({ index: 0 });
    await expectText(source.locator('body'), /fc2\.weight/, 60_000);

    await startFineTune(wb(), 'Prune to 2:4, then fine-tune', '3', { screenshots: true });
    const page = wb().page;

    // The Fine-tuning section at the top of the model's editor, with its chart.
    const section = source.locator('.section.training');
    await section.waitFor({ state: 'visible', timeout: 60_000 });
    await source.locator('.chart-training canvas').waitFor({ state: 'visible', timeout: 30_000 });
    // 36 steps take a fraction of a second: the live view is seen in the long run below.

    // Done: the status line, the figures, the result beside, the source compared with it.
    await expectText(
      source.locator('.training-status-text'),
      /^Done: 36 steps in [\d.]+ s \([\d,]+ steps\/s\); saved and verified digits_mlp\.finetuned\.onnx\.$/,
      120_000,
    );
    await expectText(source.locator('.training-figures'), /^test accuracy \d+\.\d% → \d+\.\d% · train loss [\d.]+$/, 10_000);
    assert.match(
      (await section.getAttribute('description')) ?? '',
      /^Prune to 2:4, then fine-tune · digits\.npz → digits_mlp\.finetuned\.onnx$/,
    );
    await page.locator('.tabs-container .tab', { hasText: 'digits_mlp.finetuned.onnx' }).waitFor({ timeout: 60_000 });
    const result = wb().webview({ index: 1 });
    await expectText(result.locator('.verdict'), /^2:4: 3 of 3 layers comply \(12,608 groups\)\.$/, 60_000);
    await expectText(source.locator('.compare-summary'), /Compared with digits_mlp\.finetuned\.onnx: 6 tensors matched/, 60_000);
    await expectText(
      page.locator('.notifications-toasts'),
      /Fine-tuned digits_mlp\.onnx → digits_mlp\.finetuned\.onnx: test accuracy \d+\.\d % after pruning → \d+\.\d % \(\d+\/360\); verified\./,
      30_000,
    );
    await wb().screenshot('fine-tune-done');
    await wb().screenshot('fine-tune-section', section);

    const folder = path.join(wb().workspace, 'fixtures');
    assert.deepEqual(
      fs.readdirSync(folder).sort(),
      ['digits.npz', 'digits_mlp.finetuned.onnx', 'digits_mlp.onnx'],
      'the output beside the model, nothing staged left behind',
    );

    // The section is drawn in the other themes too, its text readable.
    try {
      for (const [theme, tag] of [
        ['Light Modern', 'light'],
        ['Dark High Contrast', 'high-contrast'],
        ['Light High Contrast', 'high-contrast-light'],
      ]) {
        await wb().setColorTheme(theme);
        await page.waitForTimeout(500);
        await wb().screenshot(`fine-tune-section-${tag}`, section);
        assert.deepEqual(await lowContrastText(source), [], theme);
      }
    } finally {
      await wb().setColorTheme('Dark Modern');
    }

    // The run survives a reload of the webview; closed, it stays closed.
    await wb().runCommand('Developer: Reload Webviews');
    await expectText(source.locator('.training-status-text'), /^Done: 36 steps/, 60_000);
    await expectText(source.locator('.training-figures'), /^test accuracy \d+\.\d% → \d+\.\d%/, 10_000);
    await source.locator('.chart-training canvas').waitFor({ state: 'visible', timeout: 10_000 });
    await source.locator('vscode-toolbar-button[label="Hide until the next fine-tune"]').click();
    await section.waitFor({ state: 'hidden', timeout: 10_000 });
    await wb().runCommand('Developer: Reload Webviews');
    await expectText(source.locator('.verdict'), /Dense/, 60_000);
    await page.waitForTimeout(1000);
    assert.equal(await section.isVisible(), false, 'a closed Fine-tuning section stays closed after a reload');

    // Again, from the explorer's context menu: the output exists, so replacing it is asked first.
    await startFineTune(wb(), 'Dense', '1', { fromExplorer: 'fixtures/digits_mlp.onnx' });
    const dialog = page.locator('.monaco-dialog-box');
    await expectText(dialog, /digits_mlp\.finetuned\.onnx already exists\. Replace it with the fine-tuned model\?/, 15_000);
    await dialog.locator('.monaco-button', { hasText: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
  });
});

describe('e2e: Fine-tune… cancelled mid-run, and data under other keys', () => {
  const wb = useWorkbench({ fixtures: ['digits_mlp.onnx', 'train/digits.npz', 'train/digits_renamed.npz'] });

  it('a method the model cannot take is one readable line, in the words of the dialogs', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('fixtures/digits_mlp.onnx');
    await expectText(wb().webview().locator('body'), /fc2\.weight/, 60_000);
    await startFineTune(wb(), 'Keep zeros fixed', '1');
    const toast = wb().page.locator('.notifications-toasts .notification-toast', { hasText: 'Could not fine-tune' });
    await expectText(
      toast,
      /^Could not fine-tune digits_mlp\.onnx: “Keep zeros fixed” keeps the zeros of the weights fixed, but no weight has any \(train it “Dense”, or prune it first\)/,
      30_000,
    );
    await wb().page.waitForTimeout(800); // the progress toast fades out, the error's slides in
    await wb().screenshot('fine-tune-error');
    await toast.hover();
    await toast.locator('.codicon-notifications-clear').click();
  });

  it('stops at a step boundary when cancelled; Discard writes nothing', async () => {
    const source = wb().webview();
    await startFineTune(wb(), 'Prune to 2:4, then fine-tune', '5000');
    const page = wb().page;

    // Live: a step count that grows, steps/s, and the notification saying the epoch.
    const status = source.locator('.training-status-text');
    await expectText(status, /^Step [\d,]+ of 60,000 · epoch \d+ of 5,000 · [\d,.]+ steps\/s · lr 0\.01 · loss [\d.e+-]+$/, 60_000);
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'Fine-tuning digits_mlp.onnx' });
    await expectText(toast, /Fine-tuning digits_mlp\.onnx: epoch \d+\/5000, loss [\d.]+, test \d+\.\d %/, 30_000);
    await page.waitForTimeout(1500);
    await wb().screenshot('fine-tune-live');

    await toast.hover();
    await toast.locator('.monaco-button', { hasText: 'Cancel' }).click();
    const dialog = page.locator('.monaco-dialog-box');
    await expectText(dialog, /Fine-tuning digits_mlp\.onnx stopped at step [\d,]+ of 60,000\./, 30_000);
    const save = dialog.locator('.monaco-button', { hasText: /^Save the weights of step [\d,]+$/ });
    assert.equal(await save.count(), 1, 'the dialog offers to save the weights of the step it stopped at');
    await expectText(status, /^Stopped at step [\d,]+ of 60,000\.$/, 10_000);
    await wb().screenshot('fine-tune-cancel-asked');
    await dialog.locator('.monaco-button', { hasText: 'Discard' }).click();
    await dialog.waitFor({ state: 'hidden', timeout: 10_000 });

    await expectText(status, /^Stopped at step [\d,]+ of 60,000; its weights were discarded, nothing was written\.$/, 10_000);
    await wb().screenshot('fine-tune-discarded');
    assert.deepEqual(
      fs.readdirSync(path.join(wb().workspace, 'fixtures')).sort(),
      ['digits.npz', 'digits_mlp.onnx', 'digits_renamed.npz'],
      'no output, nothing staged',
    );
  });

  it('asks which arrays are which when the .npz lacks the default keys (labels: none, distil); cancelled, saves the weights of its last step', async function () {
    this.timeout(180_000);
    const page = wb().page;
    const source = wb().webview();
    await wb().runCommand('Sparsity Lens: Fine-tune…', 30_000, { asks: true });
    await acceptOpenDialog(page, path.join(wb().workspace, 'fixtures'), 'digits_renamed.npz');
    const title = page.locator('.quick-input-widget .quick-input-title');
    const row = (label: string) =>
      page
        .locator('.quick-input-list .monaco-list-row')
        .filter({ has: page.getByText(label, { exact: true }) })
        .first();
    // Each role among the arrays that fit it: inputs (2-D floats), labels (one integer per sample), test arrays.
    await expectText(title, /^Fine-tune digits_mlp\.onnx: the training inputs in digits_renamed\.npz$/, 15_000);
    await row('val_images').waitFor({ state: 'visible' });
    assert.equal(
      await page.locator('.quick-input-list .monaco-list-row').filter({ visible: true }).count(),
      2,
      'images and val_images only',
    );
    await row('images').click();
    await expectText(title, /^Fine-tune digits_mlp\.onnx: the training labels in digits_renamed\.npz$/, 15_000);
    await row('None — distil the model’s own outputs').waitFor({ state: 'visible' });
    await wb().screenshot('fine-tune-arrays');
    await row('None — distil the model’s own outputs').click();
    await expectText(title, /the test inputs in digits_renamed\.npz$/, 15_000);
    await row('val_images').click();
    await expectText(title, /the test labels in digits_renamed\.npz$/, 15_000);
    await row('val_labels').click();
    await row('Dense').click();
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await expectText(page.locator('.quick-input-widget'), /400 training samples, in batches of 128: 4 steps each/, 15_000);
    await input.fill('5000');
    await input.press('Enter');
    await input.waitFor({ state: 'hidden', timeout: 10_000 });

    const status = source.locator('.training-status-text');
    await expectText(status, /^Step [\d,]+ of 20,000 · epoch [\d,]+ of 5,000/, 60_000);
    await page.waitForTimeout(1000);
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'Fine-tuning digits_mlp.onnx' });
    await toast.hover();
    await toast.locator('.monaco-button', { hasText: 'Cancel' }).click();
    const dialog = page.locator('.monaco-dialog-box');
    const save = dialog.locator('.monaco-button', { hasText: /^Save the weights of step [\d,]+$/ });
    await save.waitFor({ state: 'visible', timeout: 30_000 });
    const step = (/step ([\d,]+)$/.exec(await save.innerText()) ?? [])[1];
    await save.click();

    // Saved, verified, opened beside the model.
    await page.locator('.tabs-container .tab', { hasText: 'digits_mlp.finetuned.onnx' }).waitFor({ timeout: 60_000 });
    await expectText(
      source.locator('.training-status-text'),
      new RegExp(`^Stopped at step ${step} of 20,000; its weights were saved and verified as digits_mlp\\.finetuned\\.onnx\\.$`),
      30_000,
    );
    await expectText(
      page.locator('.notifications-toasts'),
      /Saved the partly fine-tuned digits_mlp\.onnx → digits_mlp\.finetuned\.onnx: test accuracy \d+\.\d % → \d+\.\d % \(\d+\/100\); verified\./,
      30_000,
    );
    await expectText(wb().webview({ index: 1 }).locator('.verdict'), /Dense/, 60_000);
    await wb().screenshot('fine-tune-saved-after-cancel');
    assert.ok(fs.existsSync(path.join(wb().workspace, 'fixtures', 'digits_mlp.finetuned.onnx')));
  });
});
