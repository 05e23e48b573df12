import { strict as assert } from 'node:assert';
import type { CheckedTensor, NativeTrainingAddon } from '../../../src/kernels/native/bindings/training';
import { assertAllClose, checkOpGradients, loadTrainingAddon, randomTensor, tensorOf, type CheckedNode } from '../../helpers/gradientCheck';
import { seededRandom } from '../../helpers/random';

/** numpy broadcasting, the plain way: f at every output position. */
function naiveBroadcast(a: CheckedTensor, b: CheckedTensor, f: (x: number, y: number) => number): CheckedTensor {
  const rank = Math.max(a.shape.length, b.shape.length);
  const pad = (s: readonly number[]) => [...Array<number>(rank - s.length).fill(1), ...s];
  const sa = pad(a.shape);
  const sb = pad(b.shape);
  const shape = sa.map((d, i) => Math.max(d, sb[i]));
  const total = shape.reduce((x, y) => x * y, 1);
  const data = new Float64Array(total);
  const offset = (s: number[], index: number[]) => index.reduce((o, v, i) => o * s[i] + (s[i] === 1 ? 0 : v), 0);
  for (let flat = 0; flat < total; flat++) {
    const index: number[] = [];
    let rest = flat;
    for (let i = rank - 1; i >= 0; i--) {
      index[i] = rest % shape[i];
      rest = Math.floor(rest / shape[i]);
    }
    data[flat] = f(a.data[offset(sa, index)], b.data[offset(sb, index)]);
  }
  return { shape, data };
}

const BINARY: Record<string, (x: number, y: number) => number> = {
  Add: (x, y) => x + y,
  Sub: (x, y) => x - y,
  Mul: (x, y) => x * y,
  Div: (x, y) => x / y,
};

const BROADCASTS: [number[], number[]][] = [
  [
    [3, 4],
    [3, 4],
  ],
  [[3, 4], [4]],
  [
    [2, 3, 4],
    [3, 1],
  ],
  [
    [1, 4],
    [3, 1],
  ],
  [[5], [2, 3, 5]],
  [
    [2, 1, 4],
    [1, 3, 1],
  ],
  [[3, 4], []],
];

/** erf by its series (plenty accurate for |x| < 3). */
function naiveErf(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 60; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const UNARY: { node: CheckedNode; f: (x: number) => number }[] = [
  { node: { op: 'Relu', name: 'relu' }, f: (x) => Math.max(0, x) },
  { node: { op: 'LeakyRelu', name: 'leaky' }, f: (x) => (x > 0 ? x : 0.01 * x) },
  { node: { op: 'LeakyRelu', name: 'leaky 0.2', floats: { alpha: 0.2 } }, f: (x) => (x > 0 ? x : 0.2 * x) },
  { node: { op: 'Sigmoid', name: 'sigmoid' }, f: (x) => 1 / (1 + Math.exp(-x)) },
  { node: { op: 'Tanh', name: 'tanh' }, f: Math.tanh },
  { node: { op: 'Erf', name: 'erf' }, f: naiveErf },
  { node: { op: 'Gelu', name: 'gelu' }, f: (x) => 0.5 * x * (1 + naiveErf(x / Math.SQRT2)) },
  { node: { op: 'Gelu', name: 'gelu none', strings: { approximate: 'none' } }, f: (x) => 0.5 * x * (1 + naiveErf(x / Math.SQRT2)) },
  {
    node: { op: 'Gelu', name: 'gelu tanh', strings: { approximate: 'tanh' } },
    f: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  },
  { node: { op: 'Identity', name: 'id' }, f: (x) => x },
  { node: { op: 'Dropout', name: 'drop' }, f: (x) => x },
];

describe('training engine: elementwise ops and activations', function () {
  let addon: NativeTrainingAddon;
  before(function () {
    addon = loadTrainingAddon(this);
  });

  for (const op of Object.keys(BINARY)) {
    for (const [sa, sb] of BROADCASTS) {
      it(`${op} [${sa}] with [${sb}]: values and gradients summed over broadcast axes`, () => {
        const rnd = seededRandom(sa.length * 10 + sb.length);
        const a = randomTensor(sa, rnd);
        // Divisors kept away from 0, so that the finite differences stay accurate.
        const b = op === 'Div' ? randomTensor(sb, rnd, 0.5, 2) : randomTensor(sb, rnd);
        const node: CheckedNode = { op, name: op.toLowerCase() };
        const out = addon.trainOpCheck(node, [a, b], {}).outputs[0];
        const expected = naiveBroadcast(a, b, BINARY[op]);
        assert.deepEqual(out.shape, expected.shape);
        assertAllClose(out.data, expected.data, `${op} output`);
        checkOpGradients(addon, node, [a, b]);
      });
    }
  }

  it('names the node when shapes do not broadcast', () => {
    const rnd = seededRandom(3);
    assert.throws(
      () => addon.trainOpCheck({ op: 'Add', name: 'bias' }, [randomTensor([2, 3], rnd), randomTensor([4], rnd)], {}),
      /Add node "bias": input shapes \[2, 3\] and \[4\] do not broadcast/,
    );
  });

  for (const { node, f } of UNARY) {
    it(`${node.name}: values and gradient`, () => {
      const rnd = seededRandom(5);
      const x = randomTensor([3, 7], rnd, -3, 3);
      const out = addon.trainOpCheck(node, [x], {}).outputs[0];
      assert.deepEqual(out.shape, [3, 7]);
      assertAllClose(out.data, Float64Array.from(x.data, f), `${node.name} output`, 1e-12);
      checkOpGradients(addon, node, [x]);
    });
  }

  it('Sigmoid does not overflow for large inputs', () => {
    const out = addon.trainOpCheck({ op: 'Sigmoid', name: 's' }, [tensorOf([3], [-800, 0, 800])], {}).outputs[0];
    assert.deepEqual(Array.from(out.data), [0, 0.5, 1]);
  });

  it('Dropout at inference passes its input through, with a mask of ones and no gradient for its ratio', () => {
    const rnd = seededRandom(6);
    const x = randomTensor([2, 5], rnd);
    const ratio = tensorOf([], [0.3]);
    const node: CheckedNode = { op: 'Dropout', name: 'drop' };
    const result = addon.trainOpCheck(node, [x, ratio], { outputCount: 2 });
    assert.deepEqual(Array.from(result.outputs[0].data), Array.from(x.data));
    assert.deepEqual(result.outputs[1].shape, [2, 5]);
    assert.ok(result.outputs[1].data.every((v) => v === 1));
    checkOpGradients(addon, node, [x, ratio], { outputCount: 2 });
  });
});
