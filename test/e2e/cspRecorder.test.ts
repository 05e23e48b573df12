import { strict as assert } from 'node:assert';
import { EXTENSION_ID, expectText, useWorkbench } from './harness';

// Every e2e test fails when a frame reports a Content-Security-Policy violation (harness.ts). This
// file shows the recorder is really there: violations made on purpose in a webview's content
// frame, in a frame filled by document.open() and in a srcdoc frame are all caught.
describe('e2e: the harness records CSP violations in every frame', () => {
  const wb = useWorkbench();

  it('catches an inline script and an untrusted image in the checkpoint editor’s webview frame', async () => {
    await wb().waitForView('Sparsity Report');
    await wb().openFromExplorer('digits_mlp_24.onnx');
    const body = wb().webview({ extensionId: EXTENSION_ID }).locator('body');
    await expectText(body, /fc2\.weight/, 60_000);
    assert.deepEqual(await wb().takeViolations(), [], 'the editor itself breaks no policy');
    const frame = await body.evaluate(() => {
      // The script is inserted as an element (innerHTML scripts never run, policy or not).
      const script = document.createElement('script');
      script.textContent = 'window.__ranInline = 1';
      document.body.appendChild(script);
      const img = document.createElement('img');
      img.src = 'https://untrusted.invalid/pixel.png';
      document.body.appendChild(img);
      const state = (window as unknown as { __sparsityLensCsp?: { installs: number } }).__sparsityLensCsp;
      return {
        url: location.href,
        installs: state?.installs ?? 0,
        ran: (window as unknown as { __ranInline?: number }).__ranInline ?? null,
      };
    });
    assert.equal(frame.ran, null, 'the webview policy blocked the inline script');
    // VS Code fills the content frame by document.open(): the listener was added again after it.
    assert.ok(frame.installs >= 2, `the recorder was installed again after document.open (${frame.installs} installs)`);
    const seen = await wb().takeViolations(1000);
    const here = seen.filter((v) => v.url === frame.url);
    assert.deepEqual(
      here.map((v) => v.directive).sort(),
      ['img-src', 'script-src-elem'],
      `both violations reported by the webview content frame: ${JSON.stringify(seen)}`,
    );
    assert.ok(
      here.some((v) => v.blocked.startsWith('https://untrusted.invalid/')),
      'the image is named',
    );
  });

  it('catches violations in frames made by document.open() and by srcdoc', async () => {
    const made = await wb().page.evaluate(async () => {
      const policy = `<meta http-equiv="Content-Security-Policy" content="img-src 'none'">`;
      const opened = document.createElement('iframe');
      document.body.appendChild(opened);
      const doc = opened.contentDocument!;
      doc.open();
      doc.write(`<!DOCTYPE html><html><head>${policy}</head><body><img src="https://untrusted.invalid/opened.png"></body></html>`);
      doc.close();
      const srcdoc = document.createElement('iframe');
      srcdoc.srcdoc = `<!DOCTYPE html><html><head>${policy}</head><body><img src="https://untrusted.invalid/srcdoc.png"></body></html>`;
      const loaded = new Promise((r) => srcdoc.addEventListener('load', r, { once: true }));
      document.body.appendChild(srcdoc);
      await loaded;
      await new Promise((r) => setTimeout(r, 300));
      opened.remove();
      srcdoc.remove();
      return true;
    });
    assert.ok(made);
    const blocked = (await wb().takeViolations(1000)).map((v) => v.blocked).sort();
    assert.deepEqual(blocked, ['https://untrusted.invalid/opened.png', 'https://untrusted.invalid/srcdoc.png']);
  });
});
