// Conv (native/src/train/conv.cc) in float64 through trainOpCheck: the forward against a direct
// loop written here (no im2col, no gemm), the backward against central finite differences, and a
// sparse weight against the dense op on the masked weight.
import { strict as assert } from 'node:assert';
import type {
  CheckedTensor,
  NativeTrainingAddon,
  OptimizerSettings,
  TrainingProgram,
} from '../../../../src/kernels/native/bindings/training';
import {
  assertAllClose,
  checkOpGradients,
  loadTrainingAddon,
  randomMask,
  randomTensor,
  type CheckedNode,
} from '../../../helpers/gradientCheck';
import { seededRandom } from '../../../helpers/random';

type AutoPad = 'NOTSET' | 'VALID' | 'SAME_UPPER' | 'SAME_LOWER';

interface ConvCase {
  readonly what: string;
  /** [N, C, H, W] */
  readonly x: readonly [number, number, number, number];
  /** [M, C/group, kH, kW] */
  readonly w: readonly [number, number, number, number];
  readonly bias: boolean;
  readonly strides?: readonly [number, number];
  /** [top, left, bottom, right] */
  readonly pads?: readonly [number, number, number, number];
  readonly dilations?: readonly [number, number];
  readonly group?: number;
  readonly autoPad?: AutoPad;
  /** Also pass kernel_shape (ONNX makes it optional). */
  readonly kernelShape?: boolean;
}

const CASES: readonly ConvCase[] = [
  { what: '3×3, pads 1, bias', x: [2, 3, 6, 5], w: [4, 3, 3, 3], bias: true, pads: [1, 1, 1, 1], kernelShape: true },
  { what: '3×3, stride 2', x: [2, 3, 7, 8], w: [4, 3, 3, 3], bias: true, strides: [2, 2], pads: [1, 1, 1, 1] },
  { what: '3×2, strides 2×3, asymmetric pads', x: [2, 2, 9, 8], w: [3, 2, 3, 2], bias: true, strides: [2, 3], pads: [0, 1, 2, 0] },
  { what: '3×3, dilation 2, asymmetric pads', x: [1, 3, 9, 9], w: [5, 3, 3, 3], bias: false, dilations: [2, 2], pads: [1, 2, 0, 1] },
  {
    what: 'dilations 2×1, stride 2',
    x: [2, 2, 10, 7],
    w: [3, 2, 2, 3],
    bias: true,
    dilations: [2, 1],
    strides: [2, 1],
    pads: [1, 0, 1, 1],
  },
  { what: 'group 2', x: [2, 4, 6, 6], w: [6, 2, 3, 3], bias: true, group: 2, pads: [1, 1, 1, 1] },
  { what: 'group 2, stride 2, no bias', x: [2, 6, 7, 7], w: [4, 3, 3, 3], bias: false, group: 2, strides: [2, 2], pads: [1, 0, 0, 1] },
  { what: 'depthwise (group = C)', x: [2, 4, 6, 7], w: [4, 1, 3, 3], bias: true, group: 4, pads: [1, 1, 1, 1] },
  {
    what: 'depthwise, multiplier 2, stride 2',
    x: [2, 3, 8, 8],
    w: [6, 1, 3, 3],
    bias: true,
    group: 3,
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  },
  { what: '1×1', x: [3, 5, 4, 6], w: [7, 5, 1, 1], bias: true },
  { what: '1×1, group 2', x: [2, 4, 3, 5], w: [6, 2, 1, 1], bias: false, group: 2 },
  { what: '1×1, stride 2 (a downsample)', x: [2, 4, 7, 6], w: [5, 4, 1, 1], bias: false, strides: [2, 2] },
  { what: '1×1, pads 1', x: [1, 3, 3, 4], w: [2, 3, 1, 1], bias: true, pads: [1, 1, 1, 1] },
  { what: '7×7, stride 2, pads 3 (a stem)', x: [1, 3, 12, 11], w: [4, 3, 7, 7], bias: false, strides: [2, 2], pads: [3, 3, 3, 3] },
  { what: '5×5 kernel over a 3×3 input, pads 2', x: [2, 2, 3, 3], w: [3, 2, 5, 5], bias: true, pads: [2, 2, 2, 2] },
  { what: 'auto_pad SAME_UPPER, stride 2', x: [2, 3, 8, 7], w: [4, 3, 3, 3], bias: true, strides: [2, 2], autoPad: 'SAME_UPPER' },
  { what: 'auto_pad SAME_LOWER, 2×2 kernel', x: [2, 3, 5, 6], w: [4, 3, 2, 2], bias: true, autoPad: 'SAME_LOWER' },
  { what: 'auto_pad SAME_UPPER, dilation 2', x: [1, 2, 7, 6], w: [3, 2, 3, 2], bias: false, dilations: [2, 2], autoPad: 'SAME_UPPER' },
  { what: 'auto_pad VALID, stride 2', x: [2, 2, 7, 8], w: [3, 2, 3, 3], bias: true, strides: [2, 2], autoPad: 'VALID' },
  // Taps that read only padding (dropped from the products of a dense weight).
  { what: '3×3, pads 1, over a 1×1 map (8 taps read only padding)', x: [3, 4, 1, 1], w: [5, 4, 3, 3], bias: true, pads: [1, 1, 1, 1] },
  {
    what: '3×3, stride 2, pads 1, 2×2 → 1×1 (5 taps read only padding)',
    x: [2, 3, 2, 2],
    w: [4, 3, 3, 3],
    bias: false,
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  },
  { what: 'group 2 over a 1×1 map, pads 1', x: [2, 4, 1, 1], w: [6, 2, 3, 3], bias: true, group: 2, pads: [1, 1, 1, 1] },
  {
    what: '1×1, stride 2, pads 1 over 1×1: every output reads padding',
    x: [2, 2, 1, 1],
    w: [3, 2, 1, 1],
    bias: true,
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  },
  // Maps wide enough that the images go through the products in several chunks (conv.cc's
  // kChunkPixels = 1024 output pixels per chunk).
  { what: '3×3, pads 1, 20×20 maps (chunks of 3 and 1 images)', x: [4, 2, 20, 20], w: [3, 2, 3, 3], bias: true, pads: [1, 1, 1, 1] },
  {
    what: '3×3, stride 2, 41×41 outputs (one image per chunk)',
    x: [3, 2, 81, 81],
    w: [3, 2, 3, 3],
    bias: true,
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  },
  { what: '1×1 over 40×80 maps (one image per chunk, read in place)', x: [3, 2, 40, 80], w: [3, 2, 1, 1], bias: true },
];

