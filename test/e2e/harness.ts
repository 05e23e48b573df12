// End-to-end harness: the extension installed in a real code-server, driven through Debian's
// chromium with playwright-core, exactly as a person would use it.
//
// One code-server (and one browser) serves every e2e file; it starts on first use and stops in
// a root-level after() hook (and on SIGINT / process exit, see scripts/vscode/codeServer.cjs).
// Each describe() that calls useWorkbench() gets its own fresh workspace folder, so editor and
// view state never leak from one file to the next, and its own browser context.
//
//   describe('my feature', () => {
//     const wb = useWorkbench();
//     it('does it', async () => {
//       await wb().waitForView('Sparsity Report');   // contributions registered
//       await wb().openFromExplorer('digits_mlp_24.onnx');
//       await wb().runCommand('Sparsity Lens: Show Report');
//       await expectText(wb().webview({ extensionId: MARKDOWN_PREVIEW }).locator('body'), /25216 of 50432/);
//       await wb().screenshot('my-feature');
//     });
//   });
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, BrowserContext, FrameLocator, Locator, Page } from 'playwright-core';

/** The repository root (tests run from out/test/e2e/). */
export const REPO = path.resolve(__dirname, '..', '..', '..');
export const ARTIFACTS = path.join(REPO, 'test-results', 'e2e');

const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { publisher: string; name: string };
/** The extension under test, as webview() and VS Code name it. */
export const EXTENSION_ID = `${pkg.publisher}.${pkg.name}`;
/** The built-in extension that owns Markdown previews. */
export const MARKDOWN_PREVIEW = 'vscode.markdown-language-features';

interface CodeServer {
  readonly url: string;
  readonly temp: string;
  readonly userDataDir: string;
  readonly logFile: string;
  folderUrl(folder?: string): string;
  stop(options?: { keepTemp?: boolean }): Promise<void>;
}

interface CodeServerModule {
  startCodeServer(options?: {
    workspace?: string;
    extension?: 'symlink' | 'vsix' | 'none';
    settings?: Record<string, unknown>;
    workspaceTrust?: boolean;
    logName?: string;
  }): Promise<CodeServer>;
  makeWorkspace(options?: { fixtures?: string[]; dir?: string }): string;
  launchBrowser(options?: { headless?: boolean }): Promise<Browser>;
}

// Loaded at run time by absolute path: the compiled tests live under out/, the script does not.
const codeServer = require(path.join(REPO, 'scripts', 'vscode', 'codeServer.cjs')) as CodeServerModule;

// ---------------------------------------------------------------------------------------------
// The shared server and browser.

let shared: Promise<{ server: CodeServer; browser: Browser }> | undefined;

/**
 * The extension is installed as a symlink to the repository (its dist/ as built by npm test).
 * SPARSITY_LENS_E2E_INSTALL=vsix installs dist/sparsity-lens.vsix instead (npm run package), to
 * test exactly what ships.
 */
function sharedServer(): Promise<{ server: CodeServer; browser: Browser }> {
  shared ??= (async () => {
    const extension = process.env.SPARSITY_LENS_E2E_INSTALL === 'vsix' ? 'vsix' : 'symlink';
    const server = await codeServer.startCodeServer({ extension, logName: 'code-server-e2e' });
    try {
      const browser = await codeServer.launchBrowser({ headless: process.env.SPARSITY_LENS_HEADED !== '1' });
      return { server, browser };
    } catch (e) {
      await server.stop();
      throw e;
    }
  })();
  return shared;
}

// Root-level hook (this module is first required while mocha loads the spec files).
after(async function () {
  this.timeout(30_000);
  if (!shared) return;
  const s = await shared.catch(() => undefined);
  shared = undefined;
  if (!s) return;
  await s.browser.close().catch(() => undefined);
  await s.server.stop();
});

// ---------------------------------------------------------------------------------------------
// One workbench page.

export interface WorkbenchOptions {
  /** Files of test/fixtures copied under fixtures/ in the workspace (examples/ is always there). */
  readonly fixtures?: string[];
  readonly viewport?: { width: number; height: number };
  /** Written to the workspace's .vscode/settings.json before the workbench opens. */
  readonly workspaceSettings?: Record<string, unknown>;
  /**
   * Workspace trust on, in a code-server of this describe's own (started in before(), stopped in
   * after()): the fresh workspace folder is not trusted, so the workbench is in Restricted Mode.
   */
  readonly restrictedMode?: boolean;
}

