import { strict as assert } from 'node:assert';
import { closeSync, existsSync, ftruncateSync, openSync } from 'node:fs';
import * as path from 'node:path';
import type { TensorSource, WeightLayout } from '../../../src/core/checkpoint';
import { ALL_DTYPES, type DType } from '../../../src/core/dtype';
import { NeuronView, type ViewWindow } from '../../../src/core/neuronView';
import type { WeightRef } from '../../../src/kernels/kernels';
import type { NativeSource } from '../../../src/kernels/native/bindings/args';
import type { NativeAddon } from '../../../src/kernels/native/nativeAddon';
import { referenceWeightWindow } from '../../../src/kernels/reference/weightWindow';
import { makeTempDir, REPO } from '../../helpers/fixtures';
import { seededRandom } from '../../helpers/random';
import { inlineAndFile, randomTensorBytes } from '../../helpers/randomTensors';

/** A quarter zeros and a quarter special values (-0.0, NaN, ±Inf), the rest random bit patterns. */
const SPREAD = { zeros: 0.25, specials: 0.25 };

const readWeightWindow = (t: Weight, w: ViewWindow) => referenceWeightWindow({ ...t, ...w });

const ADDON_PATH = path.join(REPO, 'native', 'build', 'Release', 'sparsity_lens_native.node');

type Weight = WeightRef;

const SHAPES: { what: string; shape: number[]; layout: WeightLayout }[] = [
  { what: '2-D [out, in]', shape: [7, 13], layout: { outAxis: 0, inAxis: 1 } },
  { what: '2-D [in, out]', shape: [13, 7], layout: { outAxis: 1, inAxis: 0 } },
  { what: 'conv [out, in, kh, kw]', shape: [6, 5, 3, 3], layout: { outAxis: 0, inAxis: 1 } },
  { what: 'ConvTranspose [in, out, kh, kw]', shape: [5, 3, 2, 3], layout: { outAxis: 1, inAxis: 0 } },
  { what: 'Keras conv [kh, kw, in, out]', shape: [3, 2, 4, 5], layout: { outAxis: 3, inAxis: 2 } },
  { what: 'batched [groups, out, in]', shape: [2, 5, 3], layout: { outAxis: 1, inAxis: 2 } },
  { what: 'one neuron', shape: [1, 33], layout: { outAxis: 0, inAxis: 1 } },
  { what: 'one input', shape: [33, 1], layout: { outAxis: 0, inAxis: 1 } },
];

/** Windows at every edge and corner, single cells, the whole view, and a few random ones. */
function windowsOf(view: NeuronView, seed: number): ViewWindow[] {
  const { rows, cols } = view;
  const w = (rowStart: number, rowEnd: number, colStart: number, colEnd: number) => ({ rowStart, rowEnd, colStart, colEnd });
  const windows = [
    w(0, rows, 0, cols),
    w(0, 1, 0, 1),
    w(rows - 1, rows, cols - 1, cols),
    w(0, 1, cols - 1, cols),
    w(rows - 1, rows, 0, 1),
    w(0, 1, 0, cols),
    w(rows - 1, rows, 0, cols),
    w(0, rows, 0, 1),
    w(0, rows, cols - 1, cols),
    w(Math.floor(rows / 2), rows, Math.floor(cols / 3), cols),
  ];
  if (rows > 2 && cols > 2) windows.push(w(1, rows - 1, 1, cols - 1));
  const rnd = seededRandom(seed);
  for (let i = 0; i < 6; i++) {
    const r0 = Math.floor(rnd() * rows);
    const c0 = Math.floor(rnd() * cols);
    windows.push(w(r0, r0 + 1 + Math.floor(rnd() * (rows - r0)), c0, c0 + 1 + Math.floor(rnd() * (cols - c0))));
  }
  return windows;
}

function nativeSource(source: TensorSource): NativeSource {
  return source.kind === 'file' ? { path: source.path, offset: source.offset, length: source.length } : { bytes: source.bytes };
}

function weight(dtype: DType, shape: number[], layout: WeightLayout, source: TensorSource): Weight {
  return { dtype, shape, layout, source };
}

function nativeWindow(addon: NativeAddon, t: Weight, w: ViewWindow): Float32Array {
  return addon.weightWindow({ source: nativeSource(t.source), dtype: t.dtype, shape: t.shape, ...t.layout, ...w });
}