function nodeOf(c: ConvCase): CheckedNode {
  const intLists: Record<string, number[]> = {};
  if (c.strides) intLists.strides = [...c.strides];
  if (c.pads) intLists.pads = [...c.pads];
  if (c.dilations) intLists.dilations = [...c.dilations];
  if (c.kernelShape) intLists.kernel_shape = [c.w[2], c.w[3]];
  return {
    op: 'Conv',
    name: c.what,
    intLists,
    ints: c.group ? { group: c.group } : {},
    strings: c.autoPad ? { auto_pad: c.autoPad } : {},
  };
}

/** Pads [head, tail] along one axis as ONNX defines them for the case. */
function padsOf(c: ConvCase, axis: 0 | 1): [number, number] {
  const input = c.x[2 + axis];
  const stride = c.strides?.[axis] ?? 1;
  const extent = ((c.w[2 + axis] ?? 1) - 1) * (c.dilations?.[axis] ?? 1) + 1;
  const autoPad = c.autoPad ?? 'NOTSET';
  if (autoPad === 'VALID') return [0, 0];
  if (autoPad === 'NOTSET') return [c.pads?.[axis] ?? 0, c.pads?.[axis + 2] ?? 0];
  const out = Math.ceil(input / stride);
  const total = Math.max(0, (out - 1) * stride + extent - input);
  const small = Math.floor(total / 2);
  return autoPad === 'SAME_UPPER' ? [small, total - small] : [total - small, small];
}

