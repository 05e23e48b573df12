// The Debian packages the browser tiers need besides code-server: chromium (the browser
// playwright-core drives) and ripgrep (code-server's search; install-code-server.sh links it).
// scripts/run-tests.mjs calls ensureSystemPackages() before the browser tiers: missing packages
// are installed with apt-get when this process may (root, or sudo without a password), else the
// run stops with the command to type. SPARSITY_LENS_SKIP_BROWSER=1 never installs anything.
//
// CommonJS like codeServer.cjs: the compiled unit tests require it, the .mjs scripts import it.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/** Each package and the commands that tell it is installed (any one of them). */
const PACKAGES = [
  { name: 'chromium', commands: ['chromium', 'chromium-browser'] },
  { name: 'ripgrep', commands: ['rg'] },
];

/** The first of `names` that is an executable file on env.PATH, as an absolute path. */
function findCommand(names, env = process.env) {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const name of names) {
      const file = path.join(dir, name);
      try {
        fs.accessSync(file, fs.constants.X_OK);
        if (fs.statSync(file).isFile()) return file;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** The browser: SPARSITY_LENS_CHROMIUM if set (and there), else chromium on PATH. */
function findChromium(env = process.env) {
  if (env.SPARSITY_LENS_CHROMIUM) return fs.existsSync(env.SPARSITY_LENS_CHROMIUM) ? env.SPARSITY_LENS_CHROMIUM : undefined;
  return findCommand(PACKAGES[0].commands, env);
}

/** Names of the packages that are not installed, in PACKAGES order. */
function missingPackages(env = process.env) {
  return PACKAGES.filter((p) => (p.name === 'chromium' ? !findChromium(env) : !findCommand(p.commands, env))).map((p) => p.name);
}

/** The shell command that installs `packages`, as a user types it. */
function installCommand(packages, { sudo }) {
  const s = sudo ? 'sudo ' : '';
  return `${s}apt-get update && ${s}apt-get install -y ${packages.join(' ')}`;
}

/**
 * What to do about the packages: a pure decision, so it can be tested on any machine.
 *   missing  package names not installed        skip     SPARSITY_LENS_SKIP_BROWSER=1
 *   root     this process runs as root           sudo     `sudo -n true` succeeds
 *   aptGet   apt-get is on PATH
 * Returns { action: 'ready' }, { action: 'skip', what } (what is missing, with the command),
 * { action: 'install', packages, sudo, line } (line announces the install) or
 * { action: 'fail', line } (line gives the command to run).
 */
function decide({ missing, skip, root, sudo, aptGet }) {
  if (!missing.length) return { action: 'ready' };
  const list = missing.join(', ');
  if (skip) return { action: 'skip', what: `${list} (${installCommand(missing, { sudo: !root })})` };
  if (aptGet && (root || sudo)) {
    const command = installCommand(missing, { sudo: !root });
    return { action: 'install', packages: missing, sudo: !root, line: `the browser tiers need ${list}: installing with ${command}` };
  }
  return {
    action: 'fail',
    line: `the browser tiers need ${list}: run \`${installCommand(missing, { sudo: !root })}\`, or set SPARSITY_LENS_SKIP_BROWSER=1 to skip them`,
  };
}

/** Runs apt-get update, then apt-get install -y `packages`, non-interactively; throws with the output's end. */
function aptInstall(packages, { sudo, env = process.env }) {
  const aptGet = findCommand(['apt-get'], env);
  const sudoPath = sudo ? findCommand(['sudo'], env) : undefined;
  for (const args of [['update'], ['install', '-y', ...packages]]) {
    // sudo resets the environment: env(1) carries DEBIAN_FRONTEND through it.
    const [file, argv] = sudo ? [sudoPath, ['-n', 'env', 'DEBIAN_FRONTEND=noninteractive', aptGet, ...args]] : [aptGet, args];
    const r = spawnSync(file, argv, { env: { ...env, DEBIAN_FRONTEND: 'noninteractive' }, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (r.status !== 0) {
      const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
      throw new Error(
        `${sudo ? 'sudo ' : ''}apt-get ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})${output ? `:\n${output}` : ''}`,
      );
    }
  }
}

/** Whether `sudo -n true` succeeds: sudo without a password. */
function passwordlessSudo(env = process.env) {
  const sudo = findCommand(['sudo'], env);
  return !!sudo && spawnSync(sudo, ['-n', 'true'], { env, stdio: 'ignore' }).status === 0;
}

/**
 * Makes sure chromium and ripgrep are installed, installing them when this process may.
 * Returns { action: 'ready' } (also after an install), or decide()'s 'skip' or 'fail'. The options replace the probes of this machine, for tests.
 */
function ensureSystemPackages({
  env = process.env,
  skip = env.SPARSITY_LENS_SKIP_BROWSER === '1',
  root = process.getuid?.() === 0,
  sudo = () => passwordlessSudo(env),
  log = (line) => process.stdout.write(line + '\n'),
} = {}) {
  const missing = missingPackages(env);
  const decision = decide({
    missing,
    skip,
    root,
    sudo: missing.length > 0 && !skip && !root && sudo(),
    aptGet: !!findCommand(['apt-get'], env),
  });
  if (decision.action !== 'install') return decision;
  log(decision.line);
  try {
    aptInstall(decision.packages, { sudo: decision.sudo, env });
  } catch (e) {
    return { action: 'fail', line: `installing ${decision.packages.join(', ')} failed: ${e.message}` };
  }
  const still = missingPackages(env);
  if (still.length)
    return { action: 'fail', line: `after apt-get install -y ${decision.packages.join(' ')}, still not on PATH: ${still.join(', ')}` };
  return { action: 'ready' };
}

module.exports = { PACKAGES, findCommand, findChromium, missingPackages, installCommand, decide, ensureSystemPackages };
