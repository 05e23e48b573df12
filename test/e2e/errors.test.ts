import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectText, REPO, useWorkbench } from './harness';

describe('e2e: errors a user understands', () => {
  const wb = useWorkbench();

  it('a truncated ONNX file: one sentence with the sizes, Show Log with the details, Reopen once it is whole', async () => {
    const whole = fs.readFileSync(path.join(REPO, 'examples', 'digits_mlp_24.onnx'));
    const file = path.join(wb().workspace, 'cut.onnx');
    fs.writeFileSync(file, whole.subarray(0, 30_000));
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().runCommand('Refresh Explorer');
    await wb().openFromExplorer('cut.onnx');
    const view = wb().webview();
    // 30,000 bytes = 29.3 KiB; the graph field runs to the end of the real file (test/unit/errorHeadlines.test.ts decodes it).
    const sentence = await expectText(
      view.locator('.banner-text'),
      /^Truncated: the file ends at 29\.3 KiB but its graph needs \d+\.\d KiB\.$/,
      60_000,
    );
    assert.doesNotMatch(sentence, /protobuf|field 7/, 'no parser words in the editor');
    await wb().screenshot('error-truncated', view.locator('.banner'));

    await view.locator('vscode-button', { hasText: 'Show Log' }).click();
    await expectText(wb().page.locator('.output-view, .panel .monaco-editor').first(), /malformed\sprotobuf:\sfield\s7\sdeclares/, 30_000);

    fs.writeFileSync(file, whole);
    await view.locator('vscode-button', { hasText: 'Reopen' }).click();
    await expectText(view.locator('.verdict'), /^2:4: 3 of 3 layers comply/, 60_000);
    assert.equal(await view.locator('.banner').isVisible(), false);
  });
});
