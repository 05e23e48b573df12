// One persistent runner of the fuzzer's fast mode (forked by run.mjs): loads the CLI bundle once
// (dist/fuzzTarget.js: the CLI's `main` and the kernel factory) and runs
// `main(['report', FILE, '--json'], out, err)` for each file it is sent, with captured output and
// kernels kept across inputs (one native kernel worker process, restarted by the kernels when it
// crashes). Replies { id, code, json, stdoutHead, stderr }: json tells whether stdout parsed as
// JSON. Deadlines and memory bounds are the parent's: it kills this process group on expiry.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ROOT } from './seeds.mjs';

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
 */
async function run(file) {
  const out = capture();
  const err = capture();
  stray = '';
  let code;
  try {
    code = await main(['report', file, '--json'], out.stream, err.stream, { kernels });
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
  return { code, json, stdoutHead: stdout.slice(0, 300), stderr: stderr.slice(0, 16000) };
}

process.on('message', async (/** @type {{ id: number, file: string }} */ msg) => {
  const r = await run(msg.file);
  process.send?.({ id: msg.id, ...r });
  // Output strings of large reports are garbage now; collect before the next input's peak is measured.
  if (process.memoryUsage().rss > 256 << 20) globalThis.gc?.();
});

// Warm up: start the kernel worker on a small fixture, so an input's time and memory are its own.
await run(join(ROOT, 'test', 'fixtures', 'same_weights', 'model.safetensors'));
process.send?.({ ready: true });
