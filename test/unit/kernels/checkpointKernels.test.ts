import { strict as assert } from 'node:assert';
import { basename } from 'node:path';
import { OpenCheckpoints } from '../../../src/core/session/openCheckpoints';
import { CheckpointError } from '../../../src/core/errors';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { parseRoleOverridesJson, RoleOverrideError } from '../../../src/core/roles/roleOverrides';
import type { AnalyseProgress, CheckpointKey } from '../../../src/kernels/checkpointKernels';
import { createKernels, nativePaths } from '../../../src/kernels/createKernels';
import type { Kernels } from '../../../src/kernels/kernels';
import { createNativeKernels, type NativeKernels } from '../../../src/kernels/native/nativeKernels';
import { makeTempDir, REPO } from '../../helpers/fixtures';
import { safetensorsOf } from '../../helpers/writers';

/** Two [2, 4] weights and a bias; figures counted by hand from the values. */
const TENSORS = new Map([
  ['a.weight', [1, 0, 2, 0, 0, 0, 3, 0]], // fan-in 2, 1
  ['b.weight', [0, 0, 0, 0, 5, 6, 7, 8]], // fan-in 0, 4
]);

describe('checkpoints opened and analysed where the kernels run', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof makeTempDir>;
  let file: string;
  before(() => {
    tmp = makeTempDir();
    file = tmp.write('two.safetensors', safetensorsOf(TENSORS, [2, 4]));
  });
  after(() => tmp.remove());

  for (const backend of ['reference', 'native'] as const) {
    describe(`${backend} kernels`, () => {
      let kernels: Kernels;
      before(() => (kernels = createKernels({ backend, root: REPO })));
      after(() => kernels.dispose());

      it('analyses a file by its path: the report, per-neuron fan-in and progress', async () => {
        const progress: AnalyseProgress[] = [];
        const analysis = await kernels.analyseFile(
          { file, roles: [], nm: { n: 2, m: 4 }, zeroThreshold: 0 },
          { onProgress: (p) => progress.push(p) },
        );
        assert.deepEqual(
          analysis.report.layers.map((l) => [l.name, l.nnz]),
          [
            ['a.weight', 3],
            ['b.weight', 4],
          ],
        );
        assert.deepEqual(Array.from(analysis.neurons.get('a.weight')!.fanIn), [2, 1]);
        assert.deepEqual(Array.from(analysis.neurons.get('b.weight')!.fanIn), [0, 4]);
        assert.deepEqual(analysis.unusedRoles, []);
        // Two float32 [2, 4] weights: 32 bytes each; the progress carries the rows just scanned.
        assert.deepEqual(
          progress.map((p) => (p.phase === 'scanned' ? { ...p, layers: p.layers.map((l) => [l.name, l.nnz]) } : p)),
          [
            { phase: 'opened', tensors: 2 },
            {
              phase: 'scanned',
              done: 2,
              total: 2,
              name: 'b.weight',
              bytesDone: 64,
              bytesTotal: 64,
              layers: [
                ['a.weight', 3],
                ['b.weight', 4],
              ],
            },
          ],
        );
      });

      it('draws tiles and windows of a tensor it names, and opens the file again once closed', async () => {
        const key: CheckpointKey = { file, roles: [] };
        const window = { rowStart: 0, rowEnd: 2, colStart: 0, colEnd: 4 };
        const tiles = await kernels.tensorHeatmap({ ...key, tensor: 'a.weight', ...window, width: 4, height: 2, zeroThreshold: 0 });
        assert.deepEqual(Array.from(tiles.density), [1, 0, 1, 0, 0, 0, 1, 0]);
        await kernels.closeCheckpoint(key);
        const values = await kernels.tensorWeightWindow({ ...key, tensor: 'b.weight', ...window });
        assert.deepEqual(Array.from(values), TENSORS.get('b.weight'));
        await assert.rejects(kernels.tensorWeightWindow({ ...key, tensor: 'c.weight', ...window }), /no weight named "c\.weight"/);
      });

      it('role overrides apply where the file is opened; patterns that match nothing are returned', async () => {
        const roles = parseRoleOverridesJson('{"a.weight": {"role": "linear", "layout": "in,out"}, "zzz*": {"role": "other"}}');
        const analysis = await kernels.analyseFile({ file, roles, nm: { n: 2, m: 4 }, zeroThreshold: 0 });
        // [2, 4] read as [in, out]: four neurons of two inputs.
        assert.deepEqual(Array.from(analysis.neurons.get('a.weight')!.fanIn), [1, 0, 2, 0]);
        assert.deepEqual(analysis.unusedRoles, ['zzz*']);
        const bad = parseRoleOverridesJson('{"a.weight": {"role": "linear", "outAxis": 5, "inAxis": 0}}');
        await assert.rejects(
          kernels.analyseFile({ file, roles: bad, nm: { n: 2, m: 4 }, zeroThreshold: 0 }),
          (e: unknown) => e instanceof RoleOverrideError && /outAxis 5 is out of range/.test(e.message),
        );
      });

      it('bad input is a CheckpointError naming the file, as the CLI and the editor expect', async () => {
        const broken = tmp.write('broken.safetensors', Buffer.from('garbage'));
        await assert.rejects(
          kernels.analyseFile({ file: broken, roles: [], nm: { n: 2, m: 4 }, zeroThreshold: 0 }),
          (e: unknown) =>
            e instanceof CheckpointError &&
            e.file === broken &&
            e.problem === 'truncated' &&
            e.message === `${broken}: only 7 bytes: no safetensors header length (at byte 0)`,
        );
      });
    });
  }

  describe('what opening made is let go once no call uses it', () => {
    let kernels: Kernels;
    let released: string[];
    let open: OpenCheckpoints;
    const analyse = (path: string, roles = parseRoleOverridesJson('{}')) =>
      open.analyseFile({ file: path, roles, nm: { n: 2, m: 4 }, zeroThreshold: 0 });
    before(() => (kernels = createKernels({ backend: 'reference', root: REPO })));
    after(() => kernels.dispose());
    beforeEach(() => {
      released = [];
      // Each opening gets its own release, recorded by the file's name and the opening's number.
      let openings = 0;
      open = new OpenCheckpoints(kernels, async (path) => {
        const tag = `${basename(path)}#${++openings}`;
        return { ...(await openCheckpoint(path)), release: async () => void released.push(tag) };
      });
    });
    const window = { rowStart: 0, rowEnd: 2, colStart: 0, colEnd: 4 };

    it('closing releases it, after the tile that was being drawn', async () => {
      const tile = open.tensorWeightWindow({ file, roles: [], tensor: 'a.weight', ...window });
      await open.closeCheckpoint({ file, roles: [] });
      assert.deepEqual(released, []);
      assert.deepEqual(Array.from(await tile), TENSORS.get('a.weight'));
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(released, ['two.safetensors#1']);
      await open.closeCheckpoint({ file, roles: [] });
      assert.equal(released.length, 1, 'released once');
    });

    it('a new analysis of the same file releases the previous opening; the fifth file open releases the least recent', async () => {
      await analyse(file);
      await analyse(file);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(released, ['two.safetensors#1']);
      const others = ['1', '2', '3', '4'].map((n) => tmp.write(`other${n}.safetensors`, safetensorsOf(TENSORS, [2, 4])));
      for (const other of others) await analyse(other);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(released, ['two.safetensors#1', 'two.safetensors#2']);
    });

    it('an opening whose role overrides fail is released at once', async () => {
      const bad = parseRoleOverridesJson('{"a.weight": {"role": "linear", "outAxis": 5, "inAxis": 0}}');
      await assert.rejects(analyse(file, bad), RoleOverrideError);
      assert.deepEqual(released, ['two.safetensors#1']);
    });
  });

  describe('a reader that never returns costs a killed worker, not a stuck caller', () => {
    let native: NativeKernels;
    let slow: string;
    before(function () {
      // The test-only hook of the worker: opening *.slow-open.* blocks it (read when the worker starts).
      process.env.SPARSITY_LENS_TEST_SLOW_OPEN_MS = '20000';
      const paths = nativePaths(REPO);
      native = createNativeKernels(paths.workerScript, paths.addon, undefined, 2000);
      slow = tmp.write('stuck.slow-open.safetensors', safetensorsOf(TENSORS, [2, 4]));
    });
    after(async () => {
      delete process.env.SPARSITY_LENS_TEST_SLOW_OPEN_MS;
      await native.dispose();
    });

    it('opening past the deadline stops with a CheckpointError; the next file is analysed', async function () {
      if (!(await native.worker.available()).native) this.skip();
      const started = Date.now();
      await assert.rejects(
        native.analyseFile({ file: slow, roles: [], nm: { n: 2, m: 4 }, zeroThreshold: 0 }),
        (e: unknown) => e instanceof CheckpointError && e.problem === 'timeout' && /took longer than 2 s/.test(e.message),
      );
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 1900 && elapsed < 5000, `stopped at the deadline (${elapsed} ms)`);
      const analysis = await native.analyseFile({ file, roles: [], nm: { n: 2, m: 4 }, zeroThreshold: 0 });
      assert.equal(analysis.report.weights.nnz, 7);
    });

    it('a cancel stops it within 1 s (a grace period, then the kill)', async function () {
      if (!(await native.worker.available()).native) this.skip();
      const abort = new AbortController();
      const pending = native.analyseFile({ file: slow, roles: [], nm: { n: 2, m: 4 }, zeroThreshold: 0 }, { signal: abort.signal });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const cancelled = Date.now();
      abort.abort();
      await assert.rejects(pending);
      const elapsed = Date.now() - cancelled;
      assert.ok(elapsed < 1000, `stopped ${elapsed} ms after the cancel`);
      assert.equal((await native.analyseFile({ file, roles: [], nm: { n: 2, m: 4 }, zeroThreshold: 0 })).report.weights.nnz, 7);
    });
  });
});
