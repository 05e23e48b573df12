import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Locator } from 'playwright-core';
import { ARTIFACTS, EXTENSION_ID, expectText, lowContrastText, useWorkbench } from './harness';

/** Colours seen on a sparse sample of the canvas's pixels, as 0xRRGGBB numbers. */
async function canvasColours(canvas: Locator): Promise<number[]> {
  return canvas.evaluate((c: HTMLCanvasElement) => {
    const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set<number>();
    for (let i = 0; i < data.length; i += 4 * 97) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return [...seen];
  });
}

/** A digest of the canvas's pixels, to tell whether the view changed. */
async function canvasDigest(canvas: Locator): Promise<number> {
  return canvas.evaluate((c: HTMLCanvasElement) => {
    const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let h = 2166136261;
    for (let i = 0; i < data.length; i += 7) h = Math.imul(h ^ data[i], 16777619);
    return h >>> 0;
  });
}

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The editor background the webview is given by the workbench theme, as [r, g, b]. */
async function backgroundOf(view: FrameLocator): Promise<number[]> {
  const hex = await view
    .locator('body')
    .evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--vscode-editor-background').trim());
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(hex);
  assert.ok(m, `--vscode-editor-background is a colour: "${hex}"`);
  return [m[1], m[2], m[3]].map((x) => parseInt(x, 16));
}

const luma = ([r, g, b]: number[]) => 0.2126 * r + 0.7152 * g + 0.0722 * b;

/** Rows shown, from the status line "rows 0–255 of 256 · …". */
function rowsShown(status: string): number {
  const m = /rows ([\d,]+)–([\d,]+) of/.exec(status);
  assert.ok(m, `status line "${status}" names the rows shown`);
  return Number(m[2].replace(/,/g, '')) - Number(m[1].replace(/,/g, '')) + 1;
}

describe('e2e: the mask heatmap', () => {
  const wb = useWorkbench();

  it('zooms with the keyboard down to single weights with the 2:4 grid, and back', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('digits_mlp_24.onnx');
    const view = wb().webview({ extensionId: EXTENSION_ID });
    await expectText(view.locator('body'), /fc1\.weight/, 60_000);
    await view.locator('tr', { hasText: 'fc1.weight' }).first().click();
    const canvas = view.locator('canvas.heatmap-canvas');
    const status = view.locator('#heatmap-status');
    await waitUntil('the heatmap drawn', async () => (await canvasColours(canvas)).length >= 2);
    const fitted = await expectText(status, /rows 0–255 of 256/);
    const before = await canvasDigest(canvas);

    await canvas.focus();
    for (let i = 0; i < 3; i++) await wb().page.keyboard.press('+');
    await waitUntil('fewer rows after zooming in', async () => rowsShown(await status.innerText()) < rowsShown(fitted) / 2 && true);
    await waitUntil('the zoomed view drawn', async () => (await canvasDigest(canvas)) !== before && true);

    await view.locator('vscode-button[title="Zoom to single weights"], [title="Zoom to single weights"]').first().click();
    const single = await expectText(status, /single weights · 2:4 groups/);
    assert.doesNotMatch(single, /violating/, 'a 2:4-pruned layer has no violating group in view');
    await wb().screenshot('heatmap-single-weights', canvas);

    await canvas.focus();
    await wb().page.keyboard.press('0');
    await expectText(status, /rows 0–255 of 256/);
  });

  it('follows the dark, light and high-contrast themes', async () => {
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().openFromExplorer('digits_mlp_24.safetensors');
    const view = wb().webview({ extensionId: EXTENSION_ID });
    await expectText(view.locator('body'), /fc1\.weight/, 60_000);
    const canvas = view.locator('canvas.heatmap-canvas');
    await waitUntil('the heatmap drawn', async () => (await canvasColours(canvas)).length >= 2);
    // The screenshots show the heatmap, table and histogram together.
    await canvas.scrollIntoViewIfNeeded();

    const themes = [
      { theme: 'Dark Modern', shot: 'theme-dark', fits: (bg: number[]) => luma(bg) > 10 && luma(bg) < 80 },
      { theme: 'Light Modern', shot: 'theme-light', fits: (bg: number[]) => luma(bg) > 180 },
      { theme: 'Dark High Contrast', shot: 'theme-high-contrast', fits: (bg: number[]) => luma(bg) < 5 },
    ];
    const seen: Buffer[] = [];
    try {
      for (const { theme, shot, fits } of themes) {
        await wb().setColorTheme(theme);
        await waitUntil(`the webview in ${theme}`, async () => fits(await backgroundOf(view)));
        // Compared as shown on screen (the canvas composited over the page), not its own pixels.
        const drawn = await waitUntil(`the heatmap repainted for ${theme}`, async () => {
          const image = await canvas.screenshot();
          return seen.every((other) => !other.equals(image)) && image;
        });
        seen.push(drawn);
        await wb().screenshot(shot);
        const low = await lowContrastText(view);
        assert.deepEqual(low, [], `text below 4.5:1 in ${theme}`);
      }
    } finally {
      // The theme is a user setting: later tests start from the default again. The workbench saves
      // it a moment after showing it, and one closed before then leaves the next in the last theme.
      await wb().setColorTheme('Dark Modern');
      await waitUntil('the dark theme back', async () => themes[0].fits(await backgroundOf(view)));
      await waitUntil('the dark theme saved', async () => {
        const settings = wb().userSettings();
        const theme = settings?.['workbench.colorTheme'];
        return settings !== undefined && (theme === undefined || String(theme).includes('Dark Modern'));
      });
    }
  });
});