export class Workbench {
  constructor(
    readonly page: Page,
    readonly context: BrowserContext,
    readonly workspace: string,
    readonly server: CodeServer,
    /** Content-Security-Policy violations reported by any frame of this workbench, not yet taken. */
    readonly violations: CspViolation[],
  ) {}

  /**
   * The CSP violations recorded so far, and forgets them: for a test that causes one on purpose.
   * Waits `settleMs` first, as a violation is reported asynchronously.
   */
  async takeViolations(settleMs = 500): Promise<CspViolation[]> {
    await this.page.waitForTimeout(settleMs);
    return this.violations.splice(0);
  }

  /**
   * Runs a command from the palette by its title as shown there ("Category: Title"): F1, type,
   * Enter. Right after the workbench opens, the extension's contributions and the context its
   * when clauses read can lag behind the UI, so a palette without the command is closed and
   * opened again until `timeoutMs`.
   */
  async runCommand(title: string, timeoutMs = 30_000, options: { asks?: boolean } = {}): Promise<void> {
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    const rows = this.page.locator('.quick-input-list .monaco-list-row');
    const row = rows.filter({ hasText: title }).first();
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      await this.page.keyboard.press('F1');
      await input.waitFor({ state: 'visible', timeout: 10_000 });
      // A palette closing as it opens (a theme or editor change still settling) hides the input: try again.
      const filled = await input.fill(`>${title}`, { timeout: 5_000 }).then(
        () => true,
        () => false,
      );
      if (!filled) {
        if (Date.now() > deadline) throw new Error(`the command palette closed each time "${title}" was typed (${attempt} tries)`);
        await this.page.waitForTimeout(500);
        continue;
      }
      const found = await row.waitFor({ state: 'visible', timeout: 3_000 }).then(
        () => true,
        () => false,
      );
      if (found) {
        if (attempt > 1) console.log(`      (the palette offered "${title}" on try ${attempt})`);
        break;
      }
      const shown = await rows.allTextContents();
      await this.page.keyboard.press('Escape');
      await input.waitFor({ state: 'hidden', timeout: 10_000 });
      if (Date.now() > deadline) {
        throw new Error(
          `the command palette does not offer "${title}" after ${attempt} tries (its when clause?); it shows: ${JSON.stringify(shown)}`,
        );
      }
      await this.page.waitForTimeout(500);
    }
    // Enter on the focused row when it is ours (what a person does), else click ours.
    const focused = this.page.locator('.quick-input-list .monaco-list-row.focused', { hasText: title });
    if (await focused.count()) await this.page.keyboard.press('Enter');
    else await row.click();
    // A command that asks something (a quick pick) keeps the quick input open: the caller answers.
    if (!options.asks) await input.waitFor({ state: 'hidden', timeout: 10_000 });
  }

  /** Shows the explorer, expands the folders on the way and clicks the file (so it is focused and opens). */
  async openFromExplorer(relativePath: string): Promise<void> {
    await this.showExplorer();
    const parts = relativePath.split('/');
    for (let i = 0; i < parts.length; i++) {
      const row = this.explorerRow(parts[i], i + 1);
      await row.waitFor({ state: 'visible', timeout: 15_000 });
      const last = i === parts.length - 1;
      if (last || (await row.getAttribute('aria-expanded')) !== 'true') await row.click();
    }
    await this.page.locator('.tabs-container .tab.active', { hasText: parts[parts.length - 1] }).waitFor({ timeout: 15_000 });
  }

  /** The explorer row of `name` at tree depth `level` (1 = workspace top). */
  explorerRow(name: string, level = 1): Locator {
    return this.page.locator(`.explorer-folders-view .monaco-list-row[aria-level="${level}"][aria-label=${JSON.stringify(name)}]`);
  }

  async showExplorer(): Promise<void> {
    const view = this.page.locator('.explorer-folders-view');
    if (!(await view.isVisible())) await this.runCommand('View: Show Explorer');
    await view.waitFor({ state: 'visible', timeout: 15_000 });
  }

  /** Opens a file by Quick Open (Ctrl+P), for tests that do not care about the explorer. */
  async quickOpen(relativePath: string): Promise<void> {
    await this.page.keyboard.press('Control+P');
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(relativePath);
    await this.page
      .locator('.quick-input-list .monaco-list-row', { hasText: path.basename(relativePath) })
      .first()
      .waitFor({ timeout: 10_000 });
    await this.page.keyboard.press('Enter');
    await input.waitFor({ state: 'hidden', timeout: 10_000 });
  }

  /**
   * The content of a webview (custom editor, Markdown preview, webview view): two iframes deep.
   *
   * `extensionId` picks the webviews of one extension (the outer iframe's URL names it):
   * EXTENSION_ID for this extension's, MARKDOWN_PREVIEW for the Markdown preview. Among the
   * visible matches the last is taken, or the `index`-th. The locator is resolved again on every
   * use, so it follows an editor that replaces another.
   */
  webview(which: number | { extensionId?: string; index?: number } = {}): FrameLocator {
    const { extensionId, index } = typeof which === 'number' ? { extensionId: undefined, index: which } : which;
    const selector = 'iframe.webview.ready' + (extensionId ? `[src*=${JSON.stringify(`extensionId=${extensionId}&`)}]` : '');
    const frames = this.page.locator(selector).filter({ visible: true });
    const frame = index === undefined ? frames.last() : frames.nth(index);
    return frame.contentFrame().frameLocator('#active-frame');
  }

  /** Right-clicks a file in the explorer and runs `item` from its context menu. */
  async explorerContextMenu(relativePath: string, item: string): Promise<void> {
    await this.showExplorer();
    const parts = relativePath.split('/');
    for (let i = 0; i < parts.length - 1; i++) {
      const folder = this.explorerRow(parts[i], i + 1);
      await folder.waitFor({ state: 'visible', timeout: 15_000 });
      if ((await folder.getAttribute('aria-expanded')) !== 'true') await folder.click();
    }
    const row = this.explorerRow(parts[parts.length - 1], parts.length);
    await row.waitFor({ state: 'visible', timeout: 15_000 });
    const entry = this.page.locator('.context-view .monaco-menu .action-item:not(.disabled) .action-label', { hasText: item }).first();
    // Right after the workbench opens the extension's menu items may not be registered yet:
    // close a menu without the item and open it again.
    const deadline = Date.now() + 30_000;
    for (;;) {
      await row.click({ button: 'right' });
      if (
        await entry.waitFor({ state: 'visible', timeout: 3_000 }).then(
          () => true,
          () => false,
        )
      )
        break;
      const shown = await this.page.locator('.context-view .monaco-menu .action-label').allInnerTexts();
      await this.page.keyboard.press('Escape');
      if (Date.now() > deadline)
        throw new Error(`the explorer context menu of ${relativePath} lacks "${item}"; it shows ${JSON.stringify(shown)}`);
      await this.page.waitForTimeout(500);
    }
    // The menu ignores a click that comes too soon after it opened (it guards against the
    // right-click's own mouse-up): hover, then click until the menu closes.
    const menu = this.page.locator('.context-view .monaco-menu');
    await entry.hover();
    for (let attempt = 0; attempt < 5; attempt++) {
      await entry.click({ timeout: 5_000 }).catch(() => undefined);
      if (
        await menu.waitFor({ state: 'hidden', timeout: 2_000 }).then(
          () => true,
          () => false,
        )
      )
        return;
    }
    throw new Error(`the explorer context menu did not run "${item}"`);
  }

  /**
   * The pane of the view named `name` (as in package.json contributes.views). Found by its
   * header's label, which exists (hidden) even when the view is alone in its container.
   */
  view(name: string): Locator {
    return this.page.locator(`.pane:has(> .pane-header[aria-label=${JSON.stringify(`${name} Section`)}])`);
  }

  /**
   * Shows the view named `name` (by the palette's "Focus on <name> View", which also waits until
   * the extension's contributions are registered) and waits until its body is visible. Do this
   * before opening a file that a custom editor should take: clicked earlier, a file opens in the
   * text editor instead.
   */
  async waitForView(name: string, timeoutMs = 30_000): Promise<Locator> {
    const body = this.view(name).locator('.pane-body');
    if (!(await body.isVisible())) await this.runCommand(`Focus on ${name} View`, timeoutMs);
    await body.waitFor({ state: 'visible', timeout: timeoutMs });
    return this.view(name);
  }

  /** Picks a colour theme as a person does: Preferences: Color Theme, type its label ("Light Modern"), click it. */
  async setColorTheme(name: string): Promise<void> {
    await this.runCommand('Preferences: Color Theme', 30_000, { asks: true });
    const input = this.page.locator('.quick-input-widget .quick-input-box input[placeholder*="Color Theme"]');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(name);
    await this.page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().click();
    await input.waitFor({ state: 'hidden', timeout: 10_000 });
  }

  /** The user settings as saved on the server; undefined while the file cannot be read whole. */
  userSettings(): Record<string, unknown> | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.server.userDataDir, 'User', 'settings.json'), 'utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  /** The texts of the notification toasts now showing. */
  async notifications(): Promise<string[]> {
    return this.page.locator('.notifications-toasts .notification-toast').allInnerTexts();
  }

  /** The tab titles of the editor area. */
  async tabs(): Promise<string[]> {
    return this.page.locator('.tabs-container .tab .label-name').allInnerTexts();
  }

  /** Saves test-results/e2e/<name>.png (CI keeps test-results/ as an artifact) and returns its path. */
  async screenshot(name: string, target?: Locator): Promise<string> {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, `${safeName(name)}.png`);
    if (target) await target.screenshot({ path: file });
    else await this.page.screenshot({ path: file });
    return file;
  }
}

