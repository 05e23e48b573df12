import { strict as assert } from 'node:assert';
import { expectText, useWorkbench } from './harness';

describe('e2e: findings in the Problems panel', () => {
  const wb = useWorkbench();

  it('lists each layer’s findings, and a click on one shows that layer in the checkpoint editor', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('fixtures/digits_mlp_unstructured80.safetensors');
    const view = wb().webview();
    await expectText(view.locator('.detail-title'), /fc1\.weight/, 60_000);

    await wb().runCommand('Problems: Focus on Problems View');
    const rows = wb().page.locator('.markers-panel .monaco-list-row');
    const fc2 = rows.filter({ hasText: 'fc2.weight: ' }).first();
    await fc2.waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(await rows.allInnerTexts().then((t) => t.join('\n')), /fc3\.weight: /);
    await wb().screenshot('problems-panel', wb().page.locator('.markers-panel'));

    await fc2.click();
    await expectText(view.locator('.detail-title'), /fc2\.weight/, 30_000);
    const tabs = await wb().tabs();
    assert.equal(tabs.filter((t) => t.includes('digits_mlp_unstructured80')).length, 1, `one editor tab: ${JSON.stringify(tabs)}`);
  });
});
