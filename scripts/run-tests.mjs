// Runs the compiled test tiers and ends with the plain line "N passed, N failed[, N skipped]"
// that CI reads, summed over every tier that ran. Exit code 1 if anything failed.
//
//   node scripts/run-tests.mjs [unit] [integration] [e2e] [--grep PATTERN]   (default: all three)
//
//   unit         mocha over out/test/unit, in this process
//   integration  out/test/integration/*.test.js inside code-server's real extension host
//                (extension development mode), hosted by a headless chromium page
//   e2e          mocha over out/test/e2e: the extension installed in code-server, driven through
//                chromium by playwright-core
//
// The browser tiers need Debian's chromium and ripgrep, and code-server. Missing packages are
// installed with apt-get when this process may (root, or sudo without a password; one line says
// so first), else the browser tiers fail with one line giving the command to run
// (scripts/vscode/systemPackages.cjs). code-server is installed here on first use, from the npm
// registry only, by scripts/vscode/install-code-server.sh. With SPARSITY_LENS_SKIP_BROWSER=1
// nothing is installed and the browser tiers are skipped, with a line saying so, when anything is
// missing. Artifacts (screenshots, code-server logs) go to test-results/.
import Mocha from 'mocha';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { format } from 'node:util';
import cs from './vscode/codeServer.cjs';
import systemPackages from './vscode/systemPackages.cjs';

const TIERS = ['unit', 'integration', 'e2e'];
const argv = process.argv.slice(2);
let grep;
const requested = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--grep' || argv[i] === '-g') grep = argv[++i];
  else if (argv[i] === 'all') requested.push(...TIERS);
  else if (TIERS.includes(argv[i])) requested.push(argv[i]);
  else {
    console.error(`unknown argument ${argv[i]}; usage: node scripts/run-tests.mjs [${TIERS.join('|')}|all]... [--grep PATTERN]`);
    process.exit(2);
  }
}
const tiers = TIERS.filter((t) => (requested.length ? requested : TIERS).includes(t));

const REPO = cs.REPO;
const OUT = join(REPO, 'out', 'test');
const totals = { passed: 0, failed: 0, skipped: 0 };
const lines = [];

function specFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.js'))
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .sort();
}

/** Runs mocha over the compiled spec files of a tier, in this process. */
function runMocha(tier, options) {
  const files = specFiles(join(OUT, tier));
  if (!files.length)
    return Promise.resolve({ passed: 0, failed: 0, skipped: 0, note: `no spec files in ${relative(REPO, join(OUT, tier))}` });
  const mocha = new Mocha({ reporter: 'spec', timeout: 60_000, ...options, ...(grep ? { grep } : {}) });
  for (const file of files) mocha.addFile(file);
  const counts = { passed: 0, failed: 0, skipped: 0 };
  return new Promise((resolve) => {
    const runner = mocha.run(() => {
      mocha.dispose();
      resolve(counts);
    });
    // A test that passed and then failed in its afterEach hook (a CSP violation it caused) counts as failed only.
    const passed = new Set();
    runner.on('pass', (test) => {
      passed.add(test);
      counts.passed++;
    });
    runner.on('fail', (/** @type {Mocha.Runnable} */ runnable) => {
      const test = runnable instanceof Mocha.Hook ? runnable.ctx?.currentTest : runnable;
      if (test && passed.delete(test)) counts.passed--;
      counts.failed++;
    });
    runner.on('pending', () => counts.skipped++);
  });
}

/**
 * Whether the browser tiers can run: installs what they need when it may. Returns { missing } (what
 * is missing, under SPARSITY_LENS_SKIP_BROWSER=1) or { problem } (one line on why they cannot run).
 */
function browserPrerequisites() {
  const skip = process.env.SPARSITY_LENS_SKIP_BROWSER === '1';
  const packages = systemPackages.ensureSystemPackages({ skip });
  if (packages.action === 'fail') return { problem: packages.line };
  const missing = packages.action === 'skip' ? [packages.what] : [];
  if (skip) {
    if (!cs.codeServerInstalled()) missing.push(`code-server ${cs.CODE_SERVER_VERSION} (bash scripts/vscode/install-code-server.sh)`);
  } else {
    try {
      cs.ensureCodeServer();
    } catch (e) {
      return { problem: `code-server: ${e.message}` };
    }
  }
  return { missing };
}

/**
 * The integration tier: code-server in extension development mode; the workbench page loads the
 * extension from the repository and runs out/test/integration/index.js run() in the extension
 * host. Its spec output streams here; its counts come back through a results file.
 */