/** The convolution by its definition: a sum over the window, reading zeros in the pads. */
function naiveConv(c: ConvCase, x: CheckedTensor, w: CheckedTensor, b: CheckedTensor | undefined): CheckedTensor {
  const [N, C, H, W] = c.x;
  const [M, Cg, kH, kW] = c.w;
  const group = c.group ?? 1;
  const [sH, sW] = c.strides ?? [1, 1];
  const [dH, dW] = c.dilations ?? [1, 1];
  const [padT, padB] = padsOf(c, 0);
  const [padL, padR] = padsOf(c, 1);
  const OH = Math.floor((H + padT + padB - (kH - 1) * dH - 1) / sH) + 1;
  const OW = Math.floor((W + padL + padR - (kW - 1) * dW - 1) / sW) + 1;
  const Mg = M / group;
  assert.equal(C, Cg * group, `${c.what}: channels of the case`);
  const y = new Float64Array(N * M * OH * OW);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let sum = b ? b.data[m] : 0;
          for (let c0 = 0; c0 < Cg; c0++) {
            for (let i = 0; i < kH; i++) {
              for (let j = 0; j < kW; j++) {
                const ih = oh * sH - padT + i * dH;
                const iw = ow * sW - padL + j * dW;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                sum += x.data[((n * C + g * Cg + c0) * H + ih) * W + iw] * w.data[((m * Cg + c0) * kH + i) * kW + j];
              }
            }
          }
          y[((n * M + m) * OH + oh) * OW + ow] = sum;
        }
      }
    }
  }
  return { shape: [N, M, OH, OW], data: y };
}

function inputsOf(c: ConvCase, seed: number): CheckedTensor[] {
  const rnd = seededRandom(seed);
  const inputs = [randomTensor(c.x, rnd), randomTensor(c.w, rnd)];
  if (c.bias) inputs.push(randomTensor([c.w[0]], rnd));
  return inputs;
}

/** A mask over the weight with density ~0.5, output channel `emptyRow` without any active weight. */
function maskWithEmptyRow(shape: readonly number[], emptyRow: number, seed: number): Uint8Array {
  const [M, ...rest] = shape;
  const fanIn = rest.reduce((a, b) => a * b, 1);
  const mask = randomMask(M * fanIn, 0.5, seededRandom(seed));
  mask.fill(0, emptyRow * fanIn, (emptyRow + 1) * fanIn);
  mask[((emptyRow + 1) % M) * fanIn] = 1; // another row keeps at least one
  return mask;
}

