/**
 * Whole-process pruning benchmark, run by kernels.bench.ts (`npm run bench`, `--quick` for
 * smaller sizes, `--only=prune` for this section alone):
 *  - `node dist/cli.js prune FILE -o OUT --force`, 2:4 and `--fan-in --sparsity 0.9`, on a
 *    generated safetensors file holding one dense float32 weight `fc.weight` [16384, 16384]
 *    (1 GiB; quick: [4096, 4096]) and its bias, timed around spawnSync from the page cache;
 *  - baselines in the same run, when Debian's /usr/bin/python3 has the modules: numpy and PyTorch
 *    scripts (bench/baselines/) that map the same file, compute the same masks and write the same
 *    safetensors data section, fsynced, timed as whole processes too (interpreter start included);
 *  - agreement of the outputs: numpy's 2:4 data section byte-identical to ours, every row of every
 *    fan-in output holding exactly k non-zeros;
 *  - peak RSS: /usr/bin/time's %M (the larger of the process and the children it reaped: for the
 *    CLI, its kernel worker), and each process's VmHWM and largest RssAnon (private memory; a
 *    memory map of the input counts in VmHWM, not here) sampled from /proc every 10 ms.
 * Times are the best of 3 runs (quick: 5), the tools interleaved run by run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { seededRandom } from '../test/helpers/random';

const PYTHON = '/usr/bin/python3';
const WEIGHT = 'fc.weight';

export interface PruneBenchOptions {
  readonly root: string;
  readonly dir: string;
  readonly quick: boolean;
  /** Adds a row to the summary table (times in ms; the ratio is baseline / ours). */
  readonly addRow: (what: string, ms: number, baselineName: string, baselineMs: number) => void;
}

interface Tool {
  readonly name: string;
  readonly command: string;
  readonly args: (input: string, output: string) => string[];
  readonly output: string;
}

interface InScript {
  readonly import_s: number;
  readonly compute_s: number;
  readonly write_s: number;
  readonly fsync_s: number;
  readonly compute_write_s: number;
  readonly formulation: string;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;

/** A safetensors file of `fc.weight` [n, n] (seeded, dense: no exact zeros) and `fc.bias` [n], both float32. */
function writeInput(file: string, n: number): void {
  const weightBytes = n * n * 4;
  const header = {
    [WEIGHT]: { dtype: 'F32', shape: [n, n], data_offsets: [0, weightBytes] },
    'fc.bias': { dtype: 'F32', shape: [n], data_offsets: [weightBytes, weightBytes + n * 4] },
  };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8 + json.length);
  head.writeBigUInt64LE(BigInt(json.length), 0);
  head.write(json, 8, 'latin1');
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, head);
    const rnd = seededRandom(11);
    const rowsPerChunk = Math.max(1, Math.floor((1 << 22) / n));
    const chunk = new Float32Array(rowsPerChunk * n);
    for (let r = 0; r < n; r += rowsPerChunk) {
      const count = Math.min(rowsPerChunk, n - r) * n;
      for (let i = 0; i < count; i++) chunk[i] = rnd() * 2 - 1 || 0.5;
      writeSync(fd, new Uint8Array(chunk.buffer, 0, count * 4));
    }
    const bias = Float32Array.from({ length: n }, () => rnd() * 2 - 1);
    writeSync(fd, new Uint8Array(bias.buffer));
  } finally {
    closeSync(fd);
  }
}

/** Reads the whole file (into the page cache). */
function readAll(file: string): void {
  const fd = openSync(file, 'r');
  const buffer = new Uint8Array(1 << 22);
  try {
    while (readSync(fd, buffer, 0, buffer.length, null) > 0);
  } finally {
    closeSync(fd);
  }
}

