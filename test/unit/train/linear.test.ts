import { strict as assert } from 'node:assert';
import type { CheckedTensor, NativeTrainingAddon } from '../../../src/kernels/native/bindings/training';
import {
  assertAllClose,
  checkOpGradients,
  loadTrainingAddon,
  randomMask,
  randomTensor,
  type CheckedNode,
} from '../../helpers/gradientCheck';
import { seededRandom } from '../../helpers/random';

/** alpha · op(A) · op(B) + beta · C (C broadcast from its shape), computed the plain way. */
function naiveGemm(
  a: CheckedTensor,
  b: CheckedTensor,
  c: CheckedTensor | undefined,
  transA: boolean,
  transB: boolean,
  alpha: number,
  beta: number,
) {
  const M = transA ? a.shape[1] : a.shape[0];
  const K = transA ? a.shape[0] : a.shape[1];
  const N = transB ? b.shape[0] : b.shape[1];
  const y = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = 0;
      for (let k = 0; k < K; k++)
        sum += (transA ? a.data[k * M + i] : a.data[i * K + k]) * (transB ? b.data[j * K + k] : b.data[k * N + j]);
      let bias = 0;
      if (c) {
        const rows = c.shape.length === 2 ? c.shape[0] : 1;
        const cols = c.shape.length === 0 ? 1 : c.shape[c.shape.length - 1];
        bias = c.data[(rows === 1 ? 0 : i * cols) + (cols === 1 ? 0 : j)];
      }
      y[i * N + j] = alpha * sum + beta * bias;
    }
  }
  return y;
}

