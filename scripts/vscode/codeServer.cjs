// Runs the extension in a real VS Code: code-server (VS Code 1.100 for Node 20, installed offline
// by install-code-server.sh) on a free loopback port, hermetic (temporary user data, extensions
// and XDG folders, an explicit config file), and Debian's chromium driven by playwright-core.
//
// CommonJS on purpose: the compiled TypeScript tests (CommonJS) require it, the .mjs scripts
// import it, on every Node 20.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { findChromium, findCommand } = require('./systemPackages.cjs');

const REPO = path.resolve(__dirname, '..', '..');
const CODE_SERVER_VERSION = '4.100.3';
const CODE_SERVER_DIR = path.join(REPO, '.vscode-test', 'code-server');
const CODE_SERVER_ENTRY = path.join(CODE_SERVER_DIR, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
const INSTALL_SCRIPT = path.join(__dirname, 'install-code-server.sh');
const RESULTS_DIR = path.join(REPO, 'test-results');

/** Settings every instance starts with: nothing may pop up, phone home or ask for trust. */
const BASE_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'update.showReleaseNotes': false,
  'security.workspace.trust.enabled': false,
  'security.workspace.trust.startupPrompt': 'never',
  'extensions.ignoreRecommendations': true,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'git.enabled': false,
  'git.openRepositoryInParentFolders': 'never',
  'git.autoRepositoryDetection': false,
  'git.ignoreMissingGitWarning': true,
  'git.ignoreLegacyWarning': true,
  'npm.autoDetect': 'off',
  'typescript.tsc.autoDetect': 'off',
  'files.hotExit': 'off',
  'window.restoreWindows': 'none',
  'chat.commandCenter.enabled': false,
};

function packageJson() {
  return JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
}

/** `publisher.name`, the id VS Code knows the extension by. */
function extensionId() {
  const pkg = packageJson();
  return `${pkg.publisher}.${pkg.name}`;
}

function codeServerInstalled() {
  return fs.existsSync(path.join(CODE_SERVER_DIR, `.installed-${CODE_SERVER_VERSION}`)) && fs.existsSync(CODE_SERVER_ENTRY);
}

/** Where code-server's search looks for ripgrep (install-code-server.sh links the system's rg). */
const RIPGREP_LINK = path.join(
  CODE_SERVER_DIR,
  'node_modules',
  'code-server',
  'lib',
  'vscode',
  'node_modules',
  '@vscode',
  'ripgrep',
  'bin',
  'rg',
);

/**
 * Installs code-server unless it is there (about 85 s the first time, then a no-op); links
 * ripgrep into an install made before rg was.
 */