function safeName(s: string): string {
  return s
    .replace(/[^a-zA-Z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 120);
}

// ---------------------------------------------------------------------------------------------
// Content-Security-Policy violations, in every frame.

/** One `securitypolicyviolation` event, as a frame saw it. */
export interface CspViolation {
  readonly directive: string;
  readonly blocked: string;
  readonly source: string;
  readonly sample: string;
  /** The URL of the document that reported it (a webview's is the webview host's fake.html or index.html). */
  readonly url: string;
}

/** The binding every frame reports through (context.exposeBinding puts it on every frame's window). */
const CSP_BINDING = '__sparsityLensCspViolation';

/**
 * Runs in every frame before its own scripts (context.addInitScript: the top page, every iframe
 * attached or navigated, srcdoc ones too) and records each `securitypolicyviolation` through the
 * binding and in the frame's `window.__sparsityLensCsp`.
 *
 * document.open() erases every listener of the document and its window but keeps the window, so
 * no init script runs again: VS Code fills a webview's inner frame exactly so (fake.html, then
 * open/write/close). open() and write() are wrapped to add the listener back after they run.
 */
function cspRecorder(binding: string): void {
  type Recorded = { directive: string; blocked: string; source: string; sample: string; url: string };
  const w = window as unknown as Record<string, unknown> & { __sparsityLensCsp?: { seen: Recorded[]; installs: number } };
  if (w.__sparsityLensCsp) return;
  const state = { seen: [] as Recorded[], installs: 0 };
  w.__sparsityLensCsp = state;
  const listener = (e: SecurityPolicyViolationEvent): void => {
    const v = {
      directive: e.effectiveDirective || e.violatedDirective,
      blocked: e.blockedURI,
      source: `${e.sourceFile}:${e.lineNumber}:${e.columnNumber}`,
      sample: e.sample,
      url: String(location.href),
    };
    state.seen.push(v);
    const report = w[binding];
    if (typeof report === 'function') void (report as (x: Recorded) => Promise<void>)(v);
  };
  const install = (): void => {
    // The same listener and capture flag: adding it again when present is a no-op.
    window.addEventListener('securitypolicyviolation', listener, true);
    state.installs++;
  };
  install();
  const proto = Document.prototype as unknown as Record<'open' | 'write' | 'writeln', (...args: unknown[]) => unknown>;
  for (const name of ['open', 'write', 'writeln'] as const) {
    const original = proto[name];
    proto[name] = function (this: Document, ...args: unknown[]) {
      try {
        return original.apply(this, args);
      } finally {
        if (this === document) install();
      }
    };
  }
}

/**
 * Records CSP violations of every frame of `context` into `into`. Call before the first page opens.
 */
async function recordCspViolations(context: BrowserContext, into: CspViolation[]): Promise<void> {
  await context.exposeBinding(CSP_BINDING, (_source, v: CspViolation) => {
    into.push(v);
  });
  await context.addInitScript(cspRecorder, CSP_BINDING);
}

/**
 * Registers before/after hooks in the calling describe() that open a workbench on a fresh
 * workspace folder; returns its getter. A failing test leaves a screenshot
 * (test-results/e2e/FAILED-<title>.png) and prints the page's last console errors.
 */
export function useWorkbench(options: WorkbenchOptions = {}): () => Workbench {
  let wb: Workbench | undefined;
  const consoleErrors: string[] = [];
  const violations: CspViolation[] = [];
  let own: { server: CodeServer; browser: Browser } | undefined;
  before(async function () {
    this.timeout(120_000);
    if (options.restrictedMode) {
      const extension = process.env.SPARSITY_LENS_E2E_INSTALL === 'vsix' ? 'vsix' : 'symlink';
      const server = await codeServer.startCodeServer({ extension, workspaceTrust: true, logName: 'code-server-e2e-restricted' });
      own = { server, browser: await codeServer.launchBrowser({ headless: process.env.SPARSITY_LENS_HEADED !== '1' }) };
    }
    const { server, browser } = own ?? (await sharedServer());
    const workspace = codeServer.makeWorkspace({
      dir: path.join(server.temp, `workspace-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`, 'workspace'),
      ...(options.fixtures ? { fixtures: options.fixtures } : {}),
    });
    if (options.workspaceSettings) {
      fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
      fs.writeFileSync(path.join(workspace, '.vscode', 'settings.json'), JSON.stringify(options.workspaceSettings, null, 2));
    }
    const context = await browser.newContext({ viewport: options.viewport ?? { width: 1400, height: 900 } });
    await recordCspViolations(context, violations);
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text().slice(0, 500));
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    await page.goto(server.folderUrl(workspace));
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    // The explorer has the workspace listed: the remote connection and file service are up.
    await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 60_000 });
    wb = new Workbench(page, context, workspace, server, violations);
  });
  afterEach(async function () {
    // Opening a checkpoint must never make any frame break its Content Security Policy: a test
    // that recorded a violation fails (the hook reports it as the test's error, so the describe's
    // other tests still run). Violations come asynchronously: a short wait lets late ones arrive.
    if (wb && this.currentTest?.state === 'passed') {
      await wb.page.waitForTimeout(300).catch(() => undefined);
      const seen = wb.violations.splice(0);
      if (seen.length)
        (this.test as Mocha.Hook).error(
          new Error(`${seen.length} Content-Security-Policy violation(s) during the test:\n  ${seen.map(describeViolation).join('\n  ')}`),
        );
    } else {
      const seen = wb?.violations.splice(0) ?? [];
      if (seen.length) console.log(`      CSP violations during the test:\n        ${seen.map(describeViolation).join('\n        ')}`);
    }
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && wb) {
      const shot = await wb.screenshot(`FAILED-${this.currentTest.fullTitle()}`).catch(() => undefined);
      console.log(`      screenshot: ${shot ?? 'none'}\n      code-server log: ${wb.server.logFile}`);
      if (consoleErrors.length)
        console.log(`      last console errors of the page:\n        ${consoleErrors.slice(-10).join('\n        ')}`);
    }
  });
  after(async function () {
    this.timeout(30_000);
    await wb?.context.close().catch(() => undefined);
    wb = undefined;
    if (own) {
      await own.browser.close().catch(() => undefined);
      await own.server.stop();
      own = undefined;
    }
  });
  return () => {
    if (!wb) throw new Error('the workbench is not open (useWorkbench() must be called inside describe())');
    return wb;
  };
}