describe('e2e: a 16384 × 4096 layer', () => {
  const wb = useWorkbench();
  const ROWS = 16384;
  const COLS = 4096;

  /** A float16 safetensors file with one [16384, 4096] weight, half of it zero. */
  function writeBigCheckpoint(file: string): void {
    const header = JSON.stringify({ 'big.weight': { dtype: 'F16', shape: [ROWS, COLS], data_offsets: [0, ROWS * COLS * 2] } });
    const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
    const fd = fs.openSync(file, 'w');
    try {
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(BigInt(padded.length));
      fs.writeSync(fd, prefix);
      fs.writeSync(fd, Buffer.from(padded));
      const rows = 1024;
      const chunk = new Uint16Array(rows * COLS);
      let seed = 12345;
      for (let r0 = 0; r0 < ROWS; r0 += rows) {
        for (let i = 0; i < chunk.length; i++) {
          seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
          // Half zeros; the rest small halves of either sign, denser towards the top rows.
          chunk[i] = seed >>> 31 ? 0 : 0x2000 | ((seed >>> 8) & 0x1fff) | ((seed & 1) << 15);
        }
        fs.writeSync(fd, new Uint8Array(chunk.buffer));
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  it('draws its first view; the time is recorded in test-results/e2e/timings.json', async () => {
    const file = path.join(wb().workspace, 'big_16384x4096.safetensors');
    writeBigCheckpoint(file);
    try {
      await wb()
        .waitForView('Sparsity Report')
        .catch(() => undefined);
      const opened = Date.now();
      await wb().quickOpen('big_16384x4096.safetensors');
      const view = wb().webview({ extensionId: EXTENSION_ID });
      await expectText(view.locator('body'), /big\.weight/, 120_000);
      const tableShown = Date.now();
      const canvas = view.locator('canvas.heatmap-canvas');
      await waitUntil('the heatmap drawn', async () => (await canvasColours(canvas)).length >= 2, 60_000);
      const drawn = Date.now();
      await expectText(view.locator('#heatmap-status'), /rows 0–16383 of 16,384/);
      const timings = { openToTableMs: tableShown - opened, tableToHeatmapMs: drawn - tableShown, openToHeatmapMs: drawn - opened };
      console.log(`      16384 × 4096 float16: ${JSON.stringify(timings)}`);
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      fs.writeFileSync(path.join(ARTIFACTS, 'timings.json'), JSON.stringify({ 'big_16384x4096 (float16)': timings }, null, 2));
      // The screenshot shows the cells, not the plot still waiting for them (the fan-in bars alone
      // already count as drawn above).
      await expectText(view.locator('#heatmap-status'), /1 cell/, 60_000);
      await canvas.scrollIntoViewIfNeeded();
      await wb().screenshot('heatmap-16384x4096');
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
