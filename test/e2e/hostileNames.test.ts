import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { printable } from '../../src/core/errors';
import { safetensorsOf } from '../helpers/writers';
import { EXTENSION_ID, expectText, MARKDOWN_PREVIEW, useWorkbench } from './harness';

// A checkpoint is text someone else wrote: its tensor names and its metadata must never run, draw
// markup, link anywhere or reorder what a person reads. Each piece below would set
// window.__pwned (or add an element) if any view took it as HTML, Markdown or an icon.

/** Tensor names: HTML, a Markdown link, an HTML comment, a direction override, an ANSI escape, an icon, an entity. */
const NAMES = [
  '<script>window.__pwned = 1</script>.weight',
  '<img src=x onerror="window.__pwned = 2">.weight',
  '[link](javascript:window.__pwned=3).weight',
  '<!-- comment -->\u202egnp.weight',
  '<a href="javascript:window.__pwned=4">a</a> \u001b[31mred $(zap) &lt;b&gt;.weight',
];

/** safetensors `__metadata__` is any string → string: the producer line of the editor shows two of them. */
const METADATA: Record<string, string> = {
  producer: '<script>window.__pwned = 11</script><img src=x onerror="window.__pwned = 12">',
  producer_version: '[v](javascript:window.__pwned=13) <!-- c --> \u001b[31m \u202eevil',
  '<img src=x onerror="window.__pwned = 14">': '<script>window.__pwned = 15</script>',
};

/** How a name or value must read: as written, with control and direction characters as escapes. */
const SHOWN = NAMES.map((n) => printable(n));

/** What the page would hold had it taken any of the text as HTML or as a link. */
async function injectedState(target: Page | Locator): Promise<{ pwned: number | null; injected: string[] }> {
  const probe = (): { pwned: number | null; injected: string[] } => ({
    pwned: (window as unknown as { __pwned?: number }).__pwned ?? null,
    injected: Array.from(document.querySelectorAll('img[src="x"], [onerror], a[href^="javascript:"], script'))
      .filter((e) => e.tagName !== 'SCRIPT' || (e.textContent ?? '').includes('__pwned'))
      .map((e) => e.outerHTML.slice(0, 200)),
  });
  return 'goto' in target ? target.evaluate(probe) : target.evaluate(probe);
}

/** Polls `read` until `done` holds or `timeoutMs` passes; returns the last value read. */
async function waitFor<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function assertShowsAll(text: string, where: string, shown: readonly string[] = SHOWN): void {
  for (const s of shown) assert.ok(text.includes(s), `${where} shows ${JSON.stringify(s)} as text:\n${text.slice(0, 3000)}`);
  assert.ok(!text.includes('\u202e'), `no raw direction override in ${where}`);
  assert.ok(!text.includes('\u001b'), `no raw escape character in ${where}`);
}

