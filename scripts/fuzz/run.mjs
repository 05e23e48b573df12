// The fuzzer of the CLI's contract: `sparsity-lens report FILE --json` either exits 0 printing
// JSON, or exits 2 printing exactly one line `error: FILE: what` (printable characters only) to
// stderr; anything else is a break. Inputs are seeded mutations of real checkpoints and fixtures
// (seeds.mjs, mutate.mjs), each derived from (seed, format, index) alone.
//
// --command prune (default report): runs `sparsity-lens prune FILE -o OUT --force --json` instead,
// OUT a fresh path beside FILE in the input's temp folder with FILE's extension
// (`<dir>/pruned<ext>`, `<dir>/pruned.safetensors.index.json` for a shard index). Its contract
// (pruneContract.mjs): exit 0 with JSON whose `written` files all exist, the input's files
// byte-identical to before (hashed when the input is made) and no `.sparsity-lens-*` staging
// folder left in OUT's folder; or exit 2 with exactly one printable line `error: …` (it need not
// name the file: "no selected layer can be pruned" is about the selection), no file at OUT (nor
// anything else new there) and no staging folder. Exit 1 ("the written file did not verify"
// included), a crash, a hang or memory past the bound are breaks, as for report. The checks on
// disk run in the runner (fast mode) or here (--isolated, and the recheck of an input past a
// bound, which first removes what the runner's run left).
//
//   node scripts/fuzz/run.mjs [--command report|prune] [--seed N] [--per-format K] [--format F]...
//                             [--timeout-ms T] [--max-rss-mb M] [--jobs J] [--isolated] [--results DIR]
//   node scripts/fuzz/run.mjs --reproduce FORMAT INDEX [--seed N] [--out PATH]
//
// Fast mode (the default): J persistent runner processes (runner.mjs), each loading the CLI bundle
// once and calling its `main(['report', FILE, '--json'], out, err)` (or the prune's) per input, with kernels (and
// their native worker process) kept across inputs. This process enforces the deadline (on expiry
// it kills the runner's process group, counts a break and starts a new runner) and the memory
// bound: before each input it resets the peak RSS of the runner and its kernel worker (writing 5
// to /proc/PID/clear_refs resets VmHWM), polls VmHWM of both every 25 ms and once more when the
// input is done; an input's peak RSS is the larger of the two processes' peaks during that input
// (the runner's includes its resident baseline, about 60 MB). Past the bound the runner is killed
// (a break) and replaced. Where clear_refs cannot be written, VmRSS is sampled instead.
//
// --isolated: each input runs as its own CLI process (`node dist/cli.js report FILE --json`, or
// `node dist/cli.js prune FILE -o OUT --force --json`),
// killed on expiry; peak RSS is what GNU time (/usr/bin/time -f %M, from wait4's ru_maxrss)
// reports, together with VmHWM polled from /proc/PID/status every 25 ms, which also kills a child
// past the bound; without /usr/bin/time the polling alone measures. Inputs live in a temp folder removed at the end;
// breaking inputs are kept as test-results/fuzz/<format>-<index>.<ext> (a folder
// <format>-<index>/ for multi-file sets, the input's files only) with test-results/fuzz/summary.json
// (or in --results DIR). Ends with one plain line; exit code 1 if anything broke the contract.
import { fork, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join, relative, resolve } from 'node:path';
import { cleanOutputs, hashFiles, pruneBreaks, pruneOutputPath } from './pruneContract.mjs';
import { FORMATS, ROOT, makeInput, seedSets, sharedDataDir } from './seeds.mjs';

const USAGE =
  'usage: node scripts/fuzz/run.mjs [--command report|prune] [--seed N] [--per-format K] [--format F] [--timeout-ms T] [--max-rss-mb M] [--jobs J] [--isolated] [--results DIR]\n' +
  '       node scripts/fuzz/run.mjs --reproduce FORMAT INDEX [--seed N] [--out PATH]';