function describeViolation(v: CspViolation): string {
  return `${v.directive} blocked ${v.blocked || '(inline)'} at ${v.source}${v.sample ? ` "${v.sample}"` : ''} in ${v.url.slice(0, 160)}`;
}

/** Waits until `locator`'s text matches (webview content renders asynchronously). */
export async function expectText(locator: Locator, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    text = await locator.innerText({ timeout: Math.max(1000, deadline - Date.now()) }).catch(() => '');
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} in:\n${text.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Text whose colour is below WCAG's 4.5:1 against the page background: the editor's coloured
 * and muted text (figures that pass or fail, the verdict, notes), one entry per distinct colour.
 */
export async function lowContrastText(view: FrameLocator): Promise<string[]> {
  return view.locator('body').evaluate((body) => {
    const rgb = (css: string): number[] => {
      const srgb = /color\(srgb ([\d.]+) ([\d.]+) ([\d.]+)/.exec(css);
      if (srgb) return [1, 2, 3].map((i) => Number(srgb[i]) * 255);
      return (css.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
    };
    const luminance = (c: number[]) => {
      const [r, g, b] = c.map((v) => (v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const background = luminance(rgb(getComputedStyle(body).backgroundColor));
    const found = new Map<string, string>();
    for (const el of Array.from(body.querySelectorAll('.ok, .bad, .muted, .verdict, .stat-detail, .stat-value, .figure-title, td, th'))) {
      if (!(el as HTMLElement).innerText?.trim() || el.closest('tr[aria-selected="true"]')) continue;
      const colour = getComputedStyle(el).color;
      const text = luminance(rgb(colour));
      const ratio = (Math.max(text, background) + 0.05) / (Math.min(text, background) + 0.05);
      if (ratio < 4.5 && !found.has(colour)) found.set(colour, `${el.className || el.tagName} ${colour} ${ratio.toFixed(2)}:1`);
    }
    return [...found.values()];
  });
}