async function runIntegration() {
  const index = join(OUT, 'integration', 'index.js');
  if (!existsSync(index))
    return { passed: 0, failed: 1, skipped: 0, note: `${relative(REPO, index)} is missing (tsc -p test/tsconfig.json)` };
  mkdirSync(cs.RESULTS_DIR, { recursive: true });
  // Per run, so two runs in one checkout cannot read each other's results.
  const runDir = mkdtempSync(join(tmpdir(), 'sparsity-lens-integration-'));
  const resultsFile = join(runDir, 'results.json');
  const logFile = join(runDir, 'mocha.log');
  const removeRunDir = () => rmSync(runDir, { recursive: true, force: true });
  process.once('exit', removeRunDir); // also when a signal ends the run (codeServer.cjs exits)
  const timeoutMs = Number(process.env.SPARSITY_LENS_INTEGRATION_TIMEOUT_MS ?? 180_000);
  let server;
  let browser;
  let printed = 0;
  const stream = () => {
    if (!existsSync(logFile)) return;
    const text = readFileSync(logFile, 'utf8');
    const end = text.lastIndexOf('\n') + 1;
    if (end > printed) {
      process.stdout.write(text.slice(printed, end));
      printed = end;
    }
  };
  const ticker = setInterval(stream, 250);
  const pageErrors = [];
  let outcome;
  try {
    server = await cs.startCodeServer({
      extension: 'none',
      logName: 'code-server-integration',
      env: {
        SPARSITY_LENS_INTEGRATION_RESULTS: resultsFile,
        SPARSITY_LENS_INTEGRATION_LOG: logFile,
        // The kernel worker's test hook: opening a *.slow-open.* file blocks it this long.
        SPARSITY_LENS_TEST_SLOW_OPEN_MS: '30000',
        ...(grep ? { SPARSITY_LENS_INTEGRATION_GREP: grep } : {}),
      },
    });
    browser = await cs.launchBrowser();
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    let exited;
    const exit = new Promise((resolve) => (exited = resolve));
    // The workbench reports through these (its automation hooks for extension tests).
    await page.exposeFunction('codeAutomationLog', (type, args) => {
      if (type === 'error') pageErrors.push(Array.isArray(args) ? format(...args) : String(args));
    });
    await page.exposeFunction('codeAutomationExit', (code) => exited(code));
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    await page.goto(server.testUrl({ extensionDevelopmentPath: REPO, extensionTestsPath: index }));
    let timer;
    const code = await Promise.race([exit, new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)))]);
    clearTimeout(timer);
    await page.screenshot({ path: join(cs.RESULTS_DIR, 'integration.png') }).catch(() => undefined);
    outcome = code;
  } catch (e) {
    outcome = e;
  } finally {
    clearInterval(ticker);
    stream();
    await browser?.close().catch(() => undefined);
    await server?.stop();
  }
  const results = existsSync(resultsFile) ? JSON.parse(readFileSync(resultsFile, 'utf8')) : undefined;
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  if (log) copyFileSync(logFile, join(cs.RESULTS_DIR, 'integration-mocha.log'));
  // Failures mocha's reporter never printed (the spec files failed to load).
  for (const f of results?.failures ?? [])
    if (!log.includes(f.error.split('\n')[0])) console.log(`\n  ${f.title}:\n    ${f.error.split('\n').join('\n    ')}`);
  removeRunDir();
  process.removeListener('exit', removeRunDir);
  if (results && (outcome === 0 || (outcome === 1 && results.failed > 0))) return results;
  // Nothing (or something inconsistent) came back: one failure, with what is known.
  const why =
    outcome instanceof Error
      ? outcome.message
      : outcome === 'timeout'
        ? `no result within ${timeoutMs} ms (SPARSITY_LENS_INTEGRATION_TIMEOUT_MS)`
        : `the workbench exited with ${outcome} without failing tests: the tests did not load or run()`;
  console.log(`\n  integration tier failed: ${why}`);
  if (pageErrors.length)
    console.log(
      `  last errors of the workbench:\n    ${pageErrors
        .slice(-8)
        .map((e) => e.split('\n').slice(0, 6).join('\n      '))
        .join('\n    ')}`,
    );
  console.log(
    `  code-server log: ${relative(REPO, join(cs.RESULTS_DIR, 'code-server-integration.log'))}, screenshot: test-results/integration.png`,
  );
  return { passed: results?.passed ?? 0, failed: (results?.failed ?? 0) + 1, skipped: results?.skipped ?? 0 };
}

let browserCheck;
for (const tier of tiers) {
  const started = Date.now();
  console.log(`\n=== ${tier} tests ===`);
  let counts;
  if (tier === 'unit') counts = await runMocha('unit', { timeout: 60_000 });
  else {
    if (!browserCheck) {
      browserCheck = browserPrerequisites();
      if (browserCheck.problem) console.log(browserCheck.problem);
    }
    if (browserCheck.problem) counts = { passed: 0, failed: 1, skipped: 0 };
    else if (browserCheck.missing.length) {
      const what = browserCheck.missing.join('; ');
      console.log(`SKIPPING the ${tier} tier (SPARSITY_LENS_SKIP_BROWSER=1): missing ${what}`);
      lines.push(`${tier}: not run, missing ${what}`);
      continue;
    } else if (tier === 'integration') counts = await runIntegration();
    else {
      // Screenshots of earlier runs (a FAILED-… from last time) would mislead.
      rmSync(join(REPO, 'test-results', 'e2e'), { recursive: true, force: true });
      counts = await runMocha('e2e', { timeout: 90_000, slow: 10_000 });
    }
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (counts.note) console.log(counts.note);
  lines.push(`${tier}: passed ${counts.passed}, failed ${counts.failed}, skipped ${counts.skipped} (${seconds} s)`);
  totals.passed += counts.passed;
  totals.failed += counts.failed;
  totals.skipped += counts.skipped;
}

console.log('\n' + lines.join('\n'));
console.log(`\n${totals.passed} passed, ${totals.failed} failed` + (totals.skipped ? `, ${totals.skipped} skipped` : ''));
// Playwright and mocha may hold handles open; every server was stopped above.
process.exit(totals.failed ? 1 : 0);
