import { strict as assert } from 'node:assert';
import type { NativeTrainingAddon } from '../../../src/kernels/native/bindings/training';
import { assertAllClose, checkOpGradients, loadTrainingAddon, randomTensor, type CheckedNode } from '../../helpers/gradientCheck';
import { seededRandom } from '../../helpers/random';

describe('training engine: Flatten, Reshape, Concat, BatchNormalization', function () {
  let addon: NativeTrainingAddon;
  before(function () {
    addon = loadTrainingAddon(this);
  });

  const flattens: [number | undefined, number[]][] = [
    [undefined, [2, 12]],
    [0, [1, 24]],
    [2, [6, 4]],
    [3, [24, 1]],
    [-1, [6, 4]],
  ];
  for (const [axis, expected] of flattens) {
    it(`Flatten [2, 3, 4] at axis ${axis ?? '(default 1)'} gives [${expected}]`, () => {
      const x = randomTensor([2, 3, 4], seededRandom(1));
      const node: CheckedNode = { op: 'Flatten', name: 'flat', ints: axis === undefined ? {} : { axis } };
      const out = addon.trainOpCheck(node, [x], {}).outputs[0];
      assert.deepEqual(out.shape, expected);
      assert.deepEqual(Array.from(out.data), Array.from(x.data));
      checkOpGradients(addon, node, [x]);
    });
  }

  const reshapes: [number[], number[], number?][] = [
    [
      [0, -1],
      [2, 12],
    ],
    [
      [-1, 4],
      [6, 4],
    ],
    [
      [4, 0, 2],
      [4, 3, 2],
    ],
    [[24], [24]],
    [[2, 0, 0, 0], [2, 0, 0, 0], 1],
  ];
  for (const [shape, expected, allowzero] of reshapes) {
    it(`Reshape ${allowzero ? '[0, 6]' : '[2, 3, 4]'} to [${shape}]${allowzero ? ' (allowzero)' : ''}`, () => {
      const input = allowzero ? { shape: [0, 6], data: new Float64Array(0) } : randomTensor([2, 3, 4], seededRandom(2));
      const node: CheckedNode = { op: 'Reshape', name: 'reshape', intLists: { shape }, ints: allowzero ? { allowzero } : {} };
      const out = addon.trainOpCheck(node, [input], {}).outputs[0];
      assert.deepEqual(out.shape, expected);
      assert.deepEqual(Array.from(out.data), Array.from(input.data));
      if (!allowzero) checkOpGradients(addon, node, [input]);
    });
  }

  it('Reshape says what does not fit', () => {
    const x = randomTensor([2, 3], seededRandom(3));
    assert.throws(
      () => addon.trainOpCheck({ op: 'Reshape', name: 'r', intLists: { shape: [4, -1] } }, [x], {}),
      /Reshape node "r": cannot reshape an input of shape \[2, 3\] to \[4, -1\]/,
    );
    assert.throws(() => addon.trainOpCheck({ op: 'Reshape', name: 'r' }, [x], {}), /Reshape node "r": has no target shape/);
    assert.throws(
      () => addon.trainOpCheck({ op: 'Reshape', name: 'r', intLists: { shape: [-1, -1] } }, [x], {}),
      /Reshape node "r": target shape \[-1, -1\] has more than one -1/,
    );
  });

  for (const axis of [0, 1, -1]) {
    it(`Concat along axis ${axis}: values and gradients of every piece`, () => {
      const rnd = seededRandom(4);
      const shapes = [0, 1, 2].map((k) => [2, 3, 2].map((d, i) => (i === (axis + 3) % 3 ? d + k : d)));
      const inputs = shapes.map((s) => randomTensor(s, rnd));
      const node: CheckedNode = { op: 'Concat', name: 'cat', ints: { axis } };
      const out = addon.trainOpCheck(node, inputs, {}).outputs[0];
      const a = (axis + 3) % 3;
      assert.deepEqual(
        out.shape,
        shapes[0].map((d, i) => (i === a ? shapes.reduce((n, s) => n + s[a], 0) : d)),
      );
      // Naive: walk the output, find which piece each position falls in.
      const [d0, d1, d2] = out.shape;
      let flat = 0;
      for (let i = 0; i < d0; i++) {
        for (let j = 0; j < d1; j++) {
          for (let k = 0; k < d2; k++) {
            const index = [i, j, k];
            let piece = 0;
            while (index[a] >= shapes[piece][a]) index[a] -= shapes[piece++][a];
            const s = shapes[piece];
            assert.equal(out.data[flat++], inputs[piece].data[(index[0] * s[1] + index[1]) * s[2] + index[2]]);
          }
        }
      }
      checkOpGradients(addon, node, inputs);
    });
  }

  it('Concat names the input that does not fit', () => {
    const rnd = seededRandom(5);
    assert.throws(
      () => addon.trainOpCheck({ op: 'Concat', name: 'c', ints: { axis: 1 } }, [randomTensor([2, 3], rnd), randomTensor([3, 3], rnd)], {}),
      /Concat node "c": input 1 has shape \[3, 3\], which does not fit input 0's \[2, 3\] along axis 1/,
    );
  });

  for (const shape of [
    [4, 3],
    [2, 3, 5],
    [2, 3, 2, 2],
  ]) {
    for (const epsilon of [undefined, 0.1]) {
      it(`BatchNormalization with frozen statistics on [${shape}], epsilon ${epsilon ?? '(default 1e-5)'}`, () => {
        const rnd = seededRandom(6);
        const x = randomTensor(shape, rnd);
        const scale = randomTensor([3], rnd);
        const bias = randomTensor([3], rnd);
        const mean = randomTensor([3], rnd);
        const variance = randomTensor([3], rnd, 0.5, 2);
        const node: CheckedNode = { op: 'BatchNormalization', name: 'bn', floats: epsilon === undefined ? {} : { epsilon } };
        const out = addon.trainOpCheck(node, [x, scale, bias, mean, variance], {}).outputs[0];
        const eps = epsilon ?? 1e-5;
        const inner = shape.slice(2).reduce((a, b) => a * b, 1);
        const expected = Float64Array.from(x.data, (v, i) => {
          const c = Math.floor(i / inner) % 3;
          return (scale.data[c] * (v - mean.data[c])) / Math.sqrt(variance.data[c] + eps) + bias.data[c];
        });
        assertAllClose(out.data, expected, 'BatchNormalization output', 1e-12);
        checkOpGradients(addon, node, [x, scale, bias, mean, variance]);
      });
    }
  }
});
