import { strict as assert } from 'node:assert';
import { closeSync, copyFileSync, existsSync, ftruncateSync, mkdirSync, openSync } from 'node:fs';
import * as path from 'node:path';
import type { WeightLayout } from '../../../src/core/checkpoint';
import { ALL_DTYPES } from '../../../src/core/dtype';
import { createKernels, nativePaths } from '../../../src/kernels/createKernels';
import type { Kernels, TensorRef } from '../../../src/kernels/kernels';
import { createNativeKernels, type NativeKernels } from '../../../src/kernels/native/nativeKernels';
import { KernelCrashError } from '../../../src/kernels/native/workerProcess';
import { createReferenceKernels } from '../../../src/kernels/reference/referenceKernels';
import type { HeatmapTiles, ScanRequest, ScanResult } from '../../../src/kernels/scanKernels';
import { makeTempDir, REPO } from '../../helpers/fixtures';
import { seededRandom } from '../../helpers/random';
import { inlineAndFile, randomTensorBytes } from '../../helpers/randomTensors';

const SHAPES: { shape: number[]; layout?: WeightLayout }[] = [
  { shape: [7, 13], layout: { outAxis: 0, inAxis: 1 } },
  { shape: [13, 7], layout: { outAxis: 1, inAxis: 0 } },
  { shape: [6, 5, 3, 3], layout: { outAxis: 0, inAxis: 1 } },
  { shape: [5, 3, 2, 2], layout: { outAxis: 1, inAxis: 0 } },
  { shape: [1, 33], layout: { outAxis: 0, inAxis: 1 } },
  { shape: [33, 1], layout: { outAxis: 0, inAxis: 1 } },
  { shape: [64, 256], layout: { outAxis: 0, inAxis: 1 } },
  { shape: [0, 8], layout: { outAxis: 0, inAxis: 1 } },
  { shape: [8, 0], layout: { outAxis: 0, inAxis: 1 } },
  { shape: [37] },
  { shape: [] },
];

function comparable(r: ScanResult) {
  return {
    ...r,
    fanIn: r.fanIn && Array.from(r.fanIn),
    fanOut: r.fanOut && Array.from(r.fanOut),
    histogram: r.histogram && Array.from(r.histogram),
  };
}