describe('training engine: Gemm and MatMul', function () {
  let addon: NativeTrainingAddon;
  before(function () {
    addon = loadTrainingAddon(this);
  });

  const gemmCases = [
    { transA: 0, transB: 0, alpha: 1, beta: 1, c: [5] },
    { transA: 0, transB: 1, alpha: 1, beta: 1, c: [1, 5] },
    { transA: 1, transB: 0, alpha: 0.5, beta: 2, c: [4, 5] },
    { transA: 1, transB: 1, alpha: -1.5, beta: 0.25, c: [] },
    { transA: 0, transB: 1, alpha: 2, beta: 1, c: [4, 1] },
    { transA: 0, transB: 0, alpha: 1, beta: 1, c: undefined },
  ];
  for (const t of gemmCases) {
    it(`Gemm transA=${t.transA} transB=${t.transB} alpha=${t.alpha} beta=${t.beta} C ${t.c ? `[${t.c}]` : 'absent'}: values and gradients`, () => {
      const rnd = seededRandom(11);
      const [M, K, N] = [4, 3, 5];
      const a = randomTensor(t.transA ? [K, M] : [M, K], rnd);
      const b = randomTensor(t.transB ? [N, K] : [K, N], rnd);
      const inputs = [a, b];
      if (t.c) inputs.push(randomTensor(t.c, rnd));
      const node: CheckedNode = {
        op: 'Gemm',
        name: 'gemm',
        ints: { transA: t.transA, transB: t.transB },
        floats: { alpha: t.alpha, beta: t.beta },
      };
      const out = addon.trainOpCheck(node, inputs, {}).outputs[0];
      assert.deepEqual(out.shape, [M, N]);
      assertAllClose(out.data, naiveGemm(a, b, inputs[2], !!t.transA, !!t.transB, t.alpha, t.beta), 'Gemm output');
      const { checked } = checkOpGradients(addon, node, inputs);
      assert.equal(
        checked,
        inputs.reduce((n, x) => n + x.data.length, 0),
      );
    });
  }

  it('MatMul over a batch of matrices [2, 3, 4] × [4, 5]: values and gradients', () => {
    const rnd = seededRandom(12);
    const a = randomTensor([2, 3, 4], rnd);
    const b = randomTensor([4, 5], rnd);
    const node: CheckedNode = { op: 'MatMul', name: 'mm' };
    const out = addon.trainOpCheck(node, [a, b], {}).outputs[0];
    assert.deepEqual(out.shape, [2, 3, 5]);
    assertAllClose(out.data, naiveGemm({ shape: [6, 4], data: a.data }, b, undefined, false, false, 1, 0), 'MatMul output');
    checkOpGradients(addon, node, [a, b]);
  });

  /** A mask with density ~0.4 whose logical row `emptyRow` (an output neuron) has no active weight. */
  function maskWithEmptyRow(shape: number[], outAxis: number, emptyRow: number, rnd: () => number): Uint8Array {
    const mask = randomMask(shape[0] * shape[1], 0.4, rnd);
    for (let i = 0; i < shape[0]; i++) {
      for (let j = 0; j < shape[1]; j++) if ((outAxis === 0 ? i : j) === emptyRow) mask[i * shape[1] + j] = 0;
    }
    return mask;
  }

  for (const transB of [1, 0]) {
    for (const transA of [0, 1]) {
      it(`sparse Gemm weight (transA=${transA}, transB=${transB}) with an empty output row: gradients, and the dense op's output and weight gradient`, () => {
        const rnd = seededRandom(13 + transB + 2 * transA);
        const [M, K, N] = [6, 7, 5];
        const a = randomTensor(transA ? [K, M] : [M, K], rnd);
        const bShape = transB ? [N, K] : [K, N];
        const b = randomTensor(bShape, rnd);
        const c = randomTensor([N], rnd);
        const mask = maskWithEmptyRow(bShape, transB ? 0 : 1, 2, rnd);
        const node: CheckedNode = { op: 'Gemm', name: 'fc', ints: { transA, transB }, floats: { alpha: 1.5, beta: 0.5 } };
        checkOpGradients(addon, node, [a, b, c], { sparseWeightMask: mask });
        const grads = addon.trainOpCheck(node, [a, b, c], { sparseWeightMask: mask, outputGrads: [new Float64Array(M * N).fill(1)] });
        const dB = grads.inputGrads[1];
        assert.ok(dB);
        dB.data.forEach((v, i) => assert.ok(mask[i] || v === 0, `inactive weight ${i} has gradient ${v}`));
      });
    }
  }

  it('sparse MatMul weight [in, out]: gradients, and the dense op output and weight gradient', () => {
    const rnd = seededRandom(17);
    const a = randomTensor([3, 2, 8], rnd);
    const b = randomTensor([8, 6], rnd);
    const mask = maskWithEmptyRow([8, 6], 1, 0, rnd);
    checkOpGradients(addon, { op: 'MatMul', name: 'mm' }, [a, b], { sparseWeightMask: mask });
  });

  it('a sparse weight with every position active and one with none', () => {
    const rnd = seededRandom(18);
    const a = randomTensor([4, 5], rnd);
    const b = randomTensor([3, 5], rnd);
    const node: CheckedNode = { op: 'Gemm', name: 'fc', ints: { transB: 1 } };
    checkOpGradients(addon, node, [a, b], { sparseWeightMask: new Uint8Array(15).fill(1) });
    checkOpGradients(addon, node, [a, b], { sparseWeightMask: new Uint8Array(15), skipInputs: [1] });
  });

  it('names the node and the shapes when the input does not fit the weight', () => {
    const rnd = seededRandom(19);
    assert.throws(
      () =>
        addon.trainOpCheck(
          { op: 'Gemm', name: '/fc1/Gemm', ints: { transB: 1 } },
          [randomTensor([128, 63], rnd), randomTensor([10, 64], rnd)],
          {},
        ),
      /Gemm node "\/fc1\/Gemm": input 0 has shape \[128, 63\], the weight expects 64 inputs/,
    );
    assert.throws(
      () =>
        addon.trainOpCheck({ op: 'Gemm', name: 'g' }, [randomTensor([2, 3], rnd), randomTensor([3, 4], rnd), randomTensor([3], rnd)], {}),
      /Gemm node "g": input 2 \(C\) has shape \[3\], which does not broadcast to the output \[2, 4\]/,
    );
    assert.throws(
      () => addon.trainOpCheck({ op: 'MatMul', name: 'm' }, [randomTensor([2, 3], rnd), randomTensor([2, 3, 4], rnd)], {}),
      /MatMul node "m": the weight \(input 1\) has shape \[2, 3, 4\]; a 2-D weight is supported/,
    );
    assert.throws(
      () =>
        addon.trainOpCheck({ op: 'Relu', name: 'r' }, [randomTensor([2, 3], rnd), randomTensor([2, 3], rnd)], {
          sparseWeightMask: new Uint8Array(6),
        }),
      /Relu node "r" cannot take its weight sparse/,
    );
  });
});
