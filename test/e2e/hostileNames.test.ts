import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { safetensorsOf } from '../helpers/writers';
import { EXTENSION_ID, expectText, useWorkbench } from './harness';

/** Tensor names that would run code, draw markup or reorder text if the editor used them as HTML. */
const NAMES = [
  '<script>window.__pwned = 1</script>.weight',
  '<img src=x onerror="window.__pwned = 2">.weight',
  '[link](javascript:window.__pwned=3).weight',
  '<!-- comment -->\u202egnp.weight',
];

describe('e2e: hostile tensor names are inert text in the checkpoint editor', () => {
  const wb = useWorkbench();

  it('shows every name as text: nothing runs, no element is injected, no CSP violation', async () => {
    const file = path.join(wb().workspace, 'hostile.safetensors');
    // Weights of [2, 4] (role linear by their names), so the table, charts and heatmap all show them.
    fs.writeFileSync(file, safetensorsOf(new Map(NAMES.map((n, i) => [n, [i, 0, 1, 0, 0, 2, 0, 3]] as const)), [2, 4]));
    try {
      await wb()
        .waitForView('Sparsity Report')
        .catch(() => undefined);
      await wb().quickOpen('hostile.safetensors');
      const view = wb().webview({ extensionId: EXTENSION_ID });
      const body = view.locator('body');
      await expectText(body, /window\.__pwned = 2/, 60_000);
      await body.evaluate(() => {
        const w = window as unknown as { __violations: string[] };
        w.__violations = [];
        document.addEventListener('securitypolicyviolation', (e) => w.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
      });
      // Select each weight: its name reaches the detail header, the chips and the heatmap.
      for (const name of NAMES)
        await view
          .locator('tr', { hasText: name.slice(0, 12) })
          .first()
          .click();
      const text = await body.innerText();
      // A direction override would reorder what follows it ("gnp.weight" read as "thgiew.png"): shown escaped.
      for (const name of NAMES)
        assert.ok(text.includes(name.replace('\u202e', '\\u202e')), `the page shows ${JSON.stringify(name)} as text`);
      assert.ok(!text.includes('\u202e'), 'no raw direction override on the page');
      const state = await body.evaluate(() => ({
        pwned: (window as unknown as { __pwned?: number }).__pwned ?? null,
        // Elements the names would have made, had they been parsed as HTML (VS Code's own script aside).
        injected: Array.from(document.querySelectorAll('img[src="x"], a[href^="javascript:"], script'))
          .filter((e) => e.tagName !== 'SCRIPT' || (e.textContent ?? '').includes('__pwned'))
          .map((e) => e.outerHTML.slice(0, 200)),
        violations: (window as unknown as { __violations: string[] }).__violations,
      }));
      assert.deepEqual(state, { pwned: null, injected: [], violations: [] });
      await wb().screenshot('hostile-names');
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
