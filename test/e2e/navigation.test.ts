import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectText, REPO, useWorkbench } from './harness';

describe('e2e: finding the problems in a weight', () => {
  const wb = useWorkbench();

  it('N / Shift+N step through violating 2:4 groups, D through dead rows, each shown at single-weight zoom', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('fixtures/digits_mlp_unstructured80.safetensors');
    const view = wb().webview();
    await expectText(view.locator('body'), /fc2\.weight/, 60_000);
    await view.locator('table.layers tr', { hasText: 'fc2.weight' }).first().click();
    const canvas = view.locator('canvas.heatmap-canvas');
    await canvas.waitFor({ state: 'visible', timeout: 30_000 });
    const status = view.locator('.heatmap-status');
    // numpy (scripts/fixtures/make_nm_expected.py): fc2's violating groups start at (0, 20), (0, 168), (2, 8) …; its dead rows are 17, 18, 19, 29 …
    await canvas.focus();
    await wb().page.keyboard.press('n');
    await expectText(status, /single weights.*Violating group: row 0, columns 20–23\./, 30_000);
    await wb().page.keyboard.press('n');
    await expectText(status, /Violating group: row 0, columns 168–171\./);
    await wb().page.keyboard.press('n');
    await expectText(status, /Violating group: row 2, columns 8–11\./);
    await wb().page.keyboard.press('Shift+N');
    await expectText(status, /Violating group: row 0, columns 168–171\./);
    await wb().screenshot('navigation-violation', view.locator('.detail-panel'));
    await wb().page.keyboard.press('d');
    await expectText(status, /Dead neuron: row 17 has no non-zero weight\./);
    await wb().page.keyboard.press('d');
    await expectText(status, /Dead neuron: row 18 has no non-zero weight\./);
    // The toolbar does the same, from where the last search stopped (row 18, column 168).
    const all = (
      JSON.parse(fs.readFileSync(path.join(REPO, 'test', 'fixtures', 'nm', 'expected.json'), 'utf8')) as Record<string, unknown>
    )['digits_mlp_unstructured80/fc2.weight/violations/2:4'] as [number, number][];
    const [row, col] = all.find(([r, c]) => r > 18 || (r === 18 && c > 168))!;
    await view.locator('vscode-toolbar-button[label="Next violating group (N)"]').click();
    await expectText(status, new RegExp(`Violating group: row ${row}, columns ${col}–${col + 3}\\.`));
  });
});
