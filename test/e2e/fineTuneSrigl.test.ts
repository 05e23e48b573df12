import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Page } from 'playwright-core';
import { expectText, lowContrastText, useWorkbench } from './harness';

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
  // The dialog checks the path before it accepts it: press Enter until the box moves on.
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

/** Colours the mask canvas holds (a canvas left blank holds one). */
async function canvasColours(view: FrameLocator, selector: string): Promise<number> {
  return view.locator(selector).evaluate((canvas: HTMLCanvasElement) => {
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    const seen = new Set<number>();
    for (let i = 0; i < data.length && seen.size < 64; i += 4) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
  });
}

describe('e2e: Fine-tune with SRigL…', () => {
  const wb = useWorkbench({ fixtures: ['digits_mlp.onnx', 'train/digits.npz'] });
  const row = (text: string | RegExp) => wb().page.locator('.quick-input-list .monaco-list-row', { hasText: text }).first();
  /** The quick pick row whose label is exactly `label`. */
  const labelled = (label: string) =>
    wb()
      .page.locator('.quick-input-list .monaco-list-row')
      .filter({ has: wb().page.getByText(label, { exact: true }) })
      .first();

  it('trains digits_mlp with SRigL at 90 % (ERK) from the palette: the plan previewed, the masks of the last update drawn, the result opened beside it', async function () {
    this.timeout(300_000);
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('fixtures/digits_mlp.onnx');
    const source = wb().webview({ index: 0 });
    await expectText(source.locator('body'), /fc2\.weight/, 60_000);
    const page = wb().page;

    await wb().runCommand('Sparsity Lens: Fine-tune with SRigL…', 30_000, { asks: true });
    await acceptOpenDialog(page, path.join(wb().workspace, 'fixtures'), 'digits.npz');
    const title = page.locator('.quick-input-widget .quick-input-title');

    // The sparsity: 0.8, 0.9, 0.95 or another.
    await expectText(title, /^Fine-tune digits_mlp\.onnx with SRigL: global sparsity$/, 15_000);
    await row('0.95').waitFor({ state: 'visible' });
    await expectText(labelled('0.9'), /keeps 10 % of the linear and conv weights/, 5_000);
    await wb().screenshot('fine-tune-srigl-sparsity');
    await labelled('0.9').click();

    // The distribution: each with its plan, every layer's k and density.
    await expectText(title, /^Fine-tune digits_mlp\.onnx with SRigL: sparsity 0\.9 over the layers$/, 30_000);
    await expectText(labelled('ERK'), /fc1\.weight k=7 \(11\.7 %\) · fc2\.weight k=17 \(7\.0 %\) · fc3\.weight k=82 \(64\.6 %\)/, 15_000);
    await expectText(
      labelled('Uniform'),
      /fc1\.weight k=6 \(10\.0 %\) · fc2\.weight k=25 \(10\.0 %\) · fc3\.weight k=12 \(10\.0 %\)/,
      5_000,
    );
    await wb().screenshot('fine-tune-srigl-distribution');
    await labelled('ERK').click();

    // The epochs: how often the masks move is told as they are typed.
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await expectText(page.locator('.quick-input-widget'), /1,437 training samples, in batches of 128: 12 steps each/, 15_000);
    await input.fill('60');
    await expectText(
      page.locator('.quick-input-widget .quick-input-message'),
      /^60 epochs of 12 steps: 35 mask updates, every 15 steps until step 540$/,
      10_000,
    );
    await wb().screenshot('fine-tune-srigl-epochs');
    await input.press('Enter');
    await input.waitFor({ state: 'hidden', timeout: 10_000 });

    // The chart, then the masks with the figures; done: the run's sentence, the last update's masks.
    const section = source.locator('.section.training');
    await section.waitFor({ state: 'visible', timeout: 60_000 });
    await source.locator('.chart-training canvas').waitFor({ state: 'visible', timeout: 30_000 });
    const masks = source.locator('.srigl');
    await masks.waitFor({ state: 'visible', timeout: 30_000 });
    await expectText(
      source.locator('.training-status-text'),
      /^Done: 720 steps in [\d.]+ s \([\d,]+ steps\/s\), 35 mask updates moved [\d,]+ weights; saved and verified digits_mlp\.srigl90\.onnx\.$/,
      180_000,
    );
    const status = source.locator('.srigl-status');
    await expectText(
      status,
      /^Update 35 of 35 at step 525 · drop fraction 0\.\d{3} · [\d,]+ weights? moved · \d+ neurons? ablated$/,
      10_000,
    );
    const figures = source.locator('.srigl-layer-figures');
    await expectText(
      figures,
      /^fc1\.weight after update 35 \(step 525\): every active neuron has fan-in \d+ of 64 inputs · \d+ of 256 neurons active(, \d+ ablated)? · [\d,]+ weights \(\d+\.\d%\)$/,
      10_000,
    );
    assert.ok((await canvasColours(source, '.srigl-mask-canvas')) > 3, 'the mask and its fan-in bars are drawn');
    await expectText(
      source.locator('.srigl-k'),
      /^k per layer: fc1\.weight \d+ of 64 · fc2\.weight \d+ of 256 · fc3\.weight 82 of 128$/,
      10_000,
    );
    assert.match((await section.getAttribute('description')) ?? '', /^SRigL 90 % \(ERK\) · digits\.npz → digits_mlp\.srigl90\.onnx$/);

    // Another layer: its mask drawn.
    await source.locator('vscode-single-select.srigl-select').click();
    await source.locator('vscode-single-select.srigl-select li[role="option"]', { hasText: 'fc2.weight' }).click();
    await expectText(figures, /^fc2\.weight after update 35 \(step 525\): every active neuron has fan-in \d+ of 256 inputs/, 15_000);

    // The result beside, checked for constant fan-in, compared with the source.
    await page.locator('.tabs-container .tab', { hasText: 'digits_mlp.srigl90.onnx' }).waitFor({ timeout: 60_000 });
    const result = wb().webview({ index: 1 });
    // (Ablated neurons are all-zero rows, which the verdict counts as fan-in 0: with ablation it says the layers vary, "fan-in 0–k".)
    await expectText(
      result.locator('.verdict'),
      /^(Constant fan-in: 3 of 3 layers|Not constant fan-in: \d of 3 layers vary \(fan-in 0–)/,
      60_000,
    );
    await expectText(source.locator('.compare-summary'), /Compared with digits_mlp\.srigl90\.onnx: 6 tensors matched/, 60_000);
    await expectText(
      page.locator('.notifications-toasts'),
      /Fine-tuned digits_mlp\.onnx with SRigL → digits_mlp\.srigl90\.onnx: test accuracy \d+\.\d % with the first masks → \d+\.\d % \(\d+\/360\); 35 mask updates moved [\d,]+ weights; verified\./,
      30_000,
    );
    await wb().screenshot('fine-tune-srigl-done');
    assert.deepEqual(
      fs.readdirSync(path.join(wb().workspace, 'fixtures')).sort(),
      ['digits.npz', 'digits_mlp.onnx', 'digits_mlp.srigl90.onnx'],
      'the output beside the model, nothing staged left behind',
    );

    // The masks in every theme: drawn in its colours, the text readable.
    await masks.scrollIntoViewIfNeeded();
    await wb().screenshot('fine-tune-srigl-masks', masks);
    try {
      for (const [theme, tag] of [
        ['Dark Modern', 'dark'],
        ['Dark High Contrast', 'high-contrast'],
        ['Light High Contrast', 'high-contrast-light'],
      ]) {
        await wb().setColorTheme(theme);
        await page.waitForTimeout(500);
        assert.ok((await canvasColours(source, '.srigl-mask-canvas')) > 3, theme);
        await masks.scrollIntoViewIfNeeded();
        await wb().screenshot(`fine-tune-srigl-masks-${tag}`, masks);
        assert.deepEqual(await lowContrastText(source), [], theme);
      }
    } finally {
      await wb().setColorTheme('Light Modern');
    }

    // A reload: the figures from the webview's state, the masks told again by the host.
    await wb().runCommand('Developer: Reload Webviews');
    await expectText(status, /^Update 35 of 35 at step 525/, 60_000);
    await expectText(figures, /^fc2\.weight after update 35 \(step 525\): every active neuron has fan-in/, 30_000);
    assert.ok((await canvasColours(source, '.srigl-mask-canvas')) > 3);
  });

  it('from the explorer: a long run redraws the masks after each update while it runs; cancelled, saves the weights of its last step', async function () {
    this.timeout(300_000);
    const page = wb().page;
    const source = wb().webview({ index: 0 });
    await wb().explorerContextMenu('fixtures/digits_mlp.onnx', 'Fine-tune with SRigL…');
    await acceptOpenDialog(page, path.join(wb().workspace, 'fixtures'), 'digits.npz');
    await labelled('0.95').click();
    await expectText(labelled('Uniform'), /fc1\.weight k=3 \(5\.0 %\) · fc2\.weight k=12 \(5\.0 %\) · fc3\.weight k=6 \(5\.0 %\)/, 30_000);
    await labelled('Uniform').click();
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await expectText(page.locator('.quick-input-widget'), /12 steps each/, 15_000);
    await input.fill('20000');
    await expectText(
      page.locator('.quick-input-widget .quick-input-message'),
      /^20,000 epochs of 12 steps: 35 mask updates, every 5,000 steps until step 180,000$/,
      10_000,
    );
    await input.press('Enter');
    await input.waitFor({ state: 'hidden', timeout: 10_000 });

    // Live: the run goes on while the masks move, update after update.
    const running = source.locator('.training-status-text');
    await expectText(running, /^Step [\d,]+ of 240,000 · epoch/, 60_000);
    const status = source.locator('.srigl-status');
    const masks = source.locator('.srigl');
    const figures = source.locator('.srigl-layer-figures');
    await expectText(status, /^Update [1-9]\d* of 35 at step [\d,]+ · drop fraction 0\.\d{3}/, 120_000);
    // The layer's mask is redrawn after the next update: its figures name it.
    const first = await expectText(
      figures,
      /^fc1\.weight after update \d+ \(step [\d,]+\): every active neuron has fan-in \d+ of 64 inputs/,
      30_000,
    );
    const shown = /after update (\d+) /.exec(first)![1];
    await expectText(
      figures,
      new RegExp(`^fc1\\.weight after update (?!${shown} )\\d+ \\(step [\\d,]+\\): every active neuron has fan-in`),
      120_000,
    );
    const later = await status.innerText();
    await expectText(running, /^Step [\d,]+ of 240,000 · epoch [\d,]+ of 20,000 · [\d,.]+ steps\/s/, 5_000);
    assert.match(
      (await source.locator('.section.training').getAttribute('description')) ?? '',
      /^SRigL 95 % \(Uniform\) · digits\.npz → digits_mlp\.srigl95\.onnx$/,
    );
    assert.ok((await canvasColours(source, '.srigl-mask-canvas')) > 3);
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'Fine-tuning digits_mlp.onnx' });
    await expectText(toast, /Fine-tuning digits_mlp\.onnx: epoch \d+\/20000, loss [\d.]+, test \d+\.\d %, mask update \d+\/35/, 30_000);
    await masks.scrollIntoViewIfNeeded();
    await wb().screenshot('fine-tune-srigl-live');
    console.log(`      live: ${later} | ${await running.innerText()}`);

    // Cancelled: the weights of the step it stopped at, saved and opened.
    await toast.hover();
    await toast.locator('.monaco-button', { hasText: 'Cancel' }).click();
    const dialog = page.locator('.monaco-dialog-box');
    const save = dialog.locator('.monaco-button', { hasText: /^Save the weights of step [\d,]+$/ });
    await save.waitFor({ state: 'visible', timeout: 30_000 });
    const step = (/step ([\d,]+)$/.exec(await save.innerText()) ?? [])[1];
    await save.click();
    await page.locator('.tabs-container .tab', { hasText: 'digits_mlp.srigl95.onnx' }).waitFor({ timeout: 60_000 });
    await expectText(
      running,
      new RegExp(
        `^Stopped at step ${step} of 240,000 \\(\\d+ mask updates? moved [\\d,]+ weights?\\); its weights were saved and verified as digits_mlp\\.srigl95\\.onnx\\.$`,
      ),
      60_000,
    );
    await expectText(
      page.locator('.notifications-toasts'),
      /Saved the partly fine-tuned digits_mlp\.onnx with SRigL → digits_mlp\.srigl95\.onnx: test accuracy/,
      30_000,
    );
    await expectText(wb().webview({ index: 1 }).locator('.verdict'), /fan-in/, 60_000);
    await source.locator('.training-head').scrollIntoViewIfNeeded();
    await wb().screenshot('fine-tune-srigl-saved-after-cancel');
    assert.ok(fs.existsSync(path.join(wb().workspace, 'fixtures', 'digits_mlp.srigl95.onnx')));
  });
});
