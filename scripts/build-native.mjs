// Builds the native kernels (native/ → native/build/Release/sparsity_lens_native.node) with
// node-gyp. Run by `npm install` / `npm ci` (the package's "install" script) and by hand.
//
// A failed build is not an error: the extension and the CLI then use the TypeScript kernels. It
// prints one warning and exits 0, unless SPARSITY_LENS_REQUIRE_NATIVE=1 (then it exits 1). The
// full compiler output of a failed build is kept in native/build/build-native.log.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
const requireNative = process.env.SPARSITY_LENS_REQUIRE_NATIVE === '1';

function fail(reason, log) {
  if (log) {
    try {
      mkdirSync(path.join(nativeDir, 'build'), { recursive: true });
      writeFileSync(path.join(nativeDir, 'build', 'build-native.log'), log);
    } catch {
      // the warning below is what matters
    }
  }
  console.warn(`Sparsity Lens: the native kernels could not be built (${reason}); the TypeScript kernels will be used.`);
  process.exit(requireNative ? 1 : 0);
}

/** node-gyp's entry script: this package's devDependency, else the one npm ships. */
function findNodeGyp() {
  try {
    return createRequire(path.join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    const fromNpm = process.env.npm_config_node_gyp;
    return fromNpm && existsSync(fromNpm) ? fromNpm : undefined;
  }
}

/** Node's headers: npm's nodedir setting, else the system's (/usr), else node-gyp downloads them. */
function findNodeDir() {
  const configured = process.env.npm_config_nodedir;
  if (configured && existsSync(path.join(configured, 'include', 'node', 'node_api.h'))) return configured;
  if (existsSync('/usr/include/node/node_api.h')) return '/usr';
  return undefined;
}

/** The most telling line of a failed build's output. */
function firstError(output) {
  const lines = output.split('\n').map((l) => l.trim());
  const line =
    lines.find((l) => /\berror\b/i.test(l) && !/^gyp (ERR|info)/.test(l)) ?? lines.find((l) => /^gyp ERR! (stack )?Error/.test(l));
  return line ? line.replace(/^gyp ERR! (stack )?/, '').slice(0, 200) : undefined;
}

if (!existsSync(path.join(nativeDir, 'binding.gyp'))) fail('native/binding.gyp is missing');
const nodeGyp = findNodeGyp();
if (!nodeGyp) fail('node-gyp is not installed');

const args = [nodeGyp, 'rebuild', '-j', '2'];
const nodeDir = findNodeDir();
if (nodeDir) args.push(`--nodedir=${nodeDir}`);
const result = spawnSync(process.execPath, args, { cwd: nativeDir, encoding: 'utf8', maxBuffer: 64 << 20 });
const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
if (result.error) fail(`could not run node-gyp: ${result.error.message}`, output);
if (result.status !== 0) {
  fail(`node-gyp exited with ${result.status ?? result.signal}: ${firstError(output) ?? 'see native/build/build-native.log'}`, output);
}
const addon = path.join(nativeDir, 'build', 'Release', 'sparsity_lens_native.node');
if (!existsSync(addon)) fail('node-gyp did not produce native/build/Release/sparsity_lens_native.node', output);

// Load it once: a build that does not load (wrong ABI, missing symbol) is a failed build.
try {
  const loaded = createRequire(import.meta.url)(addon);
  if (typeof loaded.scan !== 'function') fail('the built addon does not export scan', output);
} catch (e) {
  fail(`the built addon does not load: ${String(e?.message ?? e).split('\n')[0]}`, output);
}
console.log('Sparsity Lens: native kernels built (native/build/Release/sparsity_lens_native.node).');
