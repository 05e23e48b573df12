/**
 * Whole-process `sparsity-lens report --json` of a big safetensors file (4 GiB float32, 2 GiB
 * bfloat16; 16 tensors of 4096 × 16384, ~85 % zeros) with a warm page cache, against, in the same
 * run: `cat FILE > /dev/null`, and the best two-thread numpy scan (bench/baselines/scan_numpy.py)
 * where Debian's python3 has numpy. Each is timed as a whole process (start included), best of 5.
 * Peak RSS is getrusage's ru_maxrss of the largest process of each tree (the kernel worker, for
 * ours): mapped page-cache pages count in RSS once touched, so it is an upper bound of the heap.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { seededRandom } from '../test/helpers/random';

export interface ReportBenchContext {
  readonly root: string;
  readonly dir: string;
  readonly quick: boolean;
  readonly addRow: (what: string, ms: number, baselineName: string, baselineMs: number, goal?: string) => void;
}

const ROWS = 4096;
const COLS = 16384;

/** A safetensors file of `tensors` [ROWS, COLS] weights of `dtype`, ~85 % zeros. */
function writeSafetensors(file: string, tensors: number, dtype: 'F32' | 'BF16'): void {
  const size = dtype === 'F32' ? 4 : 2;
  const bytesPer = ROWS * COLS * size;
  const entries: Record<string, unknown> = {};
  for (let t = 0; t < tensors; t++)
    entries[`layer${t}.weight`] = { dtype, shape: [ROWS, COLS], data_offsets: [t * bytesPer, (t + 1) * bytesPer] };
  let header = JSON.stringify(entries);
  header += ' '.repeat((8 - ((8 + header.length) % 8)) % 8);
  const fd = openSync(file, 'w');
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(header.length));
  writeSync(fd, head);
  writeSync(fd, Buffer.from(header));
  const rnd = seededRandom(2);
  const values = new Float32Array(1 << 22);
  for (let i = 0; i < values.length; i++) values[i] = rnd() < 0.85 ? 0 : rnd() * 2 - 1;
  const chunk =
    dtype === 'F32'
      ? new Uint8Array(values.buffer)
      : new Uint8Array(Uint16Array.from(new Uint32Array(values.buffer), (w) => w >>> 16).buffer);
  for (let written = 0; written < tensors * bytesPer; written += chunk.length) writeSync(fd, chunk);
  closeSync(fd);
}

/** Runs a command `runs` times; the best wall time (ms) and the peak RSS (KiB) of its largest process. */
function timeProcess(runs: number, argv: string[]): { ms: number; peakKiB: number; stdout: string } | undefined {
  let best = Infinity;
  let peakKiB = 0;
  let stdout = '';
  for (let i = 0; i < runs; i++) {
    const r = spawnSync('/usr/bin/time', ['-f', '%e %M', ...argv], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) {
      console.log(`  note: ${argv.join(' ')} failed: ${r.stderr.trim().split('\n').pop()}`);
      return undefined;
    }
    const [seconds, kib] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number);
    best = Math.min(best, seconds * 1000);
    peakKiB = Math.max(peakKiB, kib);
    stdout = r.stdout;
  }
  return { ms: best, peakKiB, stdout };
}

export async function benchReport({ root, dir, quick, addRow }: ReportBenchContext): Promise<void> {
  const cli = path.join(root, 'dist', 'cli.js');
  for (const [dtype, tensors] of [
    ['F32', quick ? 2 : 16],
    ['BF16', quick ? 2 : 16],
  ] as const) {
    const file = path.join(dir, `report-${dtype}.safetensors`);
    writeSafetensors(file, tensors, dtype);
    const gib = (tensors * ROWS * COLS * (dtype === 'F32' ? 4 : 2)) / 2 ** 30;
    const name = `${gib} GiB ${dtype === 'F32' ? 'float32' : 'bfloat16'}`;
    const catArgv = ['sh', '-c', `cat "${file}" > /dev/null`];
    timeProcess(1, catArgv); // into the page cache
    const cat = timeProcess(5, catArgv);
    const ours = timeProcess(5, [process.execPath, cli, 'report', file, '--json']);
    const numpy = timeProcess(5, ['/usr/bin/python3', path.join(root, 'bench', 'baselines', 'scan_numpy.py'), file]);
    if (!ours || !cat) throw new Error('the report or cat failed');
    const nnz = (JSON.parse(ours.stdout) as { layers: { nnz: number }[] }).layers.reduce((a, l) => a + l.nnz, 0);
    addRow(`report ${name} (whole process)`, ours.ms, 'cat > /dev/null', cat.ms, '(goal: faster than cat)');
    if (numpy) {
      const theirs = (JSON.parse(numpy.stdout.trim().split('\n').pop()!) as { nnz: number }).nnz;
      if (theirs !== nnz) throw new Error(`numpy counted ${theirs} non-zeros, the report ${nnz}`);
      addRow(`report ${name} (whole process)`, ours.ms, 'numpy 2-thread scan (mmap)', numpy.ms, '(goal: >= 2x)');
    } else console.log('  note: no numpy baseline (/usr/bin/python3 with numpy not installed)');
    console.log(
      `report ${name}: ${ours.ms.toFixed(0)} ms, peak RSS ${(ours.peakKiB / 1024).toFixed(0)} MiB | cat ${cat.ms.toFixed(0)} ms | numpy ${numpy ? `${numpy.ms.toFixed(0)} ms, peak RSS ${(numpy.peakKiB / 1024).toFixed(0)} MiB` : 'n/a'}`,
    );
    rmSync(file);
  }
}