describe('e2e: hostile tensor names and metadata are inert text in every view', () => {
  const wb = useWorkbench();

  before(() => {
    // Weights of [2, 4] (role linear by their names), so the table, charts and heatmap all show them.
    const tensors = new Map(NAMES.map((n, i) => [n, [i, 0, 1, 0, 0, 2, 0, 3]] as const));
    fs.writeFileSync(path.join(wb().workspace, 'hostile.safetensors'), safetensorsOf(tensors, [2, 4], METADATA));
  });

  it('the checkpoint editor: names in the table, detail and tooltips, metadata in the summary', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().quickOpen('hostile.safetensors');
    const view = wb().webview({ extensionId: EXTENSION_ID });
    const body = view.locator('body');
    await expectText(body, /window\.__pwned = 2/, 60_000);
    // Select each weight: its name reaches the detail header, the chips and the heatmap.
    for (const name of SHOWN)
      await view
        .locator('tr', { hasText: name.slice(0, 12) })
        .first()
        .click();
    const text = await body.innerText();
    // A direction override would reorder what follows it ("gnp.weight" read as "thgiew.png"): shown escaped.
    assertShowsAll(text, 'the editor');
    const producer = printable(`${METADATA.producer} ${METADATA.producer_version}`);
    assert.equal(await view.locator('.summary-meta').innerText(), producer, 'the producer line is the metadata as text');
    // Tooltips (title attributes) of the names in the table and of the detail header.
    const titles = await view.locator('.name[title], .detail-title[title]').evaluateAll((els) => els.map((e) => e.getAttribute('title')));
    for (const s of SHOWN) assert.ok(titles.includes(s), `a tooltip reads ${JSON.stringify(s)}`);
    assert.ok(
      titles.every((t) => t !== null && !t.includes('\u001b') && !t.includes('\u202e')),
      'no tooltip holds a raw control or override character',
    );
    assert.deepEqual(await injectedState(body), { pwned: null, injected: [] });
    await wb().screenshot('hostile-names');
  });

  it('the heatmap layer picker lists the names as text and opens the picked one', async () => {
    await wb().runCommand('Sparsity Lens: Show Layer Heatmap', 30_000, { asks: true });
    const list = wb().page.locator('.quick-input-list');
    await list.locator('.monaco-list-row').first().waitFor();
    const rows = await list.locator('.monaco-list-row .label-name').allInnerTexts();
    for (const s of SHOWN) assert.ok(rows.includes(s), `the picker lists ${JSON.stringify(s)}; it shows ${JSON.stringify(rows)}`);
    assert.equal(await list.locator('.codicon-zap').count(), 0, '$(zap) in a name is not drawn as an icon');
    await wb().screenshot('hostile-names-picker');
    await list.locator('.monaco-list-row', { hasText: '$(zap)' }).click();
    await wb().page.locator('.quick-input-widget .quick-input-box input').waitFor({ state: 'hidden' });
    // The picker hands over the real name: the editor selects that tensor.
    await expectText(wb().webview({ extensionId: EXTENSION_ID }).locator('.detail-title'), /red \$\(zap\)/);
    assert.deepEqual(await injectedState(wb().page), { pwned: null, injected: [] });
  });

  it('the Markdown report preview: no live script, image or link, the names as text', async () => {
    await wb().runCommand('Sparsity Lens: Show Report');
    const preview = wb().webview({ extensionId: MARKDOWN_PREVIEW }).locator('body');
    const text = await expectText(preview, /window\.__pwned = 2/, 60_000);
    assertShowsAll(text, 'the report preview');
    assert.equal(
      await preview.locator('table').first().locator('tbody tr').count(),
      NAMES.length,
      'one row per tensor: no name breaks the table',
    );
    assert.equal(await preview.locator('a, img').count(), 0, 'no link or image in the report');
    assert.deepEqual(await injectedState(preview), { pwned: null, injected: [] });
    await wb().screenshot('hostile-names-report');
  });

  it('the Sparsity Report tree and its tooltips: names as text, nothing rendered from them', async () => {
    const tree = await wb().waitForView('Sparsity Report');
    const rows = tree.locator('.monaco-list-row');
    await rows.filter({ hasText: 'hostile.safetensors' }).first().waitFor();
    await expectText(tree, /red \$\(zap\)/);
    assertShowsAll(await tree.innerText(), 'the tree');
    assert.equal(await tree.locator('.codicon-zap').count(), 0, '$(zap) in a name is not drawn as an icon');
    // Each layer's tooltip (a Markdown hover) holds its name as text.
    const hover = wb().page.locator('.monaco-hover, .workbench-hover').filter({ visible: true }).last();
    for (const [i, shown] of SHOWN.entries()) {
      const row = rows.filter({ hasText: shown.slice(0, 14) }).first();
      await wb().page.mouse.move(0, 0);
      // On the row itself: hovering the label element would scroll its clipped text sideways.
      await row.hover({ position: { x: 120, y: 10 } });
      // MarkdownString.appendText writes spaces as &nbsp;: compared with plain spaces.
      const tip = await waitFor(
        async () => ((await hover.innerText({ timeout: 1000 }).catch(() => '')) || '').replace(/\u00a0/g, ' '),
        (t) => t.includes(shown),
        15_000,
      );
      assert.ok(tip.includes(shown), `the tooltip of row ${i} reads ${JSON.stringify(shown)}:\n${tip}`);
      assert.equal(await hover.locator('a, img, script').count(), 0, `no link, image or script in the tooltip of row ${i}`);
      if (i === NAMES.length - 1) {
        await wb().page.waitForTimeout(300); // the hover fades in
        await wb().screenshot('hostile-names-tree-tooltip');
      }
    }
    await wb().page.mouse.move(0, 0);
    assert.deepEqual(await injectedState(wb().page), { pwned: null, injected: [] });
  });
});
