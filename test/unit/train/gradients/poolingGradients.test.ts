// MaxPool, AveragePool and GlobalAveragePool (native/src/train/pooling.cc) in float64 through
// trainOpCheck: the forward against direct loops written here, the backward against central
// finite differences, ties and the divisors at the edges by hand.
import { strict as assert } from 'node:assert';
import type { CheckedTensor, NativeTrainingAddon } from '../../../../src/kernels/native/bindings/training';
import {
  assertAllClose,
  checkOpGradients,
  loadTrainingAddon,
  randomTensor,
  tensorOf,
  type CheckedNode,
} from '../../../helpers/gradientCheck';
import { seededRandom } from '../../../helpers/random';

interface PoolCase {
  readonly what: string;
  /** [N, C, H, W] */
  readonly x: readonly [number, number, number, number];
  readonly kernel: readonly [number, number];
  readonly strides?: readonly [number, number];
  /** [top, left, bottom, right] */
  readonly pads?: readonly [number, number, number, number];
  readonly dilations?: readonly [number, number];
  readonly ceilMode?: boolean;
  readonly countIncludePad?: boolean;
  readonly autoPad?: 'SAME_UPPER' | 'SAME_LOWER' | 'VALID';
}

const WINDOWS: readonly PoolCase[] = [
  { what: '2×2, stride 2', x: [2, 3, 6, 8], kernel: [2, 2], strides: [2, 2] },
  { what: '3×3, stride 2, pads 1', x: [2, 2, 9, 8], kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
  { what: '3×3, stride 1 (overlapping), pads 1', x: [1, 3, 5, 6], kernel: [3, 3], pads: [1, 1, 1, 1] },
  { what: '3×2, strides 2×1, asymmetric pads', x: [2, 2, 8, 7], kernel: [3, 2], strides: [2, 1], pads: [1, 0, 0, 1] },
  { what: '2×2, stride 2, ceil_mode (odd input)', x: [2, 2, 5, 7], kernel: [2, 2], strides: [2, 2], ceilMode: true },
  { what: '3×3, stride 2, pads 1, ceil_mode', x: [1, 3, 8, 10], kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceilMode: true },
  {
    what: '3×3, stride 3, asymmetric pads, ceil_mode',
    x: [2, 2, 8, 7],
    kernel: [3, 3],
    strides: [3, 3],
    pads: [0, 1, 1, 0],
    ceilMode: true,
  },
  { what: '2×2, dilation 2', x: [2, 2, 7, 7], kernel: [2, 2], dilations: [2, 2] },
  { what: '3×2, dilations 2×1, stride 2, pads 1', x: [1, 2, 9, 8], kernel: [3, 2], dilations: [2, 1], strides: [2, 2], pads: [1, 1, 1, 1] },
  { what: 'auto_pad SAME_UPPER, 3×3, stride 2', x: [2, 2, 8, 7], kernel: [3, 3], strides: [2, 2], autoPad: 'SAME_UPPER' },
  { what: 'auto_pad SAME_LOWER, 2×2, stride 1', x: [1, 2, 5, 6], kernel: [2, 2], autoPad: 'SAME_LOWER' },
  { what: 'auto_pad VALID, 3×3, stride 2', x: [2, 2, 7, 8], kernel: [3, 3], strides: [2, 2], autoPad: 'VALID' },
];

/** The average pool's own cases: the divisor differs only where windows reach into the pads. */
const AVERAGE_EXTRA: readonly PoolCase[] = [
  {
    what: '3×3, stride 2, pads 1, ceil_mode, count_include_pad',
    x: [2, 2, 8, 9],
    kernel: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    ceilMode: true,
    countIncludePad: true,
  },
  {
    what: '2×3, stride 2, pads [1, 0, 0, 2], count_include_pad',
    x: [1, 3, 7, 6],
    kernel: [2, 3],
    strides: [2, 2],
    pads: [1, 0, 0, 2],
    countIncludePad: true,
  },
  {
    what: '3×3, stride 2, pads 1, count_include_pad',
    x: [2, 2, 7, 7],
    kernel: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
    countIncludePad: true,
  },
  {
    what: 'auto_pad SAME_UPPER, count_include_pad',
    x: [1, 2, 6, 5],
    kernel: [3, 3],
    strides: [2, 2],
    autoPad: 'SAME_UPPER',
    countIncludePad: true,
  },
];

function nodeOf(op: string, c: PoolCase): CheckedNode {
  const intLists: Record<string, number[]> = { kernel_shape: [...c.kernel] };
  if (c.strides) intLists.strides = [...c.strides];
  if (c.pads) intLists.pads = [...c.pads];
  if (c.dilations) intLists.dilations = [...c.dilations];
  const ints: Record<string, number> = {};
  if (c.ceilMode) ints.ceil_mode = 1;
  if (op === 'AveragePool') ints.count_include_pad = c.countIncludePad ? 1 : 0;
  return { op, name: c.what, intLists, ints, strings: c.autoPad ? { auto_pad: c.autoPad } : {} };
}

interface Axis {
  readonly out: number;
  readonly stride: number;
  readonly dilation: number;
  readonly k: number;
  readonly padHead: number;
  readonly padTail: number;
  readonly size: number;
}

/** One spatial axis of a case: its pads (explicit or from auto_pad) and its output size. */
function axisOf(c: PoolCase, a: 0 | 1): Axis {
  const size = c.x[2 + a];
  const k = c.kernel[a];
  const stride = c.strides?.[a] ?? 1;
  const dilation = c.dilations?.[a] ?? 1;
  const extent = (k - 1) * dilation + 1;
  if (c.autoPad === 'SAME_UPPER' || c.autoPad === 'SAME_LOWER') {
    const out = Math.ceil(size / stride);
    const total = Math.max(0, (out - 1) * stride + extent - size);
    const small = Math.floor(total / 2);
    const [padHead, padTail] = c.autoPad === 'SAME_UPPER' ? [small, total - small] : [total - small, small];
    return { out, stride, dilation, k, padHead, padTail, size };
  }
  const padHead = c.autoPad === 'VALID' ? 0 : (c.pads?.[a] ?? 0);
  const padTail = c.autoPad === 'VALID' ? 0 : (c.pads?.[a + 2] ?? 0);
  const span = size + padHead + padTail - extent;
  let out = (c.ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // As PyTorch and onnxruntime: with ceil_mode the last window must start inside the input or its head pad.
  if (c.ceilMode && (out - 1) * stride >= size + padHead) out--;
  return { out, stride, dilation, k, padHead, padTail, size };
}

/**
 * The pool by its definition: per window, the max (first one on ties) or the mean of the elements
 * inside the input, or with count_include_pad their sum over the window's taps inside the padded input.
 */
function naivePool(kind: 'max' | 'average', c: PoolCase, x: CheckedTensor): CheckedTensor {
  const [N, C, H, W] = c.x;
  const rows = axisOf(c, 0);
  const cols = axisOf(c, 1);
  const y = new Float64Array(N * C * rows.out * cols.out);
  for (let p = 0; p < N * C; p++) {
    for (let oh = 0; oh < rows.out; oh++) {
      for (let ow = 0; ow < cols.out; ow++) {
        let max = -Infinity;
        let sum = 0;
        let inside = 0;
        let padded = 0;
        for (let i = 0; i < rows.k; i++) {
          for (let j = 0; j < cols.k; j++) {
            const ih = oh * rows.stride - rows.padHead + i * rows.dilation;
            const iw = ow * cols.stride - cols.padHead + j * cols.dilation;
            if (ih < H + rows.padTail && iw < W + cols.padTail) padded++;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const v = x.data[(p * H + ih) * W + iw];
            if (v > max) max = v;
            sum += v;
            inside++;
          }
        }
        y[(p * rows.out + oh) * cols.out + ow] = kind === 'max' ? max : sum / (c.countIncludePad ? padded : inside);
      }
    }
  }
  return { shape: [N, C, rows.out, cols.out], data: y };
}

describe('train ops MaxPool, AveragePool, GlobalAveragePool (float64)', function () {
  this.timeout(120_000);
  let addon: NativeTrainingAddon;
  before(function () {
    addon = loadTrainingAddon(this);
  });

  const forwardMatches = (op: 'MaxPool' | 'AveragePool', c: PoolCase, seed: number) => {
    const x = randomTensor(c.x, seededRandom(seed));
    const [y] = addon.trainOpCheck(nodeOf(op, c), [x], {}).outputs;
    const expected = naivePool(op === 'MaxPool' ? 'max' : 'average', c, x);
    assert.deepEqual(y.shape, expected.shape, `${op} ${c.what}: output shape`);
    assertAllClose(y.data, expected.data, `${op} ${c.what}: Y`, 1e-12);
  };

  describe('MaxPool', () => {
    WINDOWS.forEach((c, k) => {
      it(`forward: ${c.what}`, () => forwardMatches('MaxPool', c, 100 + k));
    });
    WINDOWS.forEach((c, k) => {
      it(`backward: ${c.what}`, () => {
        checkOpGradients(addon, nodeOf('MaxPool', c), [randomTensor(c.x, seededRandom(200 + k))], { seed: k + 1 });
      });
    });

    it('ceil_mode by hand: 2×2, stride 2 over 5×5 gives 3×3, the last windows cut by the edge', () => {
      const x = tensorOf(
        [1, 1, 5, 5],
        Array.from({ length: 25 }, (_, i) => i),
      );
      const node = nodeOf('MaxPool', { what: 'ceil', x: [1, 1, 5, 5], kernel: [2, 2], strides: [2, 2], ceilMode: true });
      const [y] = addon.trainOpCheck(node, [x], {}).outputs;
      assert.deepEqual(y.shape, [1, 1, 3, 3]);
      assert.deepEqual(Array.from(y.data), [6, 8, 9, 16, 18, 19, 21, 23, 24]);
      const floor = addon.trainOpCheck({ ...node, ints: {} }, [x], {}).outputs[0];
      assert.deepEqual(floor.shape, [1, 1, 2, 2]);
    });

    it('ties: the gradient goes to the first maximum of each window, overlapping windows add up', () => {
      // Equal values everywhere: the first element (row-major) of each window is its argmax.
      const x = tensorOf([1, 1, 4, 4], new Array<number>(16).fill(1));
      const node: CheckedNode = { op: 'MaxPool', name: 'ties', intLists: { kernel_shape: [2, 2], strides: [1, 1] } };
      const outputGrads = [Float64Array.from({ length: 9 }, (_, i) => i + 1)];
      const { inputGrads } = addon.trainOpCheck(node, [x], { outputGrads });
      const expected = new Float64Array(16);
      for (let oh = 0; oh < 3; oh++) for (let ow = 0; ow < 3; ow++) expected[oh * 4 + ow] += outputGrads[0][oh * 3 + ow];
      assert.deepEqual(Array.from(inputGrads[0]!.data), Array.from(expected));
      // A repeated maximum later in the window does not take the gradient either.
      const y = tensorOf([1, 1, 2, 2], [0, 5, 5, 5]);
      const one = addon.trainOpCheck({ ...node, name: 'tie', intLists: { kernel_shape: [2, 2] } }, [y], {
        outputGrads: [Float64Array.of(3)],
      });
      assert.deepEqual(Array.from(one.inputGrads[0]!.data), [0, 3, 0, 0]);
    });

    it('the second output (Indices) is refused', () => {
      const c = WINDOWS[0];
      const x = randomTensor(c.x, seededRandom(300));
      assert.throws(
        () => addon.trainOpCheck(nodeOf('MaxPool', c), [x], { outputCount: 2 }),
        /MaxPool node ".*": the second output \(Indices\) is not supported/,
      );
    });

    it('errors name the problem', () => {
      const x = randomTensor([1, 2, 5, 5], seededRandom(301));
      const run =
        (node: Partial<CheckedNode>, input: CheckedTensor = x) =>
        () =>
          addon.trainOpCheck({ op: 'MaxPool', name: 'bad', ...node }, [input], {});
      assert.throws(run({}), /MaxPool node "bad": needs kernel_shape/);
      assert.throws(run({ intLists: { kernel_shape: [3] } }), /kernel_shape has 1 values; 2-D needs 2/);
      assert.throws(
        run({ intLists: { kernel_shape: [2, 2] } }, randomTensor([1, 2, 5], seededRandom(302))),
        /only 2-D pooling is supported/,
      );
      assert.throws(run({ intLists: { kernel_shape: [6, 2] } }), /the 5×5 input, padded to 5×5, is smaller than the kernel/);
      assert.throws(run({ intLists: { kernel_shape: [2, 2], pads: [2, 0, 0, 0] } }), /a pooling window covers only padding/);
      assert.throws(run({ intLists: { kernel_shape: [2, 2] }, ints: { ceil_mode: 2 } }), /ceil_mode must be 0 or 1/);
    });
  });

  describe('AveragePool', () => {
    const cases: { c: PoolCase; k: number }[] = [];
    [...WINDOWS, ...AVERAGE_EXTRA].forEach((c, k) => {
      cases.push({ c, k });
      if (!c.countIncludePad && (c.pads?.some((p) => p > 0) || c.autoPad?.startsWith('SAME') || c.ceilMode)) {
        cases.push({ c: { ...c, what: `${c.what}, count_include_pad`, countIncludePad: true }, k: 50 + k });
      }
    });
    cases.forEach(({ c, k }) => {
      it(`forward: ${c.what}`, () => forwardMatches('AveragePool', c, 400 + k));
    });
    cases.forEach(({ c, k }) => {
      it(`backward: ${c.what}`, () => {
        checkOpGradients(addon, nodeOf('AveragePool', c), [randomTensor(c.x, seededRandom(500 + k))], { seed: k + 1 });
      });
    });

    it('divisors by hand: the corner window of a 3×3 pool with pads 1, and a ceil_mode window past the pads', () => {
      const x = tensorOf([1, 1, 4, 4], new Array<number>(16).fill(1));
      const base: PoolCase = { what: 'hand', x: [1, 1, 4, 4], kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] };
      // Floor: 2×2 windows; every one covers 4 or 6 or 9 input elements, all ones.
      const excluded = addon.trainOpCheck(nodeOf('AveragePool', base), [x], {}).outputs[0];
      assert.deepEqual(Array.from(excluded.data), [1, 1, 1, 1]);
      const included = addon.trainOpCheck(nodeOf('AveragePool', { ...base, countIncludePad: true }), [x], {}).outputs[0];
      assert.deepEqual(Array.from(included.data), [4 / 9, 6 / 9, 6 / 9, 9 / 9]);
      // ceil_mode over 5×5, kernel 2, stride 2, no pads: the last window reads 1 row (or column);
      // count_include_pad does not count the overhang past the input (there is no pad to count).
      const five = tensorOf([1, 1, 5, 5], new Array<number>(25).fill(2));
      const ceil: PoolCase = { what: 'ceil', x: [1, 1, 5, 5], kernel: [2, 2], strides: [2, 2], ceilMode: true, countIncludePad: true };
      const y = addon.trainOpCheck(nodeOf('AveragePool', ceil), [five], { outputGrads: [new Float64Array(9).fill(1)] });
      assert.deepEqual(Array.from(y.outputs[0].data), new Array<number>(9).fill(2));
      // The gradient of the corner output spreads over its single input element, divisor 1.
      assert.equal(y.inputGrads[0]!.data[24], 1);
      assert.equal(y.inputGrads[0]!.data[0], 1 / 4);
    });

    it('errors name the problem', () => {
      const x = randomTensor([1, 2, 5, 5], seededRandom(600));
      assert.throws(
        () =>
          addon.trainOpCheck(
            { op: 'AveragePool', name: 'bad', intLists: { kernel_shape: [2, 2] }, ints: { count_include_pad: 3 } },
            [x],
            {},
          ),
        /AveragePool node "bad": count_include_pad must be 0 or 1/,
      );
    });
  });

  describe('GlobalAveragePool', () => {
    const SHAPES = [
      [2, 3, 4, 5],
      [1, 4, 7, 1],
      [3, 2, 6],
      [2, 2, 1, 1],
    ];
    SHAPES.forEach((shape, k) => {
      it(`forward and backward: [${shape.join(', ')}]`, () => {
        const x = randomTensor(shape, seededRandom(700 + k));
        const node: CheckedNode = { op: 'GlobalAveragePool', name: 'gap' };
        const [y] = addon.trainOpCheck(node, [x], {}).outputs;
        const [N, C, ...spatial] = shape;
        const area = spatial.reduce((a, b) => a * b, 1);
        assert.deepEqual(y.shape, [N, C, ...spatial.map(() => 1)]);
        const expected = Array.from({ length: N * C }, (_, p) => x.data.slice(p * area, (p + 1) * area).reduce((a, b) => a + b, 0) / area);
        assertAllClose(y.data, expected, 'Y', 1e-12);
        checkOpGradients(addon, node, [x], { seed: k + 1 });
      });
    });

    it('refuses an input without spatial axes', () => {
      assert.throws(
        () => addon.trainOpCheck({ op: 'GlobalAveragePool', name: 'bad' }, [randomTensor([2, 3], seededRandom(800))], {}),
        /GlobalAveragePool node "bad": the input \[2, 3\] has rank 2, expected at least 3/,
      );
    });
  });
});
