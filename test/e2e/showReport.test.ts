import { EXTENSION_ID, expectText, MARKDOWN_PREVIEW, useWorkbench } from './harness';

const FIGURES = [
  /weights \(linear \+ conv\): 25216 of 50432 non-zero, sparsity 50\.00%/,
  /all tensors: 25610 of 50826 non-zero/,
  /2:4 compliant groups: 12608 of 12608 \(100\.00%\)/,
  /fc2\.weight/,
];

describe('e2e: Show Report', () => {
  const wb = useWorkbench();

  async function expectPreviewFigures(): Promise<void> {
    // The preview's own frame: .onnx files open in the checkpoint editor, a webview too. A webview
    // can take up to 30 s to appear when another one was hidden while still loading (VS Code's
    // webview service worker waits out the aborted requests), hence the long wait.
    const text = await expectText(wb().webview({ extensionId: MARKDOWN_PREVIEW }).locator('body'), FIGURES[0], 60_000);
    for (const figure of FIGURES) if (!figure.test(text)) throw new Error(`the preview lacks ${figure}:\n${text}`);
  }

  it('from the command palette, with the example opened from the explorer, previews the reference figures', async () => {
    await wb().waitForView('Sparsity Report');
    await wb().openFromExplorer('digits_mlp_24.onnx');
    // As a person would: the checkpoint editor has shown the file before the command runs.
    await expectText(wb().webview({ extensionId: EXTENSION_ID }).locator('body'), /fc2\.weight/, 60_000);
    await wb().runCommand('Sparsity Lens: Show Report');
    await expectPreviewFigures();
    await wb().screenshot('show-report-preview');
  });

  it('from the explorer context menu of a safetensors file in a folder', async () => {
    await wb().explorerContextMenu('fixtures/digits_mlp_unstructured80.safetensors', 'Show Report');
    const text = await expectText(
      wb().webview({ extensionId: MARKDOWN_PREVIEW }).locator('body'),
      /weights \(linear \+ conv\): 10086 of 50432 non-zero, sparsity 80\.00%/,
      60_000,
    );
    if (!/2:4 compliant groups: 12040 of 12608/.test(text)) throw new Error(`the preview lacks the 2:4 figures:\n${text}`);
    await wb().screenshot('show-report-context-menu');
  });
});
