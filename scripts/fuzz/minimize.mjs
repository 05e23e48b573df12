// Shrinks an input that breaks the CLI's contract to a small one that still breaks it the same way,
// for a regression fixture: deletes ever smaller chunks of the file's bytes (delta debugging) while
// the CLI, run as its own process, gives the same kinds of break (exit code, several lines, control
// characters, no file name, timeout, memory). For a multi-file input (TF.js folder, shards, ONNX
// external data) give the member that was mutated: the files beside it are kept as they are.
//
//   node scripts/fuzz/minimize.mjs FILE [--command report|prune] [--target T] [--out PATH]
//                                  [--timeout-ms T] [--max-rss-mb M] [--stderr-match RE]
//
// --target: the file to give the CLI when it is not FILE (a model.json beside the mutated shard).
// --command prune (default report): runs `prune TARGET -o OUT --force --json` (OUT `pruned<ext>`
// beside it, as run.mjs does) and keeps the prune contract's kinds (pruneContract.mjs: exit code,
// several lines, control characters, a line not starting `error: `, `written` files missing,
// the input changed, a staging folder or OUT left); what a run wrote is removed before the next.
// --stderr-match: a candidate must also print something matching RE (a JavaScript regular
// expression) on stderr, so that an exit 1 stays the same failure ("did not verify") and does not
// drift to another one.
// The minimized bytes go to PATH (default FILE.min); FILE is not changed.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { cleanOutputs, hashFiles, pruneBreaks, pruneOutputPath } from './pruneContract.mjs';
import { ROOT } from './seeds.mjs';

const USAGE =
  'usage: node scripts/fuzz/minimize.mjs FILE [--command report|prune] [--target T] [--out PATH] [--timeout-ms T] [--max-rss-mb M] [--stderr-match RE]';
const argv = process.argv.slice(2);
/** @type {{ file?: string, target?: string, out?: string, command: string, timeoutMs: number, maxRssMb: number, stderrMatch?: RegExp }} */
const opts = { command: 'report', timeoutMs: 5000, maxRssMb: 512 };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--target') opts.target = resolve(argv[++i]);
  else if (a === '--command' && ['report', 'prune'].includes(argv[i + 1])) opts.command = argv[++i];
  else if (a === '--out') opts.out = resolve(argv[++i]);
  else if (a === '--timeout-ms') opts.timeoutMs = Number(argv[++i]);
  else if (a === '--stderr-match') opts.stderrMatch = new RegExp(argv[++i]);
  else if (a === '--max-rss-mb') opts.maxRssMb = Number(argv[++i]);
  else if (!a.startsWith('-') && !opts.file) opts.file = resolve(a);
  else {
    console.error(USAGE);
    process.exit(2);
  }
}
if (!opts.file || !existsSync(opts.file)) {
  console.error(USAGE);
  process.exit(2);
}
const CLI = join(ROOT, 'dist', 'cli.js');
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\u2028\u2029\ufffd]/u;

// The input is copied into a folder of its own (with its neighbours, for a multi-file set).
const work = mkdtempSync(join(tmpdir(), 'sparsity-minimize-'));
cpSync(dirname(opts.file), work, { recursive: true, filter: (src) => src === dirname(opts.file) || dirname(src) === dirname(opts.file) });
const member = join(work, basename(opts.file));
const target = join(work, basename(opts.target ?? opts.file));
// With --command prune: the input's files (all in the work folder now) and OUT beside them.
const inputs = readdirSync(work).map((n) => join(work, n));
const pruneOut = opts.command === 'prune' ? pruneOutputPath(target, inputs) : '';

/**
 * The contract's breaks when the CLI reports `target` (with `member` holding `bytes`), sorted.
 * @param {Buffer} bytes
 * @returns {string}
 */
