import { strict as assert } from 'node:assert';
import { existsSync, realpathSync, statfsSync } from 'node:fs';
import { buildReport, type LayerReport } from '../../../src/core/analysis/report';
import type { TensorEntry } from '../../../src/core/checkpoint';
import { openCheckpoint } from '../../../src/core/formats/registry';
import type { AnalyseProgress } from '../../../src/kernels/checkpointKernels';
import { nativePaths } from '../../../src/kernels/createKernels';
import { createNativeKernels, type NativeKernels } from '../../../src/kernels/native/nativeKernels';
import { CLI, makeTempDir, REPO } from '../../helpers/fixtures';
import {
  GiB,
  hugeFigures,
  hugeLayout,
  writeHugeOnnx,
  writeHugeSafetensors,
  type HugeFigures,
  type HugeTensor,
  type SparseFile,
} from '../../helpers/hugeFiles';
import { canMeasure, cpuTicks, isRunning, MiB, peakRss, runNodeMeasured } from '../../helpers/processMemory';
import { safetensorsOf } from '../../helpers/writers';

/** The bound on peak resident memory, of the kernel worker and of the CLI, that these tests enforce. */
const PEAK_RSS_BOUND = 300 * MiB;
/** How long a cancelled analysis may take to reject. */
const CANCEL_BOUND_MS = 1000;
/** Rows at the end of each 4 GiB block that the part report scans (they hold the block's last value). */
const TAIL_ROWS = 16;

const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;

function assertFigures(layer: LayerReport, want: HugeFigures): void {
  const got = {
    numel: layer.numel,
    nnz: layer.nnz,
    negativeZeros: layer.negativeZeros,
    fanInMax: layer.fanIn?.max,
    zeroNeurons: layer.fanIn?.zeroNeurons,
    groups: layer.nm?.groups,
    compliant: layer.nm?.compliant,
  };
  assert.deepEqual(got, { ...want }, layer.name);
}

/**
 * Checkpoints of 20 GiB (five 4 GiB float32 blocks and a head at 20 GiB) written as sparse files:
 * their holes read as zeros and take no disk, and a few values are written at known places (see
 * hugeLayout). Scanning 20 GiB of holes takes tens of seconds, so the unit tier opens the files,
 * reports a part of them past 4 GiB, and cancels a full analysis; the full reports run with
 * SPARSITY_LENS_HUGE_FULL=1.
 */
