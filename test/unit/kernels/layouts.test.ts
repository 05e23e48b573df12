import { strict as assert } from 'node:assert';
import type { WeightLayout } from '../../../src/core/checkpoint';
import { createReferenceKernels } from '../../../src/kernels/reference/referenceKernels';
import { seededRandom } from '../../helpers/random';

/** Float32 values with ~60% zeros (half of them -0.0), NaN and ±Inf sprinkled in. */
function randomWeights(numel: number, seed: number): Float32Array {
  const rnd = seededRandom(seed);
  const w = new Float32Array(numel);
  for (let i = 0; i < numel; i++) {
    const r = rnd();
    w[i] = r < 0.3 ? 0 : r < 0.6 ? -0 : r < 0.62 ? NaN : r < 0.63 ? -Infinity : rnd() - 0.5;
  }
  return w;
}

/** The same figures by brute force over multi-indices: the oracle for the streaming counter. */
function bruteForce(w: Float32Array, shape: number[], layout: WeightLayout, n: number, m: number) {
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const nz = (i: number) => !(w[i] === 0); // NaN !== 0 is non-zero; -0 === 0 is zero
  const fanIn = new Array<number>(shape[layout.outAxis]).fill(0);
  const fanOut = new Array<number>(shape[layout.outAxis] ? w.length / shape[layout.outAxis] : 0).fill(0);
  const so = strides[layout.outAxis];
  for (let i = 0; i < w.length; i++) {
    if (!nz(i)) continue;
    fanIn[Math.floor(i / so) % shape[layout.outAxis]]++;
    // The input position: the flat index with the output axis taken out.
    fanOut[Math.floor(i / (so * shape[layout.outAxis])) * so + (i % so)]++;
  }
  let groups = 0;
  let compliant = 0;
  let excess = 0;
  let partial = 0;
  const inDim = shape[layout.inAxis];
  // Every element whose input index is 0 starts a line; walk its groups along the input axis.
  for (let i = 0; i < w.length; i++) {
    if (Math.floor(i / strides[layout.inAxis]) % inDim !== 0) continue;
    for (let g = 0; g < inDim; g += m) {
      if (g + m > inDim) {
        partial++;
        continue;
      }
      let count = 0;
      for (let j = g; j < g + m; j++) if (nz(i + j * strides[layout.inAxis])) count++;
      groups++;
      if (count <= n) compliant++;
      else excess += count - n;
    }
  }
  return { fanIn, fanOut, nm: { groups, compliant, partial, excess } };
}

const CASES: { shape: number[]; layout: WeightLayout; what: string }[] = [
  { shape: [7, 13], layout: { outAxis: 0, inAxis: 1 }, what: 'linear [out, in], input not a multiple of M' },
  { shape: [13, 7], layout: { outAxis: 1, inAxis: 0 }, what: 'MatMul B [in, out]' },
  { shape: [6, 5, 3, 3], layout: { outAxis: 0, inAxis: 1 }, what: 'conv [out, in, kh, kw]' },
  { shape: [4, 9, 5], layout: { outAxis: 0, inAxis: 1 }, what: 'conv1d [out, in, k]' },
  { shape: [5, 3, 2, 2], layout: { outAxis: 1, inAxis: 0 }, what: 'ConvTranspose [in, out, kh, kw]' },
  { shape: [1, 1], layout: { outAxis: 0, inAxis: 1 }, what: 'a single weight' },
  { shape: [1, 33], layout: { outAxis: 0, inAxis: 1 }, what: 'one row' },
  { shape: [33, 1], layout: { outAxis: 0, inAxis: 1 }, what: 'one column' },
  { shape: [0, 8], layout: { outAxis: 0, inAxis: 1 }, what: 'no neurons' },
  { shape: [8, 0], layout: { outAxis: 0, inAxis: 1 }, what: 'no inputs' },
];

describe('reference scan: fan-in and N:M for every layout, against brute force', () => {
  for (const { shape, layout, what } of CASES) {
    for (const [n, m] of [
      [2, 4],
      [1, 4],
      [4, 8],
      [0, 3],
    ]) {
      it(`${what} ${JSON.stringify(shape)}, ${n}:${m}, any chunk size`, async () => {
        const numel = shape.reduce((a, b) => a * b, 1);
        const w = randomWeights(numel, numel * 31 + m);
        const expected = bruteForce(w, shape, layout, n, m);
        const bytes = new Uint8Array(w.buffer);
        for (const chunk of [3, 64, 1 << 20]) {
          const result = await createReferenceKernels(chunk).scan({
            source: { kind: 'inline', bytes },
            dtype: 'float32',
            shape,
            layout,
            nm: { n, m },
          });
          assert.deepEqual(Array.from(result.fanIn ?? []), expected.fanIn, `fan-in, chunks of ${chunk}`);
          assert.deepEqual(Array.from(result.fanOut ?? []), expected.fanOut, `fan-out, chunks of ${chunk}`);
          assert.deepEqual(result.nm, expected.nm, `N:M, chunks of ${chunk}`);
          assert.equal(
            result.nnz,
            expected.fanIn.reduce((a, b) => a + b, 0),
          );
          assert.equal(result.numel, numel);
        }
      });
    }
  }

  it('rejects an invalid N:M pattern', async () => {
    const scan = createReferenceKernels().scan({
      source: { kind: 'inline', bytes: new Uint8Array(16) },
      dtype: 'float32',
      shape: [2, 2],
      layout: { outAxis: 0, inAxis: 1 },
      nm: { n: 4, m: 4 },
    });
    await assert.rejects(scan, /invalid N:M pattern 4:4/);
  });

  it('a near-zero threshold counts |w| <= ε as zero', async () => {
    const w = new Float32Array([0.001, -0.002, 0.5, -0.0, NaN, 0.01]);
    const scan = (zeroThreshold: number) =>
      createReferenceKernels().scan({
        source: { kind: 'inline', bytes: new Uint8Array(w.buffer) },
        dtype: 'float32',
        shape: [6],
        zeroThreshold,
      });
    assert.equal((await scan(0)).nnz, 5);
    assert.equal((await scan(0.005)).nnz, 3, '0.5, NaN and 0.01 stay non-zero');
  });
});
