import { strict as assert } from 'node:assert';
import type { WeightLayout } from '../../../src/core/checkpoint';
import { HISTOGRAM_NONFINITE_BIN, HISTOGRAM_ZERO_BIN, histogramBin } from '../../../src/core/histogram';
import { createReferenceKernels } from '../../../src/kernels/reference/referenceKernels';

const kernels = createReferenceKernels();
const OUT_IN: WeightLayout = { outAxis: 0, inAxis: 1 };

function f32(values: number[]) {
  return { kind: 'inline' as const, bytes: new Uint8Array(new Float32Array(values).buffer) };
}

describe('reference kernels: masks, heatmap, histogram, condensed layers', () => {
  it('2:4 mask keeps the two largest |w| of each group of 4, lower index on ties', async () => {
    const w = [0.1, -0.9, 0.5, 0.2, /* */ 0.3, 0.3, -0.3, 0.3, /* row 2 */ 0, 0, 0, 0, /* */ NaN, 1, -2, 0];
    const mask = await kernels.nmMask({ source: f32(w), dtype: 'float32', shape: [2, 8], layout: OUT_IN }, { n: 2, m: 4 });
    assert.deepEqual(Array.from(mask), [0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0]);
  });

  it('a conv mask groups input channels at a fixed kernel position (ASP), a short group keeps min(N, size)', async () => {
    // [out=1, in=5, k=2]: groups along `in` at each of the two kernel positions; the 5th channel is a short group.
    const w = [1, 9, 2, 8, 3, 7, 4, 6, 5, 5];
    const mask = await kernels.nmMask({ source: f32(w), dtype: 'float32', shape: [1, 5, 2], layout: OUT_IN }, { n: 2, m: 4 });
    // position 0: channels 0..3 hold 1,2,3,4 -> keep 3,4; channel 4 (5) alone keeps itself.
    // position 1: channels 0..3 hold 9,8,7,6 -> keep 9,8; channel 4 (5) alone keeps itself.
    assert.deepEqual(Array.from(mask), [0, 1, 0, 1, 1, 0, 1, 0, 1, 1]);
  });

  it('constant fan-in mask keeps k per neuron, also for [in, out] weights', async () => {
    const w = [3, -1, 2, /* */ 0, 5, 5, /* */ 1, 1, 1];
    const rows = await kernels.fanInMask({ source: f32(w), dtype: 'float32', shape: [3, 3], layout: OUT_IN }, 2);
    assert.deepEqual(Array.from(rows), [1, 0, 1, 0, 1, 1, 1, 1, 0]);
    const cols = await kernels.fanInMask({ source: f32(w), dtype: 'float32', shape: [3, 3], layout: { outAxis: 1, inAxis: 0 } }, 1);
    assert.deepEqual(Array.from(cols), [1, 0, 0, 0, 1, 1, 0, 0, 0]);
  });

  it('heatmap cells hold density and mean |w| of their block', async () => {
    const w = [1, 0, 0, 0, /* */ -2, 2, 0, 0, /* */ 0, 0, 4, NaN, /* */ 0, 0, 0, 0];
    const tiles = await kernels.heatmap({
      source: f32(w),
      dtype: 'float32',
      shape: [4, 4],
      layout: OUT_IN,
      rowStart: 0,
      rowEnd: 4,
      colStart: 0,
      colEnd: 4,
      width: 2,
      height: 2,
    });
    assert.deepEqual([tiles.rows, tiles.cols], [2, 2]);
    assert.deepEqual(Array.from(tiles.density), [0.75, 0, 0, 0.5]);
    assert.deepEqual(Array.from(tiles.meanAbs), [1.25, 0, 0, Math.fround(4 / 3)], 'NaN is left out of the mean');
    await assert.rejects(
      kernels.heatmap({
        source: f32(w),
        dtype: 'float32',
        shape: [4, 4],
        layout: OUT_IN,
        rowStart: 2,
        rowEnd: 5,
        colStart: 0,
        colEnd: 4,
        width: 2,
        height: 2,
      }),
      /does not fit a 4×4 weight/,
    );
  });

  it('histogram bins are exact binary exponents', async () => {
    assert.equal(histogramBin(1), 64);
    assert.equal(histogramBin(0.75), 63);
    assert.equal(histogramBin(-8), 67);
    assert.equal(histogramBin(2 ** -100), 0, 'clamped');
    assert.equal(histogramBin(Infinity), HISTOGRAM_NONFINITE_BIN);
    const scan = await kernels.scan({
      source: f32([0, -0, 1, 1.999, 2, NaN, -Infinity, 0.5]),
      dtype: 'float32',
      shape: [8],
      histogram: true,
    });
    const h = scan.histogram!;
    assert.equal(h[HISTOGRAM_ZERO_BIN], 2);
    assert.equal(h[HISTOGRAM_NONFINITE_BIN], 2);
    assert.deepEqual([h[63], h[64], h[65]], [1, 2, 1]);
  });

  it('a condensed layer computes what the dense one does', async () => {
    const w = new Float32Array([0, 2, 0, 1, /* */ 0, 0, 0, 0, /* */ 3, 0, -1, 0]);
    const layer = await kernels.condense(w, 3, 4);
    assert.equal(layer.k, 2);
    assert.deepEqual(Array.from(layer.activeRows), [0, 2]);
    assert.deepEqual(Array.from(layer.indices), [1, 3, 0, 2]);
    assert.deepEqual(Array.from(layer.values), [2, 1, 3, -1]);
    const x = new Float32Array([1, 2, 3, 4, /* */ -1, 0, 1, 0]);
    const bias = new Float32Array([0.5, 0.25, 0]);
    const y = await kernels.condensedForward(layer, bias, x, 2);
    assert.deepEqual(Array.from(y), [8.5, 0.25, 0, 0.5, 0.25, -4]);
    assert.deepEqual(Array.from(await kernels.denseForward(w, bias, 3, 4, x, 2)), Array.from(y));
  });
});