describe('20 GiB checkpoints (sparse files): open, report in bounded memory, cancel', function () {
  this.timeout(120_000);
  const layout = hugeLayout();
  const full = process.env.SPARSITY_LENS_HUGE_FULL === '1';
  let tmp: ReturnType<typeof makeTempDir> | undefined;
  let safetensors: SparseFile & { dataStart: number };
  let onnx: { model: SparseFile; data: SparseFile };

  before(function () {
    const skip = (why: string) => {
      console.log(`      skipped: ${why}`);
      this.skip();
    };
    if (!canMeasure()) return skip('needs Linux (/proc/PID/status) to measure peak memory');
    if (!existsSync(nativePaths(REPO).addon)) return skip('needs the native addon (native/build/Release)');
    tmp = makeTempDir();
    const free = () => {
      const s = statfsSync(tmp!.dir);
      return s.bavail * s.bsize;
    };
    const freeBefore = free();
    try {
      safetensors = writeHugeSafetensors(tmp.dir, layout);
      onnx = writeHugeOnnx(tmp.dir, layout);
    } catch (e) {
      return skip(`the temporary folder's filesystem cannot hold a 20 GiB sparse file (${(e as Error).message})`);
    }
    const allocated = safetensors.allocated + onnx.data.allocated + onnx.model.allocated;
    if (allocated > 64 * MiB) return skip(`the temporary folder's filesystem does not keep holes (${mib(allocated)} allocated)`);
    // The disk is shared with other work, so only a gross loss of free space would be ours.
    assert.ok(freeBefore - free() < GiB, `writing the files took ${mib(freeBefore - free())} of free disk`);
  });
  after(() => tmp?.remove());

  const formats = [
    { format: 'safetensors', file: () => safetensors.path, dataFile: () => safetensors.path, dataStart: () => safetensors.dataStart },
    { format: 'onnx', file: () => onnx.model.path, dataFile: () => realpathSync(onnx.data.path), dataStart: () => 0 },
  ] as const;

  it('the files are 20 GiB and sparse', () => {
    assert.equal(safetensors.size, safetensors.dataStart + layout.dataBytes);
    assert.equal(onnx.data.size, layout.dataBytes);
    assert.ok(layout.dataBytes > 20 * GiB);
    for (const f of [safetensors, onnx.data]) assert.ok(f.allocated < MiB, `${f.path}: ${f.allocated} bytes on disk`);
  });

  for (const { format, file, dataFile, dataStart } of formats) {
    describe(format, () => {
      let native: NativeKernels;
      before(() => {
        const paths = nativePaths(REPO);
        native = createNativeKernels(paths.workerScript, paths.addon);
      });
      after(() => native?.dispose());

      it('opens: every tensor with its shape, dtype, role and byte range as written', async () => {
        const checkpoint = await openCheckpoint(file());
        assert.equal(checkpoint.format, format);
        assert.deepEqual(
          checkpoint.tensors.map((t) => [t.name, t.shape, t.dtype, t.role, t.source]),
          layout.tensors.map((t) => [
            t.name,
            t.shape,
            'float32',
            'linear',
            { kind: 'file', path: dataFile(), offset: dataStart() + t.offset, length: t.length },
          ]),
        );
        assert.deepEqual(checkpoint.skipped, []);
      });

      it(`reports the head (at 20 GiB) and the last ${TAIL_ROWS} rows of each block, with the worker under ${mib(PEAK_RSS_BOUND)}`, async function () {
        if (!(await native.worker.available()).native) this.skip();
        const checkpoint = await openCheckpoint(file());
        const tailOf = (t: TensorEntry): TensorEntry => {
          const [rows, cols] = t.shape;
          assert.ok(t.source.kind === 'file');
          const skipped = (rows - TAIL_ROWS) * cols * 4;
          return {
            ...t,
            name: `${t.name}[${rows - TAIL_ROWS}:]`,
            shape: [TAIL_ROWS, cols],
            source: { ...t.source, offset: t.source.offset + skipped, length: t.source.length - skipped },
          };
        };
        const part = [...checkpoint.tensors.filter((t) => t.name.startsWith('blocks.')).map(tailOf), checkpoint.tensors.at(-1)!];
        // All but the first block's tail are read past 4 GiB.
        assert.deepEqual(
          part.map((t) => t.source.kind === 'file' && t.source.offset > 4 * GiB),
          [false, true, true, true, true, true],
        );
        const report = await buildReport({ ...checkpoint, tensors: part }, native);
        for (const [i, t] of layout.tensors.entries()) {
          const rows: [number, number] = t.name === 'head.weight' ? [0, t.shape[0]] : [t.shape[0] - TAIL_ROWS, t.shape[0]];
          assertFigures(report.layers[i], hugeFigures(layout, t, rows));
        }
        assert.deepEqual(
          report.layers.map((l) => l.nnz),
          [1, 1, 1, 1, 1, 3],
        );
        const peak = peakRss(native.worker.pid!)!;
        assert.ok(peak < PEAK_RSS_BOUND, `the worker's peak memory was ${mib(peak)}`);
      });

      it(`cancelling a full analysis rejects within ${CANCEL_BOUND_MS} ms and stops the scan`, async function () {
        if (!(await native.worker.available()).native) this.skip();
        const abort = new AbortController();
        let opened!: () => void;
        const isOpened = new Promise<void>((resolve) => (opened = resolve));
        const progress: AnalyseProgress[] = [];
        const pending = native.analyseFile(
          { file: file(), roles: [], nm: { n: 2, m: 4 }, zeroThreshold: 0 },
          {
            signal: abort.signal,
            onProgress: (p) => {
              progress.push(p);
              if (p.phase === 'opened') opened();
            },
          },
        );
        pending.catch(() => undefined);
        await isOpened;
        const pid = native.worker.pid!;
        // The worker is scanning the first 4 GiB block: it uses CPU.
        const ticks = cpuTicks(pid)!;
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.ok(cpuTicks(pid)! > ticks, 'the worker was scanning');
        assert.deepEqual(progress, [{ phase: 'opened', tensors: layout.tensors.length }]);
        const peak = peakRss(pid)!;
        const cancelled = Date.now();
        abort.abort();
        await assert.rejects(pending);
        const elapsed = Date.now() - cancelled;
        assert.ok(elapsed < CANCEL_BOUND_MS, `rejected ${elapsed} ms after the cancel`);
        // The scan stopped: the worker is gone (killed) or no longer uses CPU.
        const after = cpuTicks(pid);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.ok(!isRunning(pid) || cpuTicks(pid) === after, 'the worker went on scanning');
        assert.ok(peak < PEAK_RSS_BOUND, `the worker's peak memory while scanning was ${mib(peak)}`);
        // The next analysis works.
        const small = tmp!.write('small.safetensors', safetensorsOf(new Map([['w.weight', [1, 0, 2, 0]]]), [1, 4]));
        assert.equal((await native.analyseFile({ file: small, roles: [], nm: { n: 2, m: 4 }, zeroThreshold: 0 })).report.weights.nnz, 2);
      });

      it(`the full report by the CLI${full ? '' : ' (runs with SPARSITY_LENS_HUGE_FULL=1)'}: figures, time and peak memory`, async function () {
        if (!full) this.skip();
        this.timeout(30 * 60_000);
        const run = await runNodeMeasured(CLI, ['report', file(), '--json'], { cwd: REPO, childNames: ['kernelWorker.js'] });
        assert.equal(run.code, 0, run.stderr);
        const report = JSON.parse(run.stdout) as { layers: LayerReport[]; total: { numel: number; nnz: number } };
        layout.tensors.forEach((t: HugeTensor, i) => assertFigures(report.layers[i], hugeFigures(layout, t)));
        assert.equal(report.total.numel, layout.dataBytes / 4);
        assert.equal(report.total.nnz, layout.values.filter((v) => v.value !== 0).length);
        const worker = run.childPeakBytes.get('kernelWorker.js') ?? NaN;
        const time = run.timeMaxRssBytes !== undefined ? `, /usr/bin/time %M ${mib(run.timeMaxRssBytes)}` : '';
        console.log(
          `      ${format}: ${(layout.dataBytes / GiB).toFixed(2)} GiB in ${(run.wallMs / 1000).toFixed(1)} s; ` +
            `peak RSS: CLI ${mib(run.peakBytes)}, kernel worker ${mib(worker)}${time}`,
        );
        assert.ok(run.peakBytes < PEAK_RSS_BOUND, `the CLI's peak memory was ${mib(run.peakBytes)}`);
        assert.ok(worker < PEAK_RSS_BOUND, `the worker's peak memory was ${mib(worker)}`);
      });
    });
  }
});
