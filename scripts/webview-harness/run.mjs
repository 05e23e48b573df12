#!/usr/bin/env node
// Webview harness: checks the checkpoint editor webview without VS Code.
//
//   node scripts/webview-harness/run.mjs [--out DIR] [--only NAME[,NAME…]] [--serve]
//
// Bundles webview/src/main.ts the way scripts/build.mjs does (iife, platform browser), writes one
// page per scenario with the HTML shell the extension uses (same CSP, same links), a mock host
// (mockHost.mjs) that answers the webview's messages with real CLI reports or a synthetic
// LLM-sized model, then drives Debian's chromium with playwright-core and saves screenshots.
// Fails when the page logs an error or a Content-Security-Policy violation, or when the first
// heatmap of a 16384×4096 layer takes a second or more. --serve keeps the server up to look by hand.
import { mkdirSync, copyFileSync, writeFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { cliModel, syntheticModel } from './models.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const args = process.argv.slice(2);
const argValue = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const outDir = path.resolve(argValue('--out') ?? '/tmp/sparsity-lens-webview');
const only = argValue('--only')?.split(',');
const siteDir = path.join(outDir, 'site');
const shotDir = path.join(outDir, 'screenshots');

rmSync(siteDir, { recursive: true, force: true });
mkdirSync(path.join(siteDir, 'dist'), { recursive: true });
mkdirSync(path.join(siteDir, 'media'), { recursive: true });
mkdirSync(path.join(siteDir, 'harness'), { recursive: true });
mkdirSync(shotDir, { recursive: true });

// 1. The webview bundle, with the options scripts/build.mjs uses for it.
await esbuild.build({
  entryPoints: [path.join(root, 'webview/src/main.ts')],
  outfile: path.join(siteDir, 'dist/webview.js'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  minify: args.includes('--minify'),
  logLevel: 'warning',
  tsconfig: path.join(root, 'webview/tsconfig.json'),
});
await esbuild.build({
  entryPoints: [path.join(here, 'mockHost.mjs')],
  outfile: path.join(siteDir, 'harness/mock.js'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  logLevel: 'warning',
});
copyFileSync(path.join(root, 'media/webview.css'), path.join(siteDir, 'media/webview.css'));
for (const f of ['codicon.css', 'codicon.ttf'])
  copyFileSync(path.join(root, 'node_modules/@vscode/codicons/dist', f), path.join(siteDir, 'dist', f));

// 2. Models.
const models = {
  digits: cliModel(root, 'examples/digits_mlp_24.onnx'),
  convnet: cliModel(root, 'test/fixtures/generated/convnet.onnx'),
  synthetic: syntheticModel(),
};

// 3. Scenarios: a page each, then actions and a screenshot.
const up = 'model.layers.0.mlp.up_proj.weight';
const down = 'model.layers.0.mlp.down_proj.weight';
const conv = 'vision.patch_embed.conv.weight';
const canvasSel = 'canvas.heatmap-canvas';

async function canvasBox(page) {
  return page.locator(canvasSel).boundingBox();
}
async function settle(page, ms = 350) {
  await page.waitForTimeout(ms);
}
async function zoomToWeights(page) {
  await page.click('vscode-toolbar-button[icon="symbol-numeric"]');
  await settle(page, 500);
}
async function hoverAt(page, fx, fy) {
  const b = await canvasBox(page);
  const x = b.x + 62 + (b.width - 62) * fx;
  const y = b.y + b.height * fy;
  await page.mouse.move(x, y);
  await settle(page, 150);
}
async function scrollTo(page, selector) {
  await page.locator(selector).evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await settle(page, 100);
}

const scenarios = [
  { name: '01-digits-dark', model: 'digits', theme: 'dark', viewport: [1280, 1400], fullPage: true },
  { name: '02-digits-light', model: 'digits', theme: 'light', viewport: [1280, 1400], fullPage: true },
  { name: '03-convnet-dark-conv2', model: 'convnet', theme: 'dark', viewport: [1280, 1400], select: 'conv2.weight', fullPage: true },
  {
    name: '04-convnet-conv1-weights-light',
    model: 'convnet',
    theme: 'light',
    viewport: [1280, 1400],
    select: 'conv1.weight',
    act: async (page) => {
      await zoomToWeights(page);
      await scrollTo(page, '.detail-panel');
      await hoverAt(page, 0.3, 0.3);
    },
  },
  { name: '05-llm-dark', model: 'synthetic', theme: 'dark', viewport: [1400, 1500], select: up, fullPage: true, timing: true },
  {
    name: '06-llm-up-weights-dark',
    model: 'synthetic',
    theme: 'dark',
    viewport: [1400, 1100],
    select: up,
    act: async (page) => {
      await scrollTo(page, '.detail-panel');
      // Wheel zoom around a point, then to single weights, then hover one.
      const b = await canvasBox(page);
      await page.mouse.move(b.x + b.width * 0.5, b.y + b.height * 0.12);
      for (let i = 0; i < 6; i++) await page.mouse.wheel(0, -400);
      await settle(page);
      await zoomToWeights(page);
      await hoverAt(page, 0.42, 0.4);
    },
  },
  {
    name: '06b-llm-down-midzoom-drag-light',
    model: 'synthetic',
    theme: 'light',
    viewport: [1400, 1100],
    select: down,
    act: async (page) => {
      await scrollTo(page, '.detail-panel');
      const b = await canvasBox(page);
      await page.mouse.move(b.x + b.width * 0.3, b.y + b.height * 0.3);
      for (let i = 0; i < 5; i++) await page.mouse.wheel(0, -300);
      await settle(page);
      // Drag to pan: the detail tile moves with the view until the new one arrives.
      await page.mouse.move(b.x + b.width * 0.6, b.y + b.height * 0.6);
      await page.mouse.down();
      await page.mouse.move(b.x + b.width * 0.45, b.y + b.height * 0.5, { steps: 8 });
      await page.mouse.up();
      await settle(page, 500);
      await hoverAt(page, 0.5, 0.5);
    },
  },
  {
    name: '07-llm-down-violations-dark',
    model: 'synthetic',
    theme: 'dark',
    viewport: [1400, 1100],
    select: down,
    act: async (page) => {
      await scrollTo(page, '.detail-panel');
      await zoomToWeights(page);
      await hoverAt(page, 0.51, 0.52);
    },
  },
  {
    name: '08-llm-conv-violations-light',
    model: 'synthetic',
    theme: 'light',
    viewport: [1400, 1100],
    select: conv,
    act: async (page) => {
      await scrollTo(page, '.detail-panel');
      await page.locator(canvasSel).focus();
      for (let i = 0; i < 4; i++) await page.keyboard.press('+');
      await settle(page, 500);
      await hoverAt(page, 0.2, 0.3);
    },
  },
  {
    name: '09-llm-stem-partial-groups-dark',
    model: 'synthetic',
    theme: 'dark',
    viewport: [1400, 1100],
    select: 'vision.stem.conv.weight',
    act: async (page) => {
      await scrollTo(page, '.detail-panel');
      await zoomToWeights(page);
      await hoverAt(page, 0.93, 0.2);
    },
  },
  {
    name: '10-llm-hc-magnitude',
    model: 'synthetic',
    theme: 'high-contrast',
    viewport: [1400, 1500],
    select: down,
    fullPage: true,
    act: async (page) => {
      await page.click('vscode-radio[value="magnitude"]');
      await settle(page);
    },
  },
  {
    name: '11-theme-switch-dark-to-light',
    model: 'digits',
    theme: 'dark',
    viewport: [1280, 1400],
    fullPage: true,
    act: async (page) => {
      await page.evaluate(() => window.__harness.setTheme('light'));
      await settle(page, 400);
    },
  },
  {
    name: '12-keyboard-sort-narrow',
    model: 'synthetic',
    theme: 'dark',
    viewport: [900, 1400],
    fullPage: true,
    act: async (page) => {
      await page.click('th.col-sparsity .sort-button');
      await page.locator('table.layers tbody tr[tabindex="0"]').focus();
      await page.keyboard.press('Home');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Enter');
      await settle(page, 600);
    },
  },
  {
    name: '13-state-restored-after-reload',
    model: 'synthetic',
    theme: 'dark',
    viewport: [1400, 1100],
    select: undefined,
    reload: true,
    act: async (page, reload) => {
      await page.click(`table.layers tr[data-name="${conv}"]`);
      await settle(page);
      await page.locator(canvasSel).focus();
      for (let i = 0; i < 3; i++) await page.keyboard.press('+');
      await page.keyboard.press('ArrowRight');
      await page.click('th.col-nm .sort-button');
      await settle(page, 400);
      const before = await page.locator('.heatmap-status').textContent();
      await reload();
      await scrollTo(page, '.detail-panel');
      const after = await page.locator('.heatmap-status').textContent();
      const selected = await page.locator('table.layers tr[aria-selected="true"]').getAttribute('data-name');
      if (before !== after || selected !== conv) throw new Error(`state not restored: "${before}" vs "${after}", selected ${selected}`);
      console.log(`   restored: ${selected} · ${after}`);
    },
  },
  {
    name: '14-analysis-error-light',
    model: 'digits',
    theme: 'light',
    viewport: [1000, 300],
    initError: 'examples/broken.safetensors: header length 18446744073709551615 is larger than the file (1024 bytes)',
  },
];

// 4. Serve the site (the CSP source is this origin, as ${webview.cspSource} is in VS Code).
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.ttf': 'font/ttf', '.map': 'application/json' };
const server = http.createServer(async (req, res) => {
  if (req.url === '/favicon.ico') {
    res.writeHead(204);
    res.end();
    return;
  }
  try {
    const file = path.join(siteDir, decodeURIComponent(new URL(req.url, 'http://x').pathname));
    if (!file.startsWith(siteDir)) throw new Error('outside');
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
const origin = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}`;

/** The shell CheckpointEditorProvider.html (src/extension/checkpointEditor.ts) writes, plus the mock's scripts. */
function page(scenario, nonce) {
  const cspSource = origin;
  const csp = `default-src 'none'; script-src 'nonce-${nonce}'; style-src ${cspSource} 'nonce-${nonce}'; img-src ${cspSource} data: blob:; font-src ${cspSource};`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${origin}/dist/codicon.css" id="vscode-codicon-stylesheet">
  <link rel="stylesheet" href="${origin}/media/webview.css">
  <title>${scenario.name}</title>
</head>
<body>
  <div id="app"></div>
  <script nonce="${nonce}" src="${origin}/harness/config-${scenario.name}.js"></script>
  <script nonce="${nonce}" src="${origin}/harness/mock.js"></script>
  <script nonce="${nonce}" src="${origin}/dist/webview.js"></script>
</body>
</html>
`;
}

for (const s of scenarios) {
  const m = models[s.model];
  const config = {
    model: `${s.model}-${s.name}`,
    theme: s.theme,
    report: m.report,
    views: m.views,
    specs: m.specs,
    select: s.select,
    maxHeatmapCells: 262144,
    latencyMs: 15,
    initError: s.initError,
  };
  writeFileSync(path.join(siteDir, `harness/config-${s.name}.js`), `window.__HARNESS_CONFIG = ${JSON.stringify(config)};\n`);
  writeFileSync(path.join(siteDir, `${s.name}.html`), page(s, 'harness' + Math.random().toString(36).slice(2)));
}

if (args.includes('--serve')) {
  console.log(`serving ${siteDir} at ${origin}/ — pages: ${scenarios.map((s) => s.name + '.html').join(' ')}`);
  await new Promise(() => {});
}

// 5. Drive chromium.
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const failures = [];
try {
  for (const s of scenarios) {
    if (only && !only.includes(s.name)) continue;
    const context = await browser.newContext({ viewport: { width: s.viewport[0], height: s.viewport[1] }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const problems = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console.${msg.type()}: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()}`));
    const load = async () => {
      await page.goto(`${origin}/${s.name}.html`);
      await page.waitForFunction(() => window.__harness?.timings.firstDraw, null, { timeout: 10000 });
      await settle(page, 400);
    };
    try {
      await load();
    } catch (err) {
      console.log(`✗ ${s.name}: the first heatmap never arrived (${err.message.split('\n')[0]})`);
      for (const p of problems) console.log(`   ${p}`);
      failures.push(s.name);
      await context.close();
      continue;
    }
    const timing = await page.evaluate(() => window.__harness.timings.firstDraw);
    if (s.initError && !(await page.locator('.banner', { hasText: 'header length' }).isVisible()))
      problems.push('the analysis error is not shown');
    if (s.timing) {
      // The webview's share: init → first request, plus reply → drawn frame (the frame wait is
      // bounded by the display's refresh; headless chromium runs at ~60 Hz).
      const webviewMs = timing.initToRequestMs + timing.replyToFrameMs;
      console.log(
        `   first view: init → request ${timing.initToRequestMs.toFixed(0)} ms, reply handled in ${timing.replyHandledMs.toFixed(0)} ms, ` +
          `drawn ${timing.replyToFrameMs.toFixed(0)} ms after the reply (webview total ≈ ${webviewMs.toFixed(0)} ms; ` +
          `mock host ${timing.hostComputeMs.toFixed(0)} ms computing + ${timing.hostLatencyMs} ms latency)`,
      );
      if (webviewMs >= 1000) problems.push(`first view took ${webviewMs.toFixed(0)} ms in the webview`);
    }
    if (s.act) await s.act(page, load);
    const file = path.join(shotDir, `${s.name}.png`);
    await page.screenshot({ path: file, fullPage: !!s.fullPage });
    const h = await page.evaluate(() => ({
      csp: window.__harness.csp,
      errors: window.__harness.errors,
      posted: window.__harness.posted.map((m) => m.method ?? m.rpc),
    }));
    for (const v of h.csp) problems.push(`CSP violation: ${JSON.stringify(v)}`);
    for (const e of h.errors) problems.push(`error: ${e}`);
    const counts = h.posted.reduce((acc, t) => ((acc[t] = (acc[t] ?? 0) + 1), acc), {});
    console.log(`${problems.length ? '✗' : '✓'} ${s.name}  ${file}  messages ${JSON.stringify(counts)}`);
    for (const p of problems) console.log(`   ${p}`);
    if (problems.length) failures.push(s.name);
    await context.close();
  }
} catch (err) {
  failures.push(String(err?.stack ?? err));
  console.error(err);
} finally {
  await browser.close();
  server.close();
}
if (failures.length) {
  console.error(`harness: ${failures.length} scenario(s) failed: ${failures.join(', ')}`);
  process.exit(1);
}
console.log(`harness: all scenarios passed; screenshots in ${shotDir}`);