/** Whether Debian's python3 imports `module`. */
function pythonHas(module: string): boolean {
  return existsSync(PYTHON) && spawnSync(PYTHON, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0;
}

/** Runs a tool once; its wall time in ms and, for the Python scripts, their own JSON line. */
function runOnce(tool: Tool, input: string): { ms: number; inScript?: InScript } {
  rmSync(tool.output, { force: true });
  const t0 = process.hrtime.bigint();
  const r = spawnSync(tool.command, tool.args(input, tool.output), { encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${tool.name} failed (${r.status ?? r.signal}): ${r.stderr || r.error?.message}`);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return { ms, ...(tool.command === PYTHON ? { inScript: JSON.parse(last) as InScript } : {}) };
}

/** The byte offset of a safetensors file's data section. */
function dataStart(fd: number): number {
  const head = Buffer.alloc(8);
  readSync(fd, head, 0, 8, 0);
  return 8 + Number(head.readBigUInt64LE(0));
}

/**
 * Reads the weight of each file row block by row block (the files' own data offsets) and calls
 * `visit` with the blocks as uint32 words; then compares the bias bytes of all files.
 */
function visitWeights(files: readonly string[], n: number, visit: (row0: number, words: Uint32Array[]) => void): boolean {
  const fds = files.map((f) => openSync(f, 'r'));
  try {
    const starts = fds.map(dataStart);
    const rows = Math.max(1, Math.floor((1 << 22) / n));
    const buffers = files.map(() => new Uint32Array(rows * n));
    for (let r = 0; r < n; r += rows) {
      const count = Math.min(rows, n - r) * n;
      fds.forEach((fd, i) => readSync(fd, new Uint8Array(buffers[i].buffer, 0, count * 4), 0, count * 4, starts[i] + r * n * 4));
      visit(
        r,
        buffers.map((b) => b.subarray(0, count)),
      );
    }
    const biases = fds.map((fd, i) => {
      const b = Buffer.alloc(n * 4);
      readSync(fd, b, 0, b.length, starts[i] + n * n * 4);
      return b;
    });
    return biases.every((b) => b.equals(biases[0]));
  } finally {
    fds.forEach(closeSync);
  }
}

/** Checks and prints how the baselines' outputs agree with ours. */
function checkAgreement(rule: 'nm' | 'fanIn', n: number, k: number, input: string, ours: string, others: readonly Tool[]): void {
  const files = [input, ours, ...others.map((t) => t.output)];
  const names = ['ours', ...others.map((t) => t.name)];
  const outputs = names.length;
  const differing = new Array<number>(outputs).fill(0); // elements differing from ours
  const badRows = new Array<number>(outputs).fill(0); // rows not holding exactly k (fan-in) / 2 per 4 (2:4) non-zeros
  const changed = new Array<number>(outputs).fill(0); // weights neither the input's bits nor a zero of the input's sign
  const negativeZeros = new Array<number>(outputs).fill(0);
  const notTies = new Array<number>(outputs).fill(0); // groups where the weights differing from ours do not share one |w|
  const group = rule === 'nm' ? 4 : n; // a group of 4 inputs, or a row
  const want = rule === 'nm' ? 2 : k;
  const biasSame = visitWeights(files, n, (_row0, [win, ...outs]) => {
    const ref = outs[0];
    for (let o = 0; o < outputs; o++) {
      const w = outs[o];
      for (let g = 0; g < w.length; g += group) {
        let nnz = 0;
        let tie = -1; // the |w| bits of the first weight of the group that differs from ours
        for (let i = g; i < g + group; i++) {
          const v = w[i];
          if ((v & 0x7fffffff) !== 0) nnz++;
          else if (v !== 0) negativeZeros[o]++;
          if (v !== win[i] && v !== (win[i] & 0x80000000) >>> 0) changed[o]++; // >>> 0: the sign bit as uint32
          if (v !== ref[i]) {
            differing[o]++;
            const abs = win[i] & 0x7fffffff;
            if (tie < 0) tie = abs;
            else if (abs !== tie && tie !== -2) {
              notTies[o]++;
              tie = -2;
            }
          }
        }
        if (nnz !== want) badRows[o]++;
      }
    }
  });
  const unit = rule === 'nm' ? 'groups of 4 not holding exactly 2 non-zeros' : `rows not holding exactly k = ${k} non-zeros`;
  for (let o = 0; o < outputs; o++) {
    const same =
      o === 0
        ? ''
        : differing[o] === 0
          ? 'data section byte-identical to ours'
          : `${differing[o].toLocaleString('en-US')} of ${(n * n).toLocaleString('en-US')} weights differ from ours, ${
              notTies[o] === 0 ? 'all at equal |w| (tie order)' : `NOT only at ties: ${notTies[o]} ${rule === 'nm' ? 'groups' : 'rows'}`
            }`;
    console.log(
      `  agreement ${names[o]}: ${[same, `${unit}: ${badRows[o]}`, `weights neither the input's bits nor ±0 of its sign: ${changed[o]}`, `-0.0 written: ${negativeZeros[o].toLocaleString('en-US')}`].filter(Boolean).join('; ')}`,
    );
  }
  console.log(`  agreement: bias bytes ${biasSame ? 'identical in every output' : 'DIFFER between outputs'}`);
  if (rule === 'nm' && others.some((t) => t.name === 'numpy') && differing[names.indexOf('numpy')] !== 0)
    console.log('  AGREEMENT FAILED: numpy 2:4 output is not byte-identical to ours');
}

interface Peak {
  readonly name: string;
  /** VmHWM: peak resident set, file-backed pages (a memory map of the input) included. */
  kb: number;
  /** The largest RssAnon sampled: private memory, the file's pages left out. */
  anonKb: number;
}

/** Each process's VmHWM and largest RssAnon (kB) in the tree under `pid`, keyed by pid, updated in `peaks`. */
function samplePeaks(pid: number, peaks: Map<number, Peak>): void {
  const visit = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const anonKb = Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      const name =
        path.basename(cmd[0]) === 'time'
          ? 'time'
          : cmd.some((a) => a.endsWith('kernelWorker.js'))
            ? 'kernel worker'
            : cmd.some((a) => a.endsWith('cli.js'))
              ? 'CLI'
              : path.basename(cmd.find((a) => a.endsWith('.py')) ?? cmd[0]);
      const seen = peaks.get(p);
      if (!seen) peaks.set(p, { name, kb, anonKb });
      else {
        seen.kb = Math.max(seen.kb, kb);
        seen.anonKb = Math.max(seen.anonKb, anonKb);
      }
      for (const task of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) visit(Number(task));
    } catch {
      // the process exited meanwhile
    }
  };
  visit(pid);
}

/** One run of `tool` under /usr/bin/time -f %M, its process tree's VmHWM and RssAnon sampled every 10 ms. */
async function peakRss(tool: Tool, input: string, dir: string): Promise<string> {
  rmSync(tool.output, { force: true });
  const timeFile = path.join(dir, 'time.txt');
  const hasTime = existsSync('/usr/bin/time');
  const [command, args] = hasTime
    ? ['/usr/bin/time', ['-f', '%M', '-o', timeFile, tool.command, ...tool.args(input, tool.output)]]
    : [tool.command, tool.args(input, tool.output)];
  const child = spawn(command, args, { stdio: 'ignore' });
  const peaks = new Map<number, Peak>();
  const timer = setInterval(() => samplePeaks(child.pid!, peaks), 10);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(timer);
  if (code !== 0) throw new Error(`${tool.name} failed under /usr/bin/time (${code})`);
  const sampled = [...peaks.values()]
    .filter((p) => p.name !== 'time')
    .map((p) => `${p.name} VmHWM ${mib(p.kb)}, largest RssAnon ${mib(p.anonKb)}`)
    .join('; ');
  const timeKb = hasTime ? Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop()) : NaN;
  rmSync(timeFile, { force: true });
  return `${hasTime ? `%M ${mib(timeKb)}` : '(no /usr/bin/time)'} [sampled every 10 ms: ${sampled}]`;
}

/** The k the CLI's plan gives the weight at sparsity 0.9 (a single-layer ERK plan: density 0.1). */
function planK(root: string, input: string): number {
  const r = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), 'plan', input, '--sparsity', '0.9', '--json'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`plan failed: ${r.stderr}`);
  const layer = (JSON.parse(r.stdout) as { layers: { name: string; k: number }[] }).layers.find((l) => l.name === WEIGHT);
  if (!layer) throw new Error(`the plan has no layer ${WEIGHT}`);
  return layer.k;
}

export async function benchPrune({ root, dir, quick, addRow }: PruneBenchOptions): Promise<void> {
  const n = quick ? 4096 : 16384;
  const runs = quick ? 5 : 3;
  const size = quick ? '64 MiB' : '1 GiB';
  const input = path.join(dir, 'prune-input.safetensors');
  writeInput(input, n);
  readAll(input); // into the page cache
  const cli = path.join(root, 'dist', 'cli.js');
  const baselines = path.join(root, 'bench', 'baselines');
  const k = planK(root, input);
  const expectedK = Math.floor(Math.floor(n * n * 0.1) / n);
  console.log(
    `\nprune: ${WEIGHT} [${n}, ${n}] float32 (${size}) + bias [${n}], dense seeded values; best of ${runs}; ratios are baseline / ours (above 1: ours faster)`,
  );
  console.log(
    `  fan-in k from the CLI's plan at sparsity 0.9: ${k} (int(${n}·${n}·0.1) // ${n} = ${expectedK}${k === expectedK ? '' : ': DIFFERENT'})`,
  );
  const haveNumpy = pythonHas('numpy');
  const haveTorch = haveNumpy && pythonHas('torch');
  if (!haveNumpy) console.log(`  note: ${PYTHON} has no numpy: the numpy and PyTorch baselines are skipped`);
  else if (!haveTorch) console.log(`  note: ${PYTHON} has no torch: the PyTorch baseline is skipped`);
  if (!existsSync('/usr/bin/time')) console.log('  note: no /usr/bin/time: peak RSS is sampled from /proc only');

  for (const rule of ['nm', 'fanIn'] as const) {
    const label = rule === 'nm' ? '2:4' : `fan-in 0.9 (k = ${k})`;
    const pyRule = rule === 'nm' ? ['--nm'] : ['--fan-in', String(k)];
    const tools: Tool[] = [
      {
        name: 'ours',
        command: process.execPath,
        args: (i, o) => [cli, 'prune', i, '-o', o, '--force', ...(rule === 'nm' ? [] : ['--fan-in', '--sparsity', '0.9'])],
        output: path.join(dir, 'prune-ours.safetensors'),
      },
    ];
    if (haveNumpy)
      tools.push({
        name: 'numpy',
        command: PYTHON,
        args: (i, o) => ['-B', path.join(baselines, 'prune_numpy.py'), i, o, '--weight', WEIGHT, ...pyRule],
        output: path.join(dir, 'prune-numpy.safetensors'),
      });
    if (haveTorch)
      tools.push({
        name: 'torch',
        command: PYTHON,
        args: (i, o) => ['-B', path.join(baselines, 'prune_torch.py'), i, o, '--weight', WEIGHT, ...pyRule],
        output: path.join(dir, 'prune-torch.safetensors'),
      });
    // Warm-up (the CLI's bundle, Python's imports, the page cache), then interleaved timed runs. Python runs with -B:
    // no __pycache__ left in bench/baselines.
    for (const tool of tools) runOnce(tool, input);
    const best = tools.map(() => ({ ms: Infinity, inScript: undefined as InScript | undefined }));
    for (let run = 0; run < runs; run++)
      tools.forEach((tool, t) => {
        const r = runOnce(tool, input);
        if (r.ms < best[t].ms) best[t].ms = r.ms;
        if (r.inScript && (!best[t].inScript || r.inScript.compute_write_s < best[t].inScript!.compute_write_s))
          best[t].inScript = r.inScript;
      });
    const ours = best[0].ms;
    const parts = tools.slice(1).map((tool, i) => `${tool.name} ${seconds(best[i + 1].ms)} (${(best[i + 1].ms / ours).toFixed(2)}x)`);
    console.log(`prune ${label}, ${size} safetensors (whole process): ${[seconds(ours), ...parts].join(' | ')}`);
    tools.slice(1).forEach((tool, i) => {
      const s = best[i + 1].inScript!;
      console.log(
        `  ${tool.name} in-script (after imports, to the fsync): ${s.compute_write_s.toFixed(2)} s (compute ${s.compute_s.toFixed(2)}, write ${s.write_s.toFixed(2)}, fsync ${s.fsync_s.toFixed(2)}); imports ${s.import_s.toFixed(2)} s; ${s.formulation}`,
      );
      addRow(`prune ${label}, ${size} safetensors, whole process`, ours, `${tool.name} (whole process)`, best[i + 1].ms);
    });
    checkAgreement(rule, n, k, input, tools[0].output, tools.slice(1));
    for (const tool of tools) console.log(`  peak RSS ${tool.name}: ${await peakRss(tool, input, dir)}`);
    for (const tool of tools) rmSync(tool.output, { force: true });
  }
  rmSync(input, { force: true });
}