function breaks(bytes) {
  const prune = opts.command === 'prune';
  if (prune) cleanOutputs(pruneOut, inputs);
  writeFileSync(member, bytes);
  const hashes = prune ? hashFiles(inputs) : {};
  const args = prune ? [CLI, 'prune', target, '-o', pruneOut, '--force', '--json'] : [CLI, 'report', target, '--json'];
  // GNU time's figure goes beside the work folder: in it, it would be a file the prune left.
  const rss = `${work}.rss`;
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', prune ? rss : join(work, '.rss'), process.execPath, ...args], {
    encoding: 'utf8',
    timeout: opts.timeoutMs,
    killSignal: 'SIGKILL',
    maxBuffer: 1 << 28,
  });
  /** @type {string[]} */
  const kinds = [];
  if (r.error || r.signal) kinds.push(r.signal === 'SIGKILL' ? 'timeout' : `signal ${r.signal}`);
  else {
    const kb = Number(
      readFileSync(prune ? rss : join(work, '.rss'), 'utf8')
        .trim()
        .split('\n')
        .pop(),
    );
    if (kb > opts.maxRssMb * 1024) kinds.push('memory');
    if (prune) {
      if (r.status !== 0) {
        if (r.status !== 2) kinds.push('exit-code');
        const text = r.stderr.endsWith('\n') ? r.stderr.slice(0, -1) : r.stderr;
        if (/[\n\r]/.test(text)) kinds.push('multi-line');
        if (NON_PRINTABLE.test(text.replace(/[\n\r]/g, ''))) kinds.push('control-chars');
        if (!text.startsWith('error: ')) kinds.push('not-error-line');
      }
      kinds.push(...pruneBreaks({ code: r.status, stdout: r.stdout, out: pruneOut, files: inputs, hashes }));
    } else if (r.status === 0) {
      try {
        JSON.parse(r.stdout);
      } catch {
        kinds.push('bad-json');
      }
    } else {
      if (r.status !== 2) kinds.push('exit-code');
      const text = r.stderr.endsWith('\n') ? r.stderr.slice(0, -1) : r.stderr;
      if (/[\n\r]/.test(text)) kinds.push('multi-line');
      if (NON_PRINTABLE.test(text.replace(/[\n\r]/g, ''))) kinds.push('control-chars');
      const named = /^error: (.+?): /.exec(text)?.[1];
      if (named !== target && !(named ?? '').startsWith(work)) kinds.push('missing-file-name');
    }
  }
  if (opts.stderrMatch && !opts.stderrMatch.test(r.stderr ?? '')) kinds.push('stderr-differs');
  return kinds.sort().join(', ');
}

let bytes = readFileSync(opts.file);
const wanted = breaks(bytes);
if (wanted.includes('stderr-differs')) {
  console.error(`${relative(process.cwd(), opts.file)}: stderr does not match --stderr-match ${opts.stderrMatch}`);
  rmSync(work, { recursive: true, force: true });
  rmSync(`${work}.rss`, { force: true });
  process.exit(1);
}
if (!wanted) {
  console.error(`${relative(process.cwd(), opts.file)} keeps the contract: nothing to minimize`);
  rmSync(work, { recursive: true, force: true });
  rmSync(`${work}.rss`, { force: true });
  process.exit(1);
}
console.error(`${bytes.length} bytes break the contract (${wanted}); minimizing`);
let runs = 1;
// Delta debugging over byte chunks: from halves down to single bytes, keep any deletion that
// still breaks the contract the same way.
for (let chunk = bytes.length >> 1; chunk >= 1; chunk >>= 1) {
  for (let at = 0; at < bytes.length;) {
    const candidate = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + chunk)]);
    runs++;
    if (breaks(candidate) === wanted) bytes = candidate;
    else at += chunk;
  }
  console.error(`chunk ${chunk}: ${bytes.length} bytes (${runs} runs)`);
}
const out = opts.out ?? `${opts.file}.min`;
writeFileSync(out, bytes);
rmSync(work, { recursive: true, force: true });
rmSync(`${work}.rss`, { force: true });
console.log(`${relative(process.cwd(), out)}: ${bytes.length} bytes, still ${wanted} (${runs} runs)`);