describe('train op Conv (float64)', function () {
  this.timeout(120_000);
  let addon: NativeTrainingAddon;
  before(function () {
    addon = loadTrainingAddon(this);
  });

  describe('forward equals the direct sum over each window', () => {
    CASES.forEach((c, k) => {
      it(c.what, () => {
        const inputs = inputsOf(c, 100 + k);
        const [y] = addon.trainOpCheck(nodeOf(c), inputs, {}).outputs;
        const expected = naiveConv(c, inputs[0], inputs[1], inputs[2]);
        assert.deepEqual(y.shape, expected.shape, `${c.what}: output shape`);
        assertAllClose(y.data, expected.data, `${c.what}: Y`, 1e-12);
      });
    });
  });

  describe('backward equals central finite differences (X, W and B)', () => {
    CASES.forEach((c, k) => {
      it(c.what, () => {
        const result = checkOpGradients(addon, nodeOf(c), inputsOf(c, 200 + k), { seed: k + 1 });
        assert.ok(result.checked > 0, `${c.what}: nothing checked`);
      });
    });
  });

  describe('a sparse weight equals the dense op with the masked weight', () => {
    const SPARSE = CASES.filter((c) => (c.group ?? 1) === 1);
    SPARSE.forEach((c, k) => {
      it(`${c.what}: outputs, gradients, dense weight gradient`, () => {
        const inputs = inputsOf(c, 300 + k);
        const mask = maskWithEmptyRow(c.w, k % c.w[0], 400 + k);
        checkOpGradients(addon, nodeOf(c), inputs, { sparseWeightMask: mask, seed: k + 1 });
      });
    });

    it('an output channel without active weights gives its bias alone, and a zero weight gradient row', () => {
      const c = CASES[1];
      const inputs = inputsOf(c, 500);
      const empty = 2;
      const mask = maskWithEmptyRow(c.w, empty, 501);
      const forward = addon.trainOpCheck(nodeOf(c), inputs, { sparseWeightMask: mask });
      const [y] = forward.outputs;
      const [N, M, OH, OW] = y.shape;
      const bias = inputs[2].data[empty];
      for (let n = 0; n < N; n++) {
        for (let p = 0; p < OH * OW; p++) assert.equal(y.data[(n * M + empty) * OH * OW + p], bias, `Y[${n}, ${empty}] pixel ${p}`);
      }
      const outputGrads = [randomTensor(y.shape, seededRandom(502)).data];
      const backward = addon.trainOpCheck(nodeOf(c), inputs, { sparseWeightMask: mask, outputGrads });
      const fanIn = c.w[1] * c.w[2] * c.w[3];
      const dW = backward.inputGrads[1];
      assert.ok(dW, 'a gradient for the sparse weight');
      for (let e = empty * fanIn; e < (empty + 1) * fanIn; e++) assert.equal(dW.data[e], 0, `dW at ${e}`);
      // The dense gradient of that row is not zero: it is what a regrowth step would look at.
      const dense = backward.denseWeightGrad;
      assert.ok(dense, 'a dense weight gradient');
      assert.ok(
        dense.data.slice(empty * fanIn, (empty + 1) * fanIn).some((v) => v !== 0),
        'dense gradient of the empty row',
      );
    });

    it('a fully masked weight gives the bias everywhere', () => {
      const c = CASES[0];
      const inputs = inputsOf(c, 600);
      const mask = new Uint8Array(c.w.reduce((a, b) => a * b, 1));
      const [y] = addon.trainOpCheck(nodeOf(c), inputs, { sparseWeightMask: mask }).outputs;
      const [N, M, OH, OW] = y.shape;
      for (let n = 0; n < N; n++) {
        for (let m = 0; m < M; m++) {
          for (let p = 0; p < OH * OW; p++) assert.equal(y.data[(n * M + m) * OH * OW + p], inputs[2].data[m]);
        }
      }
    });

    it('is refused with group > 1', () => {
      const c = CASES[5];
      const inputs = inputsOf(c, 700);
      const mask = randomMask(
        c.w.reduce((a, b) => a * b, 1),
        0.5,
        seededRandom(701),
      );
      assert.throws(
        () => addon.trainOpCheck(nodeOf(c), inputs, { sparseWeightMask: mask }),
        /Conv node "group 2".*(grouped convolution trains its weight dense|sparse weight needs group 1)/,
      );
    });
  });

  describe('in a float32 training session, several threads', () => {
    // X [8, 3, 10, 10] → Conv 3×3 (dense) → Relu → MaxPool 2×2 → Conv 3×3 (sparse, d ≈ 0.3)
    // → AveragePool 2×2 ceil_mode → GlobalAveragePool → Flatten → logits [8, 16]. Both convs are big
    // enough to split their images over the threads.
    const BATCH = 8;
    const rnd = seededRandom(900);
    const floats = (n: number, scale: number) => Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * scale);
    const w2Mask = randomMask(16 * 8 * 9, 0.3, rnd);
    const program: TrainingProgram = {
      valueCount: 11,
      input: 0,
      output: 10,
      sampleShape: [3, 10, 10],
      nodes: [
        { op: 'Conv', name: 'conv1', inputs: [0, 1, 2], outputs: [3], intLists: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } },
        { op: 'Relu', name: 'relu', inputs: [3], outputs: [4] },
        { op: 'MaxPool', name: 'pool', inputs: [4], outputs: [5], intLists: { kernel_shape: [2, 2], strides: [2, 2] } },
        { op: 'Conv', name: 'conv2', inputs: [5, 6, -1], outputs: [7], intLists: { pads: [1, 1, 1, 1] } },
        {
          op: 'AveragePool',
          name: 'avg',
          inputs: [7],
          outputs: [8],
          intLists: { kernel_shape: [2, 2], strides: [2, 2] },
          ints: { ceil_mode: 1 },
        },
        { op: 'GlobalAveragePool', name: 'gap', inputs: [8], outputs: [9] },
        { op: 'Flatten', name: 'flatten', inputs: [9], outputs: [10] },
      ],
      params: [
        { value: 1, name: 'w1', shape: [8, 3, 3, 3], data: floats(8 * 27, 0.4), trainable: true },
        { value: 2, name: 'b1', shape: [8], data: floats(8, 0.1), trainable: true },
        { value: 6, name: 'w2', shape: [16, 8, 3, 3], data: floats(16 * 72, 0.3), trainable: true, mask: w2Mask },
      ],
    };
    const optimizer: OptimizerSettings = {
      kind: 'sgd',
      momentum: 0.9,
      nesterov: false,
      weightDecay: 0,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-8,
    };
    const x = floats(BATCH * 300, 1);
    const labels = Int32Array.from({ length: BATCH }, (_, i) => i % 16);

    const train = (threads: number) => {
      const session = new addon.TrainingSession(program, optimizer, threads);
      try {
        const losses = [0, 1, 2].map(() => session.step(x, BATCH, { labels }, 0.1, true));
        return { losses, params: session.parameters(), dense: session.denseGradients(), how: session.describe() };
      } finally {
        session.close();
      }
    };

    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

    it('two runs on 2 threads are identical bit for bit, and agree with 1 thread', () => {
      const a = train(2);
      const b = train(2);
      const one = train(1);
      assert.match(a.how.w2, /^sparse/, 'w2 trains in the sparse layout');
      assert.deepEqual(a.losses, b.losses, 'losses');
      for (const name of ['w1', 'b1', 'w2']) {
        assert.deepEqual(bytes(a.params[name]), bytes(b.params[name]), `${name} bit for bit`);
        assertAllClose(a.params[name], one.params[name], `${name}: 2 threads vs 1`, 1e-5);
      }
      assert.deepEqual(bytes(a.dense.w2), bytes(b.dense.w2), 'dense gradient of w2 bit for bit');
      assertAllClose(a.losses, one.losses, 'losses: 2 threads vs 1', 1e-5);
      a.params.w2.forEach((v, i) => assert.ok(w2Mask[i] || v === 0, `w2[${i}] inactive stays 0`));
      assert.ok(a.losses[2] < a.losses[0], `the loss falls: ${a.losses.join(', ')}`);
    });
  });

  describe('errors name the problem', () => {
    const rnd = seededRandom(800);
    const run = (node: Partial<CheckedNode>, x: number[], w: number[], b?: number[]) => () =>
      addon.trainOpCheck(
        { op: 'Conv', name: 'bad', ...node },
        [randomTensor(x, rnd), randomTensor(w, rnd), ...(b ? [randomTensor(b, rnd)] : [])],
        {},
      );

    it('channels of the input and of the weight', () => {
      assert.throws(run({}, [1, 3, 5, 5], [2, 4, 3, 3]), /Conv node "bad": input has 3 channels, the weight expects 4/);
      assert.throws(
        run({ ints: { group: 2 } }, [1, 6, 5, 5], [2, 2, 3, 3]),
        /input has 6 channels in 2 groups \(3 each\), the weight expects 2 per group/,
      );
      assert.throws(run({ ints: { group: 4 } }, [1, 6, 5, 5], [4, 1, 3, 3]), /6 channels, which do not split into 4 groups/);
      assert.throws(run({ ints: { group: 2 } }, [1, 4, 5, 5], [3, 2, 3, 3]), /3 output channels, which do not split into 2 groups/);
    });

    it('shapes and attributes', () => {
      assert.throws(run({}, [1, 3, 5], [2, 3, 3]), /only 2-D convolution is supported: the input \[1, 3, 5\] has rank 3/);
      assert.throws(run({}, [1, 3, 2, 5], [2, 3, 3, 3]), /the 2×5 input, padded to 2×5, is smaller than the kernel/);
      assert.throws(run({}, [1, 3, 5, 5], [2, 3, 3, 3], [3]), /the bias \[3\] does not match the 2 output channels/);
      assert.throws(
        run({ intLists: { kernel_shape: [2, 2] } }, [1, 3, 5, 5], [2, 3, 3, 3]),
        /kernel_shape is 2×2, the weight's kernel is 3×3/,
      );
      assert.throws(run({ intLists: { pads: [1, 1] } }, [1, 3, 5, 5], [2, 3, 3, 3]), /pads has 2 values; 2-D needs 4/);
      assert.throws(run({ intLists: { strides: [0, 1] } }, [1, 3, 5, 5], [2, 3, 3, 3]), /strides must be at least 1/);
      assert.throws(run({ strings: { auto_pad: 'SAME' } }, [1, 3, 5, 5], [2, 3, 3, 3]), /auto_pad "SAME" is not one of/);
    });
  });
});
