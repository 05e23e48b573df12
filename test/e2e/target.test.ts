import { strict as assert } from 'node:assert';
import type { FrameLocator } from 'playwright-core';
import { expectText, lowContrastText, useWorkbench } from './harness';

/** Picks an entry of the editor's target selector, as a user does: open the list, click the entry. */
async function chooseTarget(view: FrameLocator, label: string): Promise<void> {
  await view.locator('vscode-single-select.target-select').click();
  await view.locator('vscode-single-select.target-select li[role="option"]', { hasText: label }).click();
}

describe('e2e: the editor answers for a target structure', () => {
  const wb = useWorkbench();

  it('an unstructured 80 % model: not 2:4 with the groups that violate and what projecting removes; not constant fan-in', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('digits_mlp_unstructured80.pt');
    const view = wb().webview();
    // 568 groups violate; projecting removes 618 of 10,086 non-zeros (numpy: scripts/fixtures/make_nm_expected.py).
    await expectText(
      view.locator('.verdict'),
      /^Not 2:4: 3 of 3 layers, 568 groups violate; projecting to 2:4 removes 6\.1% of the non-zeros\.$/,
      60_000,
    );
    await expectText(view.locator('.stat-target'), /568 violate/);
    await wb().screenshot('target-nm-unstructured', view.locator('body'));

    await chooseTarget(view, 'Constant fan-in');
    await expectText(view.locator('.verdict'), /^Not constant fan-in: 3 of 3 layers vary \(fan-in 1–31, 0–64, 28–54\)\.$/);
    await wb().screenshot('target-fan-in-unstructured', view.locator('body'));
    // The answer in the light and high-contrast themes too, its text readable (≥ 4.5:1) in each.
    try {
      for (const [theme, shot] of [
        ['Light Modern', 'target-fan-in-light'],
        ['Dark High Contrast', 'target-fan-in-high-contrast'],
        ['Dark Modern', 'target-fan-in-dark'],
      ]) {
        await wb().setColorTheme(theme);
        await wb().page.waitForTimeout(500);
        await wb().screenshot(shot, view.locator('body'));
        assert.deepEqual(await lowContrastText(view), [], `text below 4.5:1 in ${theme}`);
      }
    } finally {
      await wb().setColorTheme('Dark Modern');
    }
    await chooseTarget(view, '2:4');
    await expectText(view.locator('.verdict'), /^Not 2:4/);
  });

  it('a 2:4 model complies with 2:4 and has constant fan-in k = 32 / 128 / 64; no layer warns about the other target', async () => {
    await wb().openFromExplorer('digits_mlp_24.onnx');
    const view = wb().webview();
    await expectText(view.locator('.verdict'), /^2:4: 3 of 3 layers comply \(12,608 groups\)\.$/, 60_000);
    await chooseTarget(view, 'Constant fan-in');
    await expectText(view.locator('.verdict'), /^Constant fan-in: 3 of 3 layers, k = 32 \/ 128 \/ 64\.$/);
    // tensor-core-shape (fc3's 10 outputs) concerns 2:4 kernels only: no warning for this target.
    assert.equal(await view.locator('table.layers .status-warn').count(), 0);
    assert.equal(await view.locator('table.layers .status-ok .codicon-pass').count(), 3);
    await wb().screenshot('target-fan-in-24', view.locator('body'));
    await chooseTarget(view, '2:4');
    await expectText(view.locator('.verdict'), /^2:4: /);
  });

  it('a dense model is dense — not pruned, never a pass nor a failure', async () => {
    await wb().openFromExplorer('digits_mlp.npz');
    const view = wb().webview();
    await expectText(view.locator('.verdict'), /^Dense — not pruned: none of the 3 weight layers has a zero\.$/, 60_000);
    const fc1 = view.locator('table.layers tr', { hasText: 'fc1.weight' }).first();
    const row = await fc1.innerText();
    assert.match(row, /dense/);
    assert.doesNotMatch(row, /k = 64/);
    assert.equal(await view.locator('table.layers .codicon-pass').count(), 0, 'no green pass');
    await expectText(view.locator('.stats'), /CONSTANT FAN-IN\s*dense/i);
    await wb().screenshot('target-dense', view.locator('body'));
  });

  it('Check N:M… switches the open editor to the pattern picked', async () => {
    await wb().openFromExplorer('digits_mlp_24.onnx');
    const view = wb().webview();
    await expectText(view.locator('.verdict'), /^2:4: /, 60_000);
    await wb().runCommand('Sparsity Lens: Check N:M…', 30_000, { asks: true });
    await wb().page.locator('.quick-input-list .monaco-list-row', { hasText: '1:4' }).first().click();
    // Every group of 4 holds 2 non-zeros, one past 1:4: half the non-zeros go.
    await expectText(
      view.locator('.verdict'),
      /^Not 1:4: 3 of 3 layers, 12,608 groups violate; projecting to 1:4 removes 50% of the non-zeros\.$/,
      60_000,
    );
    assert.equal((await wb().tabs()).filter((t) => /preview/i.test(t)).length, 0, 'no Markdown preview');
    await wb().screenshot('target-check-nm', view.locator('.summary-slot'));
    await chooseTarget(view, '2:4');
    await expectText(view.locator('.verdict'), /^2:4: 3 of 3 layers comply/, 60_000);
  });
});