function ensureCodeServer(log = (m) => process.stdout.write(m + '\n')) {
  if (codeServerInstalled()) {
    const rg = findCommand(['rg']);
    if (rg && !fs.existsSync(RIPGREP_LINK)) {
      fs.mkdirSync(path.dirname(RIPGREP_LINK), { recursive: true });
      fs.rmSync(RIPGREP_LINK, { force: true }); // a dangling link
      fs.symlinkSync(rg, RIPGREP_LINK);
    }
    return;
  }
  log(`installing code-server ${CODE_SERVER_VERSION} into ${path.relative(REPO, CODE_SERVER_DIR)} (once, about 90 s)`);
  const r = spawnSync('bash', [INSTALL_SCRIPT], { cwd: REPO, stdio: 'inherit', env: { ...process.env, npm_config_yes: 'true' } });
  if (r.status !== 0 || !codeServerInstalled())
    throw new Error(`scripts/vscode/install-code-server.sh failed (exit ${r.status ?? r.signal})`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

function httpGet(url, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(undefined));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: every code-server is its own process group (detached), killed as a group
// on stop, on process exit, and on SIGINT/SIGTERM, so no extension host or pty host survives.

const live = new Set();

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** Synchronous last resort: kill every live server's group and remove its temp folder. */
function killAllSync() {
  for (const s of live) {
    killGroup(s.pid, 'SIGKILL');
    if (!s.keepTemp) {
      try {
        // Killed processes may still be flushing logs for a moment: retry.
        fs.rmSync(s.temp, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      } catch {
        // a process still writing; the OS temp cleaner gets it
      }
    }
  }
  live.clear();
}

let handlersInstalled = false;
function installExitHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      if (live.size) process.stderr.write(`\n${signal}: stopping code-server\n`);
      killAllSync();
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Workspaces and extension installation.

function mkTemp(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A fresh workspace folder: every file of examples/ at its top, plus the named files of
 * test/fixtures under fixtures/. The repository itself is never opened, so tests cannot change it.
 */
/** @param {{ fixtures?: string[], dir?: string }} [options] */
function makeWorkspace({
  fixtures = ['digits_mlp.onnx', 'digits_mlp_unstructured80.safetensors', 'pytorch/pruned.pt', 'tfjs/layers'],
  dir,
} = {}) {
  const ws = dir ?? path.join(mkTemp('sparsity-lens-ws-'), 'workspace');
  fs.mkdirSync(ws, { recursive: true });
  fs.cpSync(path.join(REPO, 'examples'), ws, { recursive: true });
  if (fixtures.length) {
    fs.mkdirSync(path.join(ws, 'fixtures'), { recursive: true });
    for (const f of fixtures)
      fs.cpSync(path.join(REPO, 'test', 'fixtures', f), path.join(ws, 'fixtures', path.basename(f)), { recursive: true });
  }
  return ws;
}

/**
 * Installs the extension into `extensionsDir`: 'symlink' links the repository folder as
 * `publisher.name-version` (code-server 4.100 scans it like an unpacked install), 'vsix' installs
 * dist/sparsity-lens.vsix (made by `npm run package`; SPARSITY_LENS_VSIX names another) with
 * code-server's own installer.
 */
function installExtension(extensionsDir, how, env) {
  const pkg = packageJson();
  fs.mkdirSync(extensionsDir, { recursive: true });
  if (how === 'symlink') {
    fs.symlinkSync(REPO, path.join(extensionsDir, `${pkg.publisher}.${pkg.name}-${pkg.version}`), 'dir');
    return;
  }
  if (how === 'vsix') {
    const vsix = process.env.SPARSITY_LENS_VSIX ?? path.join(REPO, 'dist', `${pkg.name}.vsix`);
    if (!fs.existsSync(vsix)) throw new Error(`${path.relative(REPO, vsix)} is missing: run npm run package`);
    const r = spawnSync(process.execPath, [CODE_SERVER_ENTRY, ...env.baseArgs, '--install-extension', vsix, '--force'], {
      env: env.vars,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`installing ${vsix} failed:\n${r.stdout}\n${r.stderr}`);
    return;
  }
  if (how !== 'none') throw new Error(`unknown extension install mode ${how}`);
}

// ---------------------------------------------------------------------------------------------
// The server.

/**
 * Starts code-server and resolves once /healthz answers.
 *
 * options.workspace   folder to open (default: a fresh makeWorkspace())
 * options.extension   'symlink' | 'vsix' | 'none' (extension development mode passes it by URL)
 * options.settings    extra user settings
 * options.workspaceTrust  true: workspace trust on (no --disable-workspace-trust, the trust settings
 *                     on, no startup prompt), so a folder not trusted yet opens in Restricted Mode
 * options.port        fixed port (default: a free one); options.host (default 127.0.0.1)
 * options.env         extra environment for the server and so the extension host
 * options.logName     base name of the server log under test-results/ (default code-server)
 * options.keepTemp    keep the temporary folder after stop (default: SPARSITY_LENS_KEEP_TEMP=1)
 */
async function startCodeServer(options = {}) {
  if (!codeServerInstalled()) throw new Error('code-server is not installed: run bash scripts/vscode/install-code-server.sh');
  installExitHandlers();
  const host = options.host ?? '127.0.0.1';
  const temp = mkTemp('sparsity-lens-cs-');
  const workspace = options.workspace ?? makeWorkspace({ dir: path.join(temp, 'workspace') });
  const userDataDir = path.join(temp, 'user-data');
  const extensionsDir = path.join(temp, 'extensions');
  const configFile = path.join(temp, 'config.yaml');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });
  const trust = options.workspaceTrust
    ? { 'security.workspace.trust.enabled': true, 'security.workspace.trust.startupPrompt': 'never' }
    : {};
  fs.writeFileSync(
    path.join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({ ...BASE_SETTINGS, ...trust, ...options.settings }, null, 2),
  );
  // Every flag is also passed on the command line; the file exists so code-server never writes
  // one (with a password) into the home folder.
  fs.writeFileSync(configFile, 'auth: none\ncert: false\n');
  const vars = {
    ...process.env,
    // code-server keeps logs and a heartbeat file under XDG folders: keep them in the temp folder.
    XDG_DATA_HOME: path.join(temp, 'xdg-data'),
    XDG_CONFIG_HOME: path.join(temp, 'xdg-config'),
    XDG_CACHE_HOME: path.join(temp, 'xdg-cache'),
    // Never open a real browser from inside the workbench.
    BROWSER: 'true',
    ...options.env,
  };
  for (const k of ['PASSWORD', 'HASHED_PASSWORD', 'PORT', 'VSCODE_IPC_HOOK_CLI', 'VSCODE_PROXY_URI', 'ELECTRON_RUN_AS_NODE'])
    delete vars[k];
  const baseArgs = ['--config', configFile, '--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];
  try {
    installExtension(extensionsDir, options.extension ?? 'symlink', { baseArgs, vars });
  } catch (e) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw e;
  }
  const keepTemp = options.keepTemp ?? process.env.SPARSITY_LENS_KEEP_TEMP === '1';

  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const logFile = path.join(RESULTS_DIR, `${options.logName ?? 'code-server'}.log`);
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = options.port ?? (await freePort());
    const logFd = fs.openSync(logFile, 'w');
    const args = [
      CODE_SERVER_ENTRY,
      ...baseArgs,
      '--bind-addr',
      `${host}:${port}`,
      '--auth',
      'none',
      '--disable-telemetry',
      '--disable-update-check',
      ...(options.workspaceTrust ? [] : ['--disable-workspace-trust']),
      '--disable-getting-started-override',
      '--ignore-last-opened',
      workspace,
    ];
    const child = spawn(process.execPath, args, { cwd: temp, env: vars, detached: true, stdio: ['ignore', logFd, logFd] });
    fs.closeSync(logFd);
    const server = makeServer({ child, host, port, temp, workspace, userDataDir, extensionsDir, logFile, keepTemp });
    live.add(server);
    const ready = await waitHealthy(server, options.startTimeoutMs ?? 60_000);
    if (ready === true) return server;
    lastError = ready;
    await server.stop({ keepTemp: true });
    if (options.port) break; // a fixed port that is busy will not become free by retrying
  }
  if (!keepTemp) fs.rmSync(temp, { recursive: true, force: true });
  throw new Error(`code-server did not start: ${lastError}\n--- ${logFile} ---\n${tail(logFile)}`);
}

function tail(file, lines = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function waitHealthy(server, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exited) return `it exited with ${server.exitCode ?? server.exitSignal}`;
    const r = await httpGet(`${server.url}/healthz`);
    if (r && r.status === 200) return true;
    await sleep(200);
  }
  return `no answer on ${server.url}/healthz within ${timeoutMs} ms`;
}

function makeServer({ child, host, port, temp, workspace, userDataDir, extensionsDir, logFile, keepTemp }) {
  const url = `http://${host}:${port}`;
  const authority = `${host}:${port}`;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const server = {
    pid: child.pid,
    keepTemp,
    host,
    port,
    url,
    temp,
    workspace,
    userDataDir,
    extensionsDir,
    logFile,
    exited: false,
    exitCode: null,
    exitSignal: null,
    /** The workbench with `folder` (default: the workspace) open. */
    folderUrl(folder = workspace) {
      return `${url}/?folder=${encodeURIComponent(folder)}`;
    },
    /** A path on the server as the workbench names it. */
    remoteUri(p) {
      return `vscode-remote://${authority}${path.resolve(p).split(path.sep).map(encodeURIComponent).join('/')}`;
    },
    /**
     * The workbench in extension development mode: the extension loads from
     * `extensionDevelopmentPath`, and `extensionTestsPath` (a compiled module exporting run())
     * runs in the extension host; the page reports the outcome through codeAutomationExit.
     */
    testUrl({ extensionDevelopmentPath = REPO, extensionTestsPath, folder = workspace }) {
      const payload = [['extensionDevelopmentPath', server.remoteUri(extensionDevelopmentPath)]];
      if (extensionTestsPath) payload.push(['extensionTestsPath', server.remoteUri(extensionTestsPath)]);
      return `${server.folderUrl(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    },
    /** Kills the whole process group (server, extension hosts, pty host), then removes temp. */
    async stop(opts = {}) {
      if (!server.exited) {
        killGroup(child.pid, 'SIGTERM');
        const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
        if (!done) killGroup(child.pid, 'SIGKILL');
        await Promise.race([exited, sleep(3000)]);
      }
      // Stragglers in the group (the server's own children) go too.
      killGroup(child.pid, 'SIGKILL');
      live.delete(server);
      if (!(opts.keepTemp ?? keepTemp)) fs.rmSync(temp, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    },
  };
  child.once('exit', (code, signal) => {
    server.exited = true;
    server.exitCode = code;
    server.exitSignal = signal;
  });
  return server;
}

// ---------------------------------------------------------------------------------------------
// The browser.

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-quic',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-extensions',
  '--disable-default-apps',
  '--metrics-recording-only',
  '--password-store=basic',
  '--use-mock-keychain',
];

/** Debian's chromium under playwright-core (no browser download). */
async function launchBrowser(options = {}) {
  const executablePath = findChromium();
  if (!executablePath) throw new Error('chromium is not on PATH: apt-get install -y chromium (or set SPARSITY_LENS_CHROMIUM)');
  const { chromium } = require('playwright-core');
  return chromium.launch({ executablePath, headless: options.headless ?? true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

module.exports = {
  REPO,
  RESULTS_DIR,
  CODE_SERVER_VERSION,
  CODE_SERVER_ENTRY,
  BASE_SETTINGS,
  extensionId,
  findChromium,
  codeServerInstalled,
  ensureCodeServer,
  makeWorkspace,
  startCodeServer,
  launchBrowser,
};
