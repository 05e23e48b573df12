import { strict as assert } from 'node:assert';
import type { WeightLayout } from '../../../src/core/checkpoint';
import { stridesOf, viewOf } from '../../../src/core/neuronView';
import { createKernels } from '../../../src/kernels/createKernels';
import type { Kernels } from '../../../src/kernels/kernels';
import { REPO } from '../../helpers/fixtures';
import { seededRandom } from '../../helpers/random';

/**
 * The editor's conv view: column d is input channel d mod I at kernel position ⌊d / I⌋, the
 * kernel position being the C-order index over the axes other than out and in. The storage index
 * of each (row, column) is computed here from the axes one by one.
 */
const SHAPES: { what: string; shape: number[]; layout: WeightLayout }[] = [
  { what: 'conv [out, in, kh, kw]', shape: [4, 6, 3, 3], layout: { outAxis: 0, inAxis: 1 } },
  { what: 'Keras conv [kh, kw, in, out]', shape: [3, 2, 5, 4], layout: { outAxis: 3, inAxis: 2 } },
  { what: 'ConvTranspose [in, out, kh, kw]', shape: [5, 3, 2, 3], layout: { outAxis: 1, inAxis: 0 } },
  { what: 'conv1d [out, in, k]', shape: [3, 8, 5], layout: { outAxis: 0, inAxis: 1 } },
];

function storageIndex(shape: number[], layout: WeightLayout, row: number, channel: number, position: number): number {
  const strides = stridesOf(shape);
  const kernelAxes = shape.map((_, a) => a).filter((a) => a !== layout.outAxis && a !== layout.inAxis);
  let index = row * strides[layout.outAxis] + channel * strides[layout.inAxis];
  let rest = position;
  for (const a of [...kernelAxes].reverse()) {
    index += (rest % shape[a]) * strides[a];
    rest = Math.floor(rest / shape[a]);
  }
  return index;
}

describe('the kernel-position-major view of conv weights', function () {
  this.timeout(60_000);

  for (const { what, shape, layout } of SHAPES) {
    const inDim = shape[layout.inAxis];
    const rows = shape[layout.outAxis];
    const positions = shape.reduce((a, b) => a * b, 1) / rows / inDim;

    it(`${what}: storage index of each column, its inverse, and the span of a window`, () => {
      const view = viewOf(shape, layout, 'position-major');
      assert.deepEqual([view.rows, view.cols], [rows, inDim * positions]);
      const seen = new Set<number>();
      for (let r = 0; r < rows; r++) {
        for (let d = 0; d < view.cols; d++) {
          const i = view.index(r, d);
          assert.equal(i, storageIndex(shape, layout, r, d % inDim, Math.floor(d / inDim)), `(${r}, ${d})`);
          assert.deepEqual(view.position(i), { row: r, col: d });
          seen.add(i);
        }
      }
      assert.equal(seen.size, rows * view.cols, 'every element once');
      const random = seededRandom(shape.length * 97 + rows);
      for (let k = 0; k < 50; k++) {
        const [r0, r1] = [Math.floor(random() * rows), Math.floor(random() * rows)].sort((a, b) => a - b);
        const [c0, c1] = [Math.floor(random() * view.cols), Math.floor(random() * view.cols)].sort((a, b) => a - b);
        const w = { rowStart: r0, rowEnd: r1 + 1, colStart: c0, colEnd: c1 + 1 };
        const all: number[] = [];
        for (let r = w.rowStart; r < w.rowEnd; r++) for (let d = w.colStart; d < w.colEnd; d++) all.push(view.index(r, d));
        assert.deepEqual(view.span(w), { first: Math.min(...all), last: Math.max(...all) }, JSON.stringify(w));
      }
    });
  }

  for (const backend of ['native', 'reference'] as const) {
    it(`${backend} kernels: weights and 1:1 cells of a window in that order`, async () => {
      const kernels: Kernels = createKernels({ backend, root: REPO });
      try {
        const { shape, layout } = SHAPES[0];
        const values = Float32Array.from({ length: 4 * 6 * 9 }, (_, i) => (i % 3 === 0 ? 0 : i));
        const source = { kind: 'inline' as const, bytes: new Uint8Array(values.buffer) };
        const window = { rowStart: 1, rowEnd: 3, colStart: 4, colEnd: 15 };
        const got = await kernels.weightWindow({ source, dtype: 'float32', shape, layout, ...window, order: 'position-major' });
        const want: number[] = [];
        for (let r = 1; r < 3; r++)
          for (let d = 4; d < 15; d++) want.push(values[storageIndex(shape, layout, r, d % 6, Math.floor(d / 6))]);
        assert.deepEqual(Array.from(got), want);
        const tiles = await kernels.heatmap({
          source,
          dtype: 'float32',
          shape,
          layout,
          ...window,
          width: 11,
          height: 2,
          order: 'position-major',
        });
        assert.deepEqual(
          Array.from(tiles.density),
          want.map((v) => (v === 0 ? 0 : 1)),
        );
      } finally {
        await kernels.dispose();
      }
    });
  }
});