function assertTilesClose(actual: HeatmapTiles, expected: HeatmapTiles, what: string): void {
  assert.equal(actual.rows, expected.rows, what);
  assert.equal(actual.cols, expected.cols, what);
  assert.deepEqual(Array.from(actual.density), Array.from(expected.density), `${what}: density`);
  for (let i = 0; i < expected.meanAbs.length; i++) {
    const e = expected.meanAbs[i];
    const a = actual.meanAbs[i];
    assert.ok(
      a === e || Math.abs(a - e) <= 1e-5 * Math.max(1, Math.abs(e)) || (!Number.isFinite(e) && !Number.isFinite(a)),
      `${what}: meanAbs[${i}] ${a} vs ${e}`,
    );
  }
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= 1e-4 * Math.max(1, Math.abs(expected[i])),
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

const addonBuilt = existsSync(nativePaths(REPO).addon);

describe('native kernels in a worker process, against the TypeScript reference', function () {
  this.timeout(120_000);
  const reference = createReferenceKernels(1000);
  let native: NativeKernels;
  let tmp: ReturnType<typeof makeTempDir>;

  before(function () {
    if (!addonBuilt) {
      if (process.env.SPARSITY_LENS_ALLOW_NO_NATIVE === '1') this.skip();
      assert.fail(`the native addon is not built (${nativePaths(REPO).addon}); run npm install`);
    }
    const paths = nativePaths(REPO);
    native = createNativeKernels(paths.workerScript, paths.addon);
    tmp = makeTempDir();
  });
  after(async () => {
    await native?.dispose();
    tmp?.remove();
  });

  const sources = (bytes: Uint8Array, name: string) => inlineAndFile(bytes, path.join(tmp.dir, name));

  for (const dtype of ALL_DTYPES) {
    it(`scan: ${dtype}, every layout and awkward shape, inline and file, N:M and thresholds`, async () => {
      for (const [s, { shape, layout }] of SHAPES.entries()) {
        const numel = shape.reduce((a, b) => a * b, 1);
        const bytes = randomTensorBytes(dtype, numel, s * 977 + dtype.length);
        for (const source of sources(bytes, `${dtype}-${s}.bin`)) {
          for (const [nm, zeroThreshold] of [
            [{ n: 2, m: 4 }, 0],
            [{ n: 1, m: 3 }, 0],
            [{ n: 4, m: 8 }, 0.01],
          ] as const) {
            const request = { source, dtype, shape, layout, nm, zeroThreshold, histogram: true };
            const what = `${dtype} ${JSON.stringify(shape)} ${source.kind} ${nm.n}:${nm.m} ε=${zeroThreshold}`;
            assert.deepEqual(comparable(await native.scan(request)), comparable(await reference.scan(request)), what);
          }
        }
      }
    });
  }

  for (const dtype of ['float32', 'float16', 'bfloat16', 'int8', 'float8_e4m3fn', 'float64'] as const) {
    it(`N:M and constant fan-in masks: ${dtype}, ties broken by the lower index`, async () => {
      for (const [s, { shape, layout }] of SHAPES.entries()) {
        if (!layout) continue;
        const numel = shape.reduce((a, b) => a * b, 1);
        const bytes = randomTensorBytes(dtype, numel, s * 31 + 5, { fewValues: true });
        for (const source of sources(bytes, `mask-${dtype}-${s}.bin`)) {
          const tensor: TensorRef & { layout: WeightLayout } = { source, dtype, shape, layout };
          const what = `${dtype} ${JSON.stringify(shape)} ${source.kind}`;
          for (const nm of [
            { n: 2, m: 4 },
            { n: 1, m: 3 },
            { n: 3, m: 8 },
          ]) {
            assert.deepEqual(await native.nmMask(tensor, nm), await reference.nmMask(tensor, nm), `${what} ${nm.n}:${nm.m}`);
          }
          for (const k of [0, 1, 3, 1000]) {
            assert.deepEqual(await native.fanInMask(tensor, k), await reference.fanInMask(tensor, k), `${what} k=${k}`);
          }
        }
      }
    });
  }

  it('N:4 and constant fan-in masks of float32 rows ranked from the stored bits: NaNs of any payload first and alike, ±0 and ±inf, ties to the lower index', async () => {
    const specials = [NaN, -NaN, Infinity, -Infinity, 0, -0, 1, -1, 1, 2.5, -2.5, 1e-45, -3.4e38, 0.5, 0.5, 0.5];
    const rows = 24;
    const cols = 32;
    const values = new Float32Array(rows * cols);
    const bits = new Uint32Array(values.buffer);
    for (let i = 0; i < values.length; i++) values[i] = specials[(i * 7 + Math.floor(i / 5)) % specials.length];
    bits[3] = 0x7fa00001; // signalling-NaN payloads rank as NaN too
    bits[9] = 0xffc12345;
    for (const source of sources(new Uint8Array(values.buffer), 'mask-specials.f32')) {
      const tensor: TensorRef & { layout: WeightLayout } = {
        source,
        dtype: 'float32',
        shape: [rows, cols],
        layout: { outAxis: 0, inAxis: 1 },
      };
      for (const n of [1, 2, 3])
        assert.deepEqual(await native.nmMask(tensor, { n, m: 4 }), await reference.nmMask(tensor, { n, m: 4 }), `${source.kind} ${n}:4`);
      for (const k of [1, 3, 7, 31])
        assert.deepEqual(await native.fanInMask(tensor, k), await reference.fanInMask(tensor, k), `${source.kind} k=${k}`);
    }
  });

  it('scanMany gives, tensor by tensor, the scans of the reference (mixed dtypes, layouts, sources)', async () => {
    const requests: ScanRequest[] = [];
    for (const [s, { shape, layout }] of SHAPES.entries()) {
      for (const dtype of ['float32', 'bfloat16', 'int8', 'float4_e2m1'] as const) {
        const numel = shape.reduce((a, b) => a * b, 1);
        const bytes = randomTensorBytes(dtype, numel, s * 7 + dtype.length);
        for (const source of sources(bytes, `many-${dtype}-${s}.bin`))
          requests.push({ source, dtype, shape, layout, nm: { n: 2, m: 4 }, histogram: s % 2 === 0 });
      }
    }
    const batch = await native.scanMany(requests);
    assert.equal(batch.length, requests.length);
    for (const [i, request] of requests.entries())
      assert.deepEqual(comparable(batch[i]), comparable(await reference.scan(request)), `request ${i}`);
  });

  it('heatmap tiles of any window, every layout', async () => {
    for (const [s, { shape, layout }] of SHAPES.entries()) {
      if (!layout || shape.includes(0)) continue;
      const numel = shape.reduce((a, b) => a * b, 1);
      const bytes = randomTensorBytes('float32', numel, s + 99);
      const rows = shape[layout.outAxis];
      const cols = numel / rows;
      for (const source of sources(bytes, `heat-${s}.bin`)) {
        for (const [r0, r1, c0, c1, w, h] of [
          [0, rows, 0, cols, 4, 3],
          [0, rows, 0, cols, 1000, 1000],
          [Math.floor(rows / 2), rows, Math.floor(cols / 3), cols, 2, 5],
        ]) {
          const request = {
            source,
            dtype: 'float32' as const,
            shape,
            layout,
            rowStart: r0,
            rowEnd: r1,
            colStart: c0,
            colEnd: c1,
            width: w,
            height: h,
          };
          assertTilesClose(
            await native.heatmap(request),
            await reference.heatmap(request),
            `${JSON.stringify(shape)} ${source.kind} window ${[r0, r1, c0, c1, w, h]}`,
          );
        }
      }
    }
  });

  it('condensed layer: the same representation, and forward passes that agree with dense', async () => {
    const out = 24;
    const inF = 40;
    const k = 7;
    const rnd = seededRandom(5);
    const weight = new Float32Array(out * inF);
    for (let r = 0; r < out; r++) {
      if (r % 5 === 3) continue; // ablated neurons
      const cols = Array.from({ length: inF }, (_, c) => c)
        .sort(() => rnd() - 0.5)
        .slice(0, k);
      for (const c of cols) weight[r * inF + c] = rnd() - 0.5 || 0.25;
    }
    const bias = Float32Array.from({ length: out }, () => rnd());
    const layer = await native.condense(weight, out, inF);
    const expected = await reference.condense(weight, out, inF);
    assert.deepEqual(
      { ...layer, activeRows: Array.from(layer.activeRows), values: Array.from(layer.values), indices: Array.from(layer.indices) },
      {
        ...expected,
        activeRows: Array.from(expected.activeRows),
        values: Array.from(expected.values),
        indices: Array.from(expected.indices),
      },
    );
    assert.equal(layer.k, k);
    for (const batch of [1, 3, 64]) {
      const x = Float32Array.from({ length: batch * inF }, () => rnd() * 2 - 1);
      const dense = await reference.denseForward(weight, bias, out, inF, x, batch);
      assertClose(await native.condensedForward(layer, bias, x, batch), dense, `condensed, batch ${batch}`);
      assertClose(await native.denseForward(weight, bias, out, inF, x, batch), dense, `dense, batch ${batch}`);
      assertClose(
        await native.condensedForward(layer, null, x, batch),
        await reference.condensedForward(layer, null, x, batch),
        `no bias, batch ${batch}`,
      );
    }
    weight[0] = 0;
    weight[1] = 0;
    weight[2] = 0;
    weight[3] = 0;
    weight[4] = 0;
    weight[5] = 0;
    weight[6] = 0;
    weight[7] = 1;
    await assert.rejects(native.condense(weight, out, inF), /not constant fan-in: row \d+ has \d+ non-zeros, expected \d+/);
  });

  it('bad arguments are errors, not crashes', async () => {
    const bytes = new Uint8Array(12);
    await assert.rejects(native.scan({ source: { kind: 'inline', bytes }, dtype: 'float32', shape: [2, 2] }), /byte|length|size/i);
    await assert.rejects(
      native.scan({
        source: { kind: 'file', path: path.join(tmp.dir, 'missing.bin'), offset: 0, length: 16 },
        dtype: 'float32',
        shape: [2, 2],
      }),
      /missing\.bin/,
    );
    await assert.rejects(
      native.heatmap({
        source: { kind: 'inline', bytes: new Uint8Array(16) },
        dtype: 'float32',
        shape: [2, 2],
        layout: { outAxis: 0, inAxis: 1 },
        rowStart: 0,
        rowEnd: 3,
        colStart: 0,
        colEnd: 2,
        width: 2,
        height: 2,
      }),
      /row|window/i,
    );
    const result = await native.scan({ source: { kind: 'inline', bytes: new Uint8Array(16) }, dtype: 'float32', shape: [2, 2] });
    assert.equal(result.nnz, 0, 'the worker still answers');
  });

  it('a crash inside a kernel is an error for the caller; the worker restarts and the caller lives on', async () => {
    const startsBefore = native.worker.starts;
    await assert.rejects(native.crashForTest(), (e: unknown) => e instanceof KernelCrashError && /SIGABRT/.test(e.message));
    const after = await native.scan({
      source: { kind: 'inline', bytes: new Uint8Array(new Float32Array([1, 0, 2, 0]).buffer) },
      dtype: 'float32',
      shape: [4],
    });
    assert.equal(after.nnz, 2);
    assert.equal(native.worker.starts, startsBefore + 1, 'one new worker');
  });

  it('a long kernel can be cancelled; the next call runs', async () => {
    const file = path.join(tmp.dir, 'long.bin');
    const fd = openSync(file, 'w');
    ftruncateSync(fd, 1 << 30); // 1 GiB of zeros, sparse on disk
    closeSync(fd);
    const abort = new AbortController();
    const started = Date.now();
    const scan = native.scan(
      {
        source: { kind: 'file', path: file, offset: 0, length: 1 << 30 },
        dtype: 'float32',
        shape: [1 << 14, 1 << 14],
        layout: { outAxis: 1, inAxis: 0 },
        nm: { n: 2, m: 4 },
        histogram: true,
      },
      abort.signal,
    );
    setTimeout(() => abort.abort(), 30);
    await assert.rejects(scan, (e: unknown) => (e as Error).name === 'AbortError');
    assert.ok(Date.now() - started < 5000, 'cancelled promptly');
    const next = await native.scan({
      source: { kind: 'inline', bytes: new Uint8Array(new Float32Array([3]).buffer) },
      dtype: 'float32',
      shape: [1],
    });
    assert.equal(next.nnz, 1);
  });
});

describe('kernel backend selection', function () {
  this.timeout(60_000);
  it('auto falls back to the TypeScript kernels after one warning when the addon cannot load', async () => {
    const tmp = makeTempDir();
    try {
      mkdirSync(path.join(tmp.dir, 'dist'));
      copyFileSync(nativePaths(REPO).workerScript, path.join(tmp.dir, 'dist', 'kernelWorker.js'));
      const warnings: string[] = [];
      const kernels: Kernels = createKernels({ backend: 'auto', root: tmp.dir, onWarning: (m) => warnings.push(m) });
      const bytes = new Uint8Array(new Float32Array([1, 0, -0, 2]).buffer);
      for (let i = 0; i < 3; i++)
        assert.equal((await kernels.scan({ source: { kind: 'inline', bytes }, dtype: 'float32', shape: [4] })).nnz, 2);
      assert.equal(kernels.name, 'reference');
      assert.equal(warnings.length, 1);
      assert.match(
        warnings[0],
        /native kernels unavailable \(Cannot find module .*sparsity_lens_native\.node'\); using the slower TypeScript kernels/,
      );
      await kernels.dispose();
    } finally {
      tmp.remove();
    }
  });

  it('auto uses the native kernels when they load', async function () {
    if (!addonBuilt) this.skip();
    const kernels = createKernels({ backend: 'auto', root: REPO, onWarning: (m) => assert.fail(m) });
    const bytes = new Uint8Array(new Float32Array([1, 0, -0, 2]).buffer);
    assert.equal((await kernels.scan({ source: { kind: 'inline', bytes }, dtype: 'float32', shape: [4] })).nnz, 2);
    assert.equal(kernels.name, 'native');
    await kernels.dispose();
  });
});
