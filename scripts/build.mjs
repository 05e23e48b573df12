// Bundles every entry point with esbuild. The extension keeps `vscode` external; the CLI is a
// standalone Node script with a shebang.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const production = process.argv.includes('--production');
/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
};

const builds = [
  esbuild.build({ ...common, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] }),
  esbuild.build({ ...common, entryPoints: ['src/cli/index.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } }),
  // The kernel worker runs as its own process and loads the native addon by absolute path.
  esbuild.build({ ...common, entryPoints: ['src/kernels/native/kernelWorker.ts'], outfile: 'dist/kernelWorker.js' }),
  // The fuzzer's target (scripts/fuzz/runner.mjs): the CLI's main and the kernel factory, loaded once per runner process
  // and called for many inputs. Not shipped (.vscodeignore).
  esbuild.build({
    ...common,
    stdin: {
      contents: "export { main } from './src/cli/main';\nexport { createKernels } from './src/kernels/createKernels';\n",
      resolveDir: '.',
      sourcefile: 'fuzzTarget.ts',
      loader: 'ts',
    },
    outfile: 'dist/fuzzTarget.js',
  }),
  // The checkpoint editor's webview: browser code, one script loaded under a nonce.
  esbuild.build({
    ...common,
    platform: 'browser',
    format: 'iife',
    target: 'chrome120',
    entryPoints: ['webview/src/main.ts'],
    outfile: 'dist/webview.js',
  }),
];
if (process.argv.includes('--bench')) {
  // Baselines come from bench/node_modules, resolved at run time.
  builds.push(
    esbuild.build({
      ...common,
      entryPoints: ['bench/kernels.bench.ts'],
      outfile: 'bench/dist/kernels.bench.js',
      external: ['onnxruntime-node', 'onnx-proto'],
    }),
  );
}
await Promise.all(builds);
// The codicon font the webview uses, served from dist/ like the scripts.
mkdirSync('dist', { recursive: true });
for (const f of ['codicon.css', 'codicon.ttf']) copyFileSync(`node_modules/@vscode/codicons/dist/${f}`, `dist/${f}`);
