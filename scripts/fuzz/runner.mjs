// One persistent runner of the fuzzer's fast mode (forked by run.mjs): loads the CLI bundle once
// (dist/fuzzTarget.js: the CLI's `main` and the kernel factory) and runs
// `main(['report', FILE, '--json'], out, err)` for each file it is sent (with --command prune:
// `main(['prune', FILE, '-o', OUT, '--force', '--json'], out, err)`), with captured output and
// kernels kept across inputs (one native kernel worker process, restarted by the kernels when it
// crashes). Messages: { id, make: { seed, format, index, dir, command? } } makes that input
// (seeds.mjs) and replies { id, input }, for command 'prune' also { out, hashes }: a fresh OUT
// beside the input and the SHA-256 of each of its files, taken before any run; { id, run: FILE,
// prune?: { out, files, hashes } } runs the report (or the prune, when `prune` is given) and
// replies { id, code, json, stdoutHead, stderr }: json tells whether stdout parsed as JSON; after
// a prune also `pruneBreaks`, the contract's breaks found on disk (pruneContract.mjs: `written`
// files missing, the input changed, a staging folder or, after a failure, OUT left), checked here
// after main returns, before the reply. Deadlines and memory bounds are the parent's: it kills
// this process group on expiry.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { hashFiles, pruneBreaks, pruneOutputPath } from './pruneContract.mjs';
import { makeInput, ROOT, seedSets } from './seeds.mjs';

const require = createRequire(import.meta.url);
const { main, createKernels } = require(join(ROOT, 'dist', 'fuzzTarget.js'));

/** Warnings of the kernel factory (native kernels unavailable) go to stderr of the input, as in the CLI. */
let pendingWarning = '';
const kernels = createKernels({ backend: 'auto', root: ROOT, onWarning: (/** @type {string} */ m) => (pendingWarning += m + '\n') });

/** A stream that keeps what is written to it. */
function capture() {
  /** @type {string[]} */
  const chunks = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  // main writes strings and never waits for drain: keep them synchronously.
  stream.write = (/** @type {string | Buffer} */ chunk) => (chunks.push(String(chunk)), true);
  return { stream, text: () => chunks.join('') };
}

/** An error thrown outside main's promise (an unhandled rejection, an exception in a callback) ends the CLI with code 1 too. */
let stray = '';
process.on('unhandledRejection', (e) => (stray += `unhandled rejection: ${e instanceof Error ? e.stack : String(e)}\n`));
process.on('uncaughtException', (e) => (stray += `uncaught exception: ${e.stack ?? String(e)}\n`));

/**
 * @param {string} file
 * @param {{ out: string, files: string[], hashes: Record<string, string> }} [prune] run the prune to `out` instead of the report
 */
async function run(file, prune) {
  const out = capture();
  const err = capture();
  stray = '';
  let code;
  try {
    const argv = prune ? ['prune', file, '-o', prune.out, '--force', '--json'] : ['report', file, '--json'];
    code = await main(argv, out.stream, err.stream, { kernels });
  } catch (e) {
    err.stream.write(`error: ${String(e)}\n`);
    code = 1;
  }
  const stdout = out.text();
  let json = false;
  if (code === 0) {
    try {
      JSON.parse(stdout);
      json = true;
    } catch {
      json = false;
    }
  }
  // A stray error makes the process exit 1 in the CLI, whatever main returned.
  if (stray) code = 1;
  const stderr = pendingWarning + err.text() + stray;
  pendingWarning = '';
  const head = { code, json, stdoutHead: stdout.slice(0, 300), stderr: stderr.slice(0, 16000) };
  return prune ? { ...head, pruneBreaks: pruneBreaks({ code, stdout, ...prune }) } : head;
}

const sets = seedSets();

// A runner whose parent is gone (killed, interrupted) ends, taking its kernel worker with it.
process.on('disconnect', () => {
  void kernels.dispose().finally(() => process.exit(0));
});

process.on(
  'message',
  async (
    /** @type {{ id: number, make?: { seed: number, format: string, index: number, dir: string, command?: string }, run?: string, prune?: { out: string, files: string[], hashes: Record<string, string> } }} */ msg,
  ) => {
    if (msg.make) {
      // Inputs are made here, not in the parent, so that its timers stay on time and both cores make them.
      try {
        const { seed, format, index, dir, command } = msg.make;
        const input = makeInput(sets, seed, format, index, dir);
        const prune = command === 'prune' ? { out: pruneOutputPath(input.target, input.files), hashes: hashFiles(input.files) } : {};
        // The mutator's garbage (and earlier reports') would count in the input's peak RSS: collected first when large.
        if (process.memoryUsage().rss > 96 << 20) globalThis.gc?.();
        process.send?.({ id: msg.id, input, ...prune });
      } catch (e) {
        process.send?.({ id: msg.id, error: e instanceof Error ? e.stack : String(e) });
      }
      return;
    }
    const r = await run(/** @type {string} */ (msg.run), msg.prune);
    process.send?.({ id: msg.id, ...r });
  },
);

// Warm up: start the kernel worker on a small fixture, so an input's time and memory are its own.
await run(join(ROOT, 'test', 'fixtures', 'same_weights', 'model.safetensors'));
process.send?.({ ready: true });