/** Element by element with Object.is: NaN equals NaN, -0.0 differs from 0. */
function assertSameValues(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}: [${i}] is ${actual[i]}, expected ${expected[i]}`);
  }
}

describe('native weightWindow against readWeightWindow', function () {
  this.timeout(120_000);
  let addon: NativeAddon;
  let tmp: ReturnType<typeof makeTempDir>;

  before(function () {
    if (!existsSync(ADDON_PATH)) {
      if (process.env.SPARSITY_LENS_ALLOW_NO_NATIVE === '1') this.skip();
      assert.fail(`the native addon is not built (${ADDON_PATH}); run npm install`);
    }
    addon = require(ADDON_PATH) as NativeAddon;
    tmp = makeTempDir();
  });
  after(() => tmp?.remove());

  const sources = (bytes: Uint8Array, name: string) => inlineAndFile(bytes, path.join(tmp.dir, name));

  for (const dtype of ALL_DTYPES) {
    it(`${dtype}: every layout, windows at the edges, inline and file`, async () => {
      for (const [s, { what, shape, layout }] of SHAPES.entries()) {
        const numel = shape.reduce((a, b) => a * b, 1);
        const bytes = randomTensorBytes(dtype, numel, 1000 * s + dtype.length, SPREAD);
        const view = new NeuronView(shape, layout);
        for (const source of sources(bytes, `${dtype}-${s}.bin`)) {
          const t = weight(dtype, shape, layout, source);
          for (const w of windowsOf(view, s + 7)) {
            const label = `${dtype} ${what} ${JSON.stringify(shape)} ${source.kind} rows ${w.rowStart}..${w.rowEnd} cols ${w.colStart}..${w.colEnd}`;
            assertSameValues(nativeWindow(addon, t, w), await readWeightWindow(t, w), label);
          }
        }
      }
    });
  }

  it('keeps NaN, ±Inf and -0.0, and rounds float64 to float32 as a Float32Array does', () => {
    const values = [NaN, Infinity, -Infinity, -0, 0, 1e300, -1e300, 1e-300, 0.1, 3.4028235677973366e38, 16777217];
    const bytes = new Uint8Array(new Float64Array(values).buffer);
    const out = addon.weightWindow({
      source: { bytes },
      dtype: 'float64',
      shape: [1, values.length],
      outAxis: 0,
      inAxis: 1,
      rowStart: 0,
      rowEnd: 1,
      colStart: 0,
      colEnd: values.length,
    });
    assertSameValues(out, Float32Array.from(values), 'float64 specials');
  });

  it('runs longer than one read buffer, at odd nibbles too', async () => {
    for (const [dtype, cols] of [
      ['float32', (1 << 19) + 3],
      ['float4_e2m1', (1 << 22) + 1],
    ] as const) {
      const shape = [3, cols];
      const layout = { outAxis: 0, inAxis: 1 };
      const bytes = randomTensorBytes(dtype, 3 * cols, 17, SPREAD);
      for (const source of sources(bytes, `long-${dtype}.bin`)) {
        const t = weight(dtype, shape, layout, source);
        for (const w of [
          { rowStart: 1, rowEnd: 3, colStart: 0, colEnd: cols },
          { rowStart: 0, rowEnd: 2, colStart: 1, colEnd: cols },
        ]) {
          assertSameValues(
            nativeWindow(addon, t, w),
            await readWeightWindow(t, w),
            `${dtype} ${source.kind} rows ${w.rowStart}..${w.rowEnd} cols ${w.colStart}..${w.colEnd}`,
          );
        }
      }
    }
  });

  it('rejects windows that are empty or outside the view, with the message of readWeightWindow', async () => {
    const shape = [7, 13];
    const layout = { outAxis: 0, inAxis: 1 };
    const t = weight('float32', shape, layout, { kind: 'inline', bytes: randomTensorBytes('float32', 91, 3, SPREAD) });
    const windows: ViewWindow[] = [
      { rowStart: 0, rowEnd: 8, colStart: 0, colEnd: 13 },
      { rowStart: 0, rowEnd: 7, colStart: 0, colEnd: 14 },
      { rowStart: 7, rowEnd: 8, colStart: 0, colEnd: 1 },
      { rowStart: 0, rowEnd: 1, colStart: 13, colEnd: 14 },
      { rowStart: 3, rowEnd: 3, colStart: 0, colEnd: 13 },
      { rowStart: 0, rowEnd: 7, colStart: 5, colEnd: 5 },
      { rowStart: 5, rowEnd: 2, colStart: 0, colEnd: 13 },
      { rowStart: -1, rowEnd: 2, colStart: 0, colEnd: 13 },
      { rowStart: 0, rowEnd: 2, colStart: -3, colEnd: 2 },
      { rowStart: 0, rowEnd: 2 ** 40, colStart: 0, colEnd: 1 },
    ];
    for (const w of windows) {
      const expected = await readWeightWindow(t, w).then(
        () => assert.fail(`readWeightWindow accepted ${JSON.stringify(w)}`),
        (e: Error) => e.message,
      );
      assert.match(expected, /does not fit/);
      assert.throws(
        () => nativeWindow(addon, t, w),
        (e: Error) => e.message === `weightWindow: ${expected}`,
        JSON.stringify(w),
      );
    }
    const empty = weight('float32', [0, 8], layout, { kind: 'inline', bytes: new Uint8Array(0) });
    assert.throws(() => nativeWindow(addon, empty, { rowStart: 0, rowEnd: 1, colStart: 0, colEnd: 1 }), /does not fit a 0×0 weight/);
    // Arguments the binding refuses: whatever the window, they never reach the kernel.
    const args = {
      source: { bytes: new Uint8Array(364) },
      dtype: 'float32' as const,
      shape,
      ...layout,
      rowStart: 0,
      rowEnd: 1,
      colStart: 0,
      colEnd: 1,
    };
    const refused: [Record<string, unknown>, RegExp][] = [
      ...[1.5, NaN, '1', undefined].map((bad): [Record<string, unknown>, RegExp] => [
        { rowStart: bad },
        /weightWindow: rowStart must be an integer/,
      ]),
      [{ outAxis: -1, inAxis: -1 }, /weightWindow: the tensor needs a layout/],
      [{ source: { bytes: new Uint8Array(360) } }, /weightWindow: source has 360 bytes/],
    ];
    for (const [change, message] of refused) {
      assert.throws(() => addon.weightWindow({ ...args, ...change } as Parameters<NativeAddon['weightWindow']>[0]), message);
    }
  });

  it('refuses windows spanning more than 64 MiB of the tensor, as readWeightWindow does, and reads narrow ones of a large file', async () => {
    // 16 × 2^21 float32 (128 MiB), a sparse file of zeros.
    const rows = 16;
    const cols = 1 << 21;
    const file = path.join(tmp.dir, 'large.bin');
    const fd = openSync(file, 'w');
    ftruncateSync(fd, rows * cols * 4);
    closeSync(fd);
    for (const [shape, layout] of [
      [[rows, cols], { outAxis: 0, inAxis: 1 }],
      [[cols, rows], { outAxis: 1, inAxis: 0 }],
    ] as const) {
      const t = weight('float32', [...shape], layout, { kind: 'file', path: file, offset: 0, length: rows * cols * 4 });
      const wide =
        layout.outAxis === 0
          ? { rowStart: 0, rowEnd: rows, colStart: 0, colEnd: 1 }
          : { rowStart: 0, rowEnd: 1, colStart: 0, colEnd: cols };
      const expected = await readWeightWindow(t, wide).then(
        () => assert.fail('readWeightWindow accepted a 120 MiB span'),
        (e: Error) => e.message,
      );
      const spanBytes = /spans (\d+) bytes/.exec(expected)?.[1];
      assert.ok(spanBytes, expected);
      assert.throws(
        () => nativeWindow(addon, t, wide),
        (e: Error) => e.message.startsWith(`weightWindow: the window spans ${spanBytes} bytes of the tensor`) && /64 MiB/.test(e.message),
      );
      const narrow = { rowStart: rows - 2, rowEnd: rows, colStart: cols - 3, colEnd: cols };
      assertSameValues(nativeWindow(addon, t, narrow), await readWeightWindow(t, narrow), `narrow window of ${JSON.stringify(shape)}`);
    }
  });
});