/** @param {string} message */
function die(message) {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

const opts = {
  command: 'report',
  seed: 1,
  perFormat: 50,
  formats: /** @type {string[]} */ ([]),
  timeoutMs: 5000,
  maxRssMb: 512,
  jobs: 2,
  isolated: false,
  results: join(ROOT, 'test-results', 'fuzz'),
  reproduce: null,
  out: null,
};
{
  const argv = process.argv.slice(2);
  /** @param {number} i */
  const num = (i) => {
    const v = Number(argv[i]);
    if (argv[i] === undefined || !Number.isSafeInteger(v) || v < 0) die(`${argv[i - 1]} takes a non-negative integer`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seed') opts.seed = num(++i);
    else if (a === '--command') {
      opts.command = argv[++i];
      if (opts.command !== 'report' && opts.command !== 'prune') die(`--command takes report or prune, not ${opts.command}`);
    } else if (a === '--per-format') opts.perFormat = num(++i);
    else if (a === '--format') opts.formats.push(argv[++i]);
    else if (a === '--timeout-ms') opts.timeoutMs = num(++i);
    else if (a === '--max-rss-mb') opts.maxRssMb = num(++i);
    else if (a === '--jobs') opts.jobs = Math.max(1, num(++i));
    else if (a === '--isolated') opts.isolated = true;
    else if (a === '--results') opts.results = resolve(argv[++i]);
    else if (a === '--reproduce') opts.reproduce = { format: argv[++i], index: num(++i) };
    else if (a === '--out') opts.out = argv[++i];
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else die(`unknown argument ${a}`);
  }
  for (const f of opts.formats.concat(opts.reproduce ? [opts.reproduce.format] : [])) {
    if (!FORMATS.includes(f)) die(`unknown format ${f}; one of ${FORMATS.join(', ')}`);
  }
}

const sets = seedSets();
// The CLI as a user runs it (--isolated, and inputs past a bound in a runner run again alone), and
// the bundle the runners load.
const CLI = join(ROOT, 'dist', 'cli.js');
const TARGET = join(ROOT, 'dist', 'fuzzTarget.js');
const RUNNER = join(ROOT, 'scripts', 'fuzz', 'runner.mjs');
const RESULTS = opts.results;
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

if (opts.reproduce) {
  const { format, index } = opts.reproduce;
  const tmp = mkdtempSync(join(tmpdir(), 'sparsity-fuzz-'));
  try {
    const input = makeInput(sets, opts.seed, format, index, tmp);
    const out = opts.out ?? (input.multiFile ? `${format}-${index}` : `${format}-${index}${extname(input.target)}`);
    if (input.multiFile) {
      cpSync(tmp, out, { recursive: true });
      console.log(
        `${join(out, basename(input.target))}  (seed set ${input.seedSet}, mutated ${input.member}: ${input.mutations.join(', ')})`,
      );
    } else {
      cpSync(input.target, out);
      console.log(`${out}  (seed set ${input.seedSet}: ${input.mutations.join(', ')})`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(0);
}

for (const f of opts.isolated ? [CLI] : [CLI, TARGET])
  if (!existsSync(f)) die(`${relative(process.cwd(), f)} is missing; run npm run build first`);

/**
 * @typedef {{ code: number | null, signal: string | null, stdout: string, stderr: string, ms: number,
 *   rssMb: number, timedOut: boolean, overMemory: boolean, json?: boolean, pruneBreaks?: string[] }} RunResult
 *   json: whether stdout parsed as JSON, when the runner checked it (fast mode sends only its head);
 *   pruneBreaks: with --command prune, the breaks found on disk (pruneContract.mjs)
 */

/**
 * @typedef {{ out: string, files: string[], hashes: Record<string, string> }} PruneJob
 *   with --command prune: OUT, the input's files and their hashes before the run
 */

/**
 * Peak RSS so far of a process in kB (VmHWM), 0 when it is gone.
 * @param {number} pid
 */
function vmHwmKb(pid) {
  try {
    const m = /VmHWM:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Current RSS of a process in kB (VmRSS), 0 when it is gone.
 * @param {number} pid
 */
function vmRssKb(pid) {
  try {
    const m = /VmRSS:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * The children of a process (started by any of its threads).
 * @param {number} pid
 * @returns {number[]}
 */
function childrenOf(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
      try {
        return readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/**
 * Resets a process's peak RSS (VmHWM) to its current RSS; false where that is not allowed.
 * @param {number} pid
 */
function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Whether every peak reset so far worked (else fast mode sampled VmRSS). */
let peaksReset = true;

/**
 * A persistent runner process of the fast mode: one input at a time.
 */
class Runner {
  constructor() {
    /** @type {import('node:child_process').ChildProcess | null} */
    this.child = null;
    /** @type {Promise<void>} */
    this.ready = Promise.resolve();
    /** @type {{ onReply: (m: any) => void, onExit: (code: number | null, signal: string | null) => void } | null} */
    this.pending = null;
    this.nextId = 1;
    this.starts = 0;
    this.stderrTail = '';
  }

  start() {
    this.starts++;
    // Its own process group, so that a kill takes its kernel worker too.
    const child = fork(RUNNER, [], { detached: true, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: ['--expose-gc'] });
    this.child = child;
    child.stderr?.on('data', (d) => (this.stderrTail = (this.stderrTail + d).slice(-4000)));
    this.ready = new Promise((resolve, reject) => {
      child.on('message', (/** @type {any} */ m) => (m.ready ? resolve() : this.pending?.onReply(m)));
      child.once('exit', (code, signal) => {
        reject(new Error(`the fuzz runner exited (${signal ?? code}) before it was ready: ${this.stderrTail.trim()}`));
        if (this.child === child) this.child = null;
        this.pending?.onExit(code, signal);
      });
    });
    this.ready.catch(() => undefined);
  }

  kill() {
    const child = this.child;
    this.child = null;
    if (!child?.pid) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }

  /**
   * Sends a message and waits for the runner's reply to it (or its exit).
   * @param {any} message
   * @returns {Promise<any>}
   */
  ask(message) {
    const child = /** @type {import('node:child_process').ChildProcess} */ (this.child);
    return new Promise((resolve) => {
      this.pending = {
        onReply: (m) => {
          if (m.id !== message.id) return;
          this.pending = null;
          resolve(m);
        },
        onExit: (code, signal) => resolve({ id: message.id, exited: { code, signal } }),
      };
      child.send(message);
    });
  }

  /**
   * Makes input (format, index) in this runner (into `dir`), then runs the CLI's report (or
   * prune) on it. Making it (and hashing it, for prune) is not timed; from then on the deadline
   * runs and the peak RSS is that of the input.
   * @param {string} format
   * @param {number} index
   * @param {string} dir
   * @returns {Promise<{ input: ReturnType<typeof makeInput>, prune?: PruneJob, r: RunResult }>}
   */
  async run(format, index, dir) {
    if (!this.child) this.start();
    await this.ready;
    const child = /** @type {import('node:child_process').ChildProcess} */ (this.child);
    const pid = /** @type {number} */ (child.pid);
    const id = this.nextId++;
    const made = await this.ask({ id, make: { seed: opts.seed, format, index, dir, command: opts.command } });
    if (made.exited || made.error) throw new Error(`the fuzz runner could not make ${format}-${index}: ${made.error ?? this.stderrTail}`);
    const input = made.input;
    /** @type {PruneJob | undefined} */
    const prune = opts.command === 'prune' ? { out: made.out, files: input.files, hashes: made.hashes } : undefined;
    const pids = () => [pid, ...childrenOf(pid)];
    let reset = true;
    for (const p of pids()) reset = resetPeak(p) && reset;
    if (!reset) peaksReset = false;
    const bound = opts.maxRssMb * 1024;
    const start = performance.now();
    const r = await new Promise((resolve) => {
      let peakKb = 0;
      let done = false;
      const sample = () => {
        for (const p of pids()) peakKb = Math.max(peakKb, reset ? vmHwmKb(p) : vmRssKb(p));
      };
      /**
       * @param {{ code: number | null, signal?: string | null, stdoutHead?: string, stderr?: string, json?: boolean, pruneBreaks?: string[] }} r
       * @param {{ timedOut?: boolean, kill?: boolean }} how
       */
      const finish = (r, how) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        clearInterval(poll);
        this.pending = null;
        const overMemory = peakKb > bound;
        if (how.kill || how.timedOut || overMemory) this.kill();
        resolve({
          code: r.signal ? null : r.code,
          signal: r.signal ?? null,
          stdout: r.stdoutHead ?? '',
          stderr: r.stderr ?? '',
          json: r.json,
          pruneBreaks: r.pruneBreaks,
          ms: performance.now() - start,
          rssMb: peakKb / 1024,
          timedOut: !!how.timedOut,
          overMemory,
        });
      };
      const deadline = setTimeout(() => {
        sample();
        finish({ code: null, signal: 'SIGKILL' }, { timedOut: true });
      }, opts.timeoutMs);
      const poll = setInterval(() => {
        sample();
        if (peakKb > bound) finish({ code: null, signal: 'SIGKILL' }, { kill: true });
      }, 25);
      this.pending = {
        onReply: (m) => {
          if (m.id !== id) return;
          sample();
          finish(m, {});
        },
        // The runner itself died (not the kernel worker, which the kernels restart).
        onExit: (code, signal) => finish({ code, signal, stderr: `(fuzz runner exited: ${signal ?? code}) ${this.stderrTail}` }, {}),
      };
      child.send(prune ? { id, run: input.target, prune } : { id, run: input.target });
    });
    // Garbage of earlier inputs would count in later ones' peaks: a runner (or kernel worker) left
    // large is replaced.
    if (this.child && pids().some((p) => vmRssKb(p) > RESTART_RSS_KB)) this.kill();
    return { input, prune, r };
  }
}

/** A runner or kernel worker resident past this after an input is replaced. */
const RESTART_RSS_KB = 192 * 1024;

/**
 * The node process under /usr/bin/time: its only child.
 * @param {number} pid
 */
function childPid(pid) {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : 0;
  } catch {
    return 0;
  }
}

/**
 * Runs the CLI on one file: its report, or with `prune` its prune to prune.out, whose breaks on
 * disk are then checked here (pruneBreaks, after the process ended).
 * @param {string} file
 * @param {string} rssFile where /usr/bin/time writes its figure
 * @param {PruneJob} [prune]
 * @returns {Promise<RunResult>}
 */
function runCli(file, rssFile, prune) {
  const args = prune ? [CLI, 'prune', file, '-o', prune.out, '--force', '--json'] : [CLI, 'report', file, '--json'];
  const child = TIME
    ? spawn(TIME, ['-f', '%M', '-o', rssFile, process.execPath, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const start = performance.now();
  /** @type {Buffer[]} */
  const out = [];
  /** @type {Buffer[]} */
  const err = [];
  let outBytes = 0;
  child.stdout.on('data', (d) => {
    if ((outBytes += d.length) <= 256 << 20) out.push(d);
  });
  child.stderr.on('data', (d) => {
    if (err.length < 4096) err.push(d);
  });
  let timedOut = false;
  let overMemory = false;
  let peakKb = 0;
  const kill = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const deadline = setTimeout(() => {
    timedOut = true;
    kill();
  }, opts.timeoutMs);
  const poll = setInterval(() => {
    const pid = TIME ? childPid(child.pid) : child.pid;
    if (pid) peakKb = Math.max(peakKb, vmHwmKb(pid));
    if (peakKb > opts.maxRssMb * 1024 && !overMemory) {
      overMemory = true;
      kill();
    }
  }, 25);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(deadline);
      clearInterval(poll);
      const ms = performance.now() - start;
      /** @type {string | null} */
      let sig = signal;
      if (TIME && existsSync(rssFile)) {
        const text = readFileSync(rssFile, 'utf8');
        const lines = text.trim().split('\n');
        const kb = Number(lines[lines.length - 1]);
        if (Number.isFinite(kb)) peakKb = Math.max(peakKb, kb);
        const s = /terminated by signal (\d+)/.exec(text);
        if (s) sig = `signal ${s[1]}`;
      }
      const stdout = Buffer.concat(out).toString('utf8');
      const exit = sig ? null : code;
      resolve({
        code: exit,
        signal: sig,
        stdout,
        stderr: Buffer.concat(err).toString('utf8'),
        ...(prune && !timedOut && !overMemory ? { pruneBreaks: pruneBreaks({ code: exit, stdout, ...prune }) } : {}),
        ms,
        rssMb: peakKb / 1024,
        timedOut,
        overMemory: overMemory || peakKb > opts.maxRssMb * 1024,
      });
    });
  });
}

// Characters an error line must not carry: C0/C1 controls, format characters (bidi overrides,
// zero-width), line/paragraph separators, unassigned and private-use code points, lone surrogates
// and U+FFFD (undecodable bytes passed through).
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\u2028\u2029\ufffd]/u;

/**
 * The contract's breaks of one run.
 * @param {string} file
 * @param {string[]} members every file of the input's set
 * @param {RunResult} r
 * @returns {string[]}
 */
function breaks(file, members, r) {
  /** @type {string[]} */
  const kinds = [];
  if (r.timedOut) kinds.push('timeout');
  if (r.overMemory) kinds.push('memory');
  if (r.timedOut || r.overMemory) return kinds;
  if (opts.command === 'prune') return pruneRunBreaks(r);
  if (r.code === 0) {
    if (r.json === undefined) {
      try {
        JSON.parse(r.stdout);
      } catch {
        kinds.push('bad-json');
      }
    } else if (!r.json) kinds.push('bad-json');
    return kinds;
  }
  if (r.code !== 2) kinds.push('exit-code');
  const text = r.stderr.endsWith('\n') ? r.stderr.slice(0, -1) : r.stderr;
  if (/[\n\r]/.test(text)) kinds.push('multi-line');
  if (NON_PRINTABLE.test(text.replace(/[\n\r]/g, ''))) kinds.push('control-chars');
  // The line names the file given, or the member of its set (a shard, a weights file) that is broken.
  const named = /^error: (.+?): /.exec(text)?.[1];
  if (named !== file && !members.includes(named ?? '')) kinds.push('missing-file-name');
  return kinds;
}

/**
 * The prune contract's breaks of one run that ended in time and within the bound: on exit 0 those
 * on disk; otherwise exit 2 with one printable `error: ` line (which need not name the file), and
 * those on disk (OUT or a staging folder left).
 * @param {RunResult} r
 * @returns {string[]}
 */
function pruneRunBreaks(r) {
  /** @type {string[]} */
  const kinds = [];
  if (r.code === 0 && r.json === false) kinds.push('bad-json');
  if (r.code !== 0) {
    if (r.code !== 2) kinds.push('exit-code');
    const text = r.stderr.endsWith('\n') ? r.stderr.slice(0, -1) : r.stderr;
    if (/[\n\r]/.test(text)) kinds.push('multi-line');
    if (NON_PRINTABLE.test(text.replace(/[\n\r]/g, ''))) kinds.push('control-chars');
    if (!text.startsWith('error: ')) kinds.push('not-error-line');
  }
  for (const k of r.pruneBreaks ?? []) if (!kinds.includes(k)) kinds.push(k);
  return kinds;
}

/** @param {string} s one-line, printable rendering for this report */
function shown(s) {
  const line = JSON.stringify(s.length > 300 ? s.slice(0, 300) + '…' : s);
  return line.slice(1, -1);
}

const formats = opts.formats.length ? opts.formats : FORMATS.filter((f) => sets[f].length);
const tmp = mkdtempSync(join(tmpdir(), 'sparsity-fuzz-'));
rmSync(RESULTS, { recursive: true, force: true });
mkdirSync(RESULTS, { recursive: true });
let interrupted = false;
process.on('SIGINT', () => {
  interrupted = true;
});

/** @type {Record<string, { inputs: number, breaks: Record<string, number>, slowest: { ms: number, index: number }, peakRssMb: number, exitCodes: Record<string, number>, rechecked: number }>} */
const stats = {};
/** @type {object[]} */
const found = [];
/** @type {Record<string, string[]>} */
const examples = {};

const queue = formats.flatMap((format) => Array.from({ length: opts.perFormat }, (_, index) => ({ format, index })));
const started = performance.now();
// Long runs say how far they are, on stderr, every 30 s.
const queued = queue.length;
const progress = setInterval(() => {
  const done = queued - queue.length;
  const s = (performance.now() - started) / 1000;
  process.stderr.write(
    `${done}/${queued} inputs, ${found.length} broke the contract, ${(done / s).toFixed(1)} inputs/s, ${Math.round(s)} s\n`,
  );
}, 30_000);
progress.unref();

/** @type {Runner[]} */
const runners = [];

async function worker() {
  const runner = opts.isolated ? null : new Runner();
  if (runner) runners.push(runner);
  for (let job = queue.shift(); job && !interrupted; job = queue.shift()) {
    const { format, index } = job;
    const dir = join(tmp, `${format}-${index}`);
    mkdirSync(dir);
    let input;
    /** @type {PruneJob | undefined} */
    let prune;
    /** @type {RunResult} */
    let r;
    if (runner) ({ input, prune, r } = await runner.run(format, index, dir));
    else {
      input = makeInput(sets, opts.seed, format, index, dir);
      if (opts.command === 'prune')
        prune = { out: pruneOutputPath(input.target, input.files), files: input.files, hashes: hashFiles(input.files) };
      r = await runCli(input.target, join(tmp, `${format}-${index}.rss`), prune);
    }
    let kinds = breaks(input.target, input.files, r);
    const s0 = (stats[format] ??= { inputs: 0, breaks: {}, slowest: { ms: 0, index: -1 }, peakRssMb: 0, exitCodes: {}, rechecked: 0 });
    if (runner && (r.timedOut || r.overMemory)) {
      // Past the deadline or the bound in a runner: confirmed or not by the input's own CLI process,
      // so that a neighbour's load or an earlier input's garbage is not counted against this one.
      s0.rechecked++;
      // What the killed run left (a staging folder, a part of OUT) is not this run's.
      if (prune) cleanOutputs(prune.out, input.files);
      r = await runCli(input.target, join(tmp, `${format}-${index}.rss`), prune);
      kinds = breaks(input.target, input.files, r);
    }
    const s = s0;
    s.inputs++;
    const outcome = r.signal ?? String(r.code);
    s.exitCodes[outcome] = (s.exitCodes[outcome] ?? 0) + 1;
    if (r.ms > s.slowest.ms) s.slowest = { ms: r.ms, index };
    s.peakRssMb = Math.max(s.peakRssMb, r.rssMb);
    if (kinds.length) {
      const kept = input.multiFile ? join(RESULTS, `${format}-${index}`) : join(RESULTS, `${format}-${index}${extname(input.target)}`);
      // The input's files only (not what a prune wrote beside them).
      const files = new Set(input.files);
      cpSync(input.multiFile ? dir : input.target, kept, { recursive: true, filter: (src) => src === dir || files.has(src) || !prune });
      for (const k of kinds) {
        s.breaks[k] = (s.breaks[k] ?? 0) + 1;
        const ex = (examples[k] ??= []);
        if (ex.length < 5) ex.push(`${format}-${index}: ${shown(r.stderr.trim() || r.stdout.slice(0, 200) || `(no output, ${outcome})`)}`);
      }
      found.push({
        format,
        index,
        seed: opts.seed,
        kinds,
        exit: outcome,
        ms: Math.round(r.ms),
        rssMb: Math.round(r.rssMb),
        seedSet: input.seedSet,
        member: input.member,
        mutations: input.mutations,
        kept: relative(ROOT, kept),
        reproduce: `node scripts/fuzz/run.mjs --reproduce ${format} ${index} --seed ${opts.seed}`,
        ...(prune
          ? {
              command: input.multiFile
                ? `node dist/cli.js prune ${relative(ROOT, join(kept, basename(input.target)))} -o ${relative(ROOT, join(kept, basename(prune.out)))} --force --json`
                : `node dist/cli.js prune ${relative(ROOT, kept)} -o ${relative(ROOT, kept.slice(0, -extname(prune.out).length))}.pruned${extname(prune.out)} --force --json`,
            }
          : {}),
        stderr: r.stderr.slice(0, 4000),
      });
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(tmp, `${format}-${index}.rss`), { force: true });
  }
}

try {
  await Promise.all(Array.from({ length: opts.jobs }, () => worker()));
} finally {
  clearInterval(progress);
  for (const r of runners) r.kill();
  rmSync(tmp, { recursive: true, force: true });
}

const seconds = (performance.now() - started) / 1000;
const total = Object.values(stats).reduce((n, s) => n + s.inputs, 0);
console.log(
  `${opts.command === 'prune' ? 'prune, ' : ''}seed ${opts.seed}, ${opts.perFormat} per format, timeout ${opts.timeoutMs} ms, bound ${opts.maxRssMb} MB, ` +
    `${opts.isolated ? `${opts.jobs} jobs, one process per input` : `${opts.jobs} runners (${runners.reduce((n, r) => n + r.starts, 0)} starts)`}, ` +
    `${(total / seconds).toFixed(1)} inputs/s`,
);
console.log(
  `peak RSS: ${
    opts.isolated
      ? TIME
        ? '/usr/bin/time -f %M and /proc/PID/status VmHWM'
        : '/proc/PID/status VmHWM, polled every 25 ms'
      : peaksReset
        ? 'per input, the larger of the runner and its kernel worker (VmHWM reset through /proc/PID/clear_refs before each input)'
        : 'per input, VmRSS of the runner and its kernel worker sampled every 25 ms (clear_refs not writable)'
  }`,
);
console.log(`shared data: ${sharedDataDir() ? relative(ROOT, sharedDataDir()) : 'not found (fixtures only)'}`);
for (const format of formats) {
  const s = stats[format];
  if (!s) continue;
  const b = Object.entries(s.breaks)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const exits = Object.entries(s.exitCodes)
    .map(([k, n]) => `${k}:${n}`)
    .join(' ');
  console.log(
    `${format.padEnd(12)} ${String(s.inputs).padStart(5)} inputs (${sets[format].length} seed sets), breaks: ${b || 'none'}; exits ${exits}; ` +
      `slowest ${Math.round(s.slowest.ms)} ms (#${s.slowest.index}), peak RSS ${Math.round(s.peakRssMb)} MB` +
      (s.rechecked ? `; ${s.rechecked} past a bound in a runner run again alone` : ''),
  );
}
for (const [kind, lines] of Object.entries(examples)) {
  console.log(`${kind}:`);
  for (const l of lines) console.log(`  ${l}`);
}
const totals = {};
for (const s of Object.values(stats)) for (const [k, n] of Object.entries(s.breaks)) totals[k] = (totals[k] ?? 0) + n;
writeFileSync(
  join(RESULTS, 'summary.json'),
  JSON.stringify(
    {
      options: { ...opts, command: opts.command === 'prune' ? 'prune' : undefined, reproduce: undefined, out: undefined },
      seconds,
      stats,
      totals,
      breaks: found,
    },
    null,
    2,
  ) + '\n',
);
const kindsText = Object.entries(totals)
  .map(([k, n]) => `${k} ${n}`)
  .join(', ');
console.log(
  `${total} inputs, ${found.length} broke the contract${kindsText ? ` (${kindsText})` : ''}${interrupted ? ', interrupted' : ''}, ${seconds.toFixed(1)} s` +
    (found.length ? `; inputs and summary.json in ${relative(process.cwd(), RESULTS) || '.'}` : ''),
);
process.exit(found.length || interrupted ? 1 : 0);
