import { strict as assert } from 'node:assert';
import type { NativeTrainingAddon, OptimizerSettings, TrainingProgram } from '../../../src/kernels/native/bindings/training';
import { loadTrainingAddon } from '../../helpers/gradientCheck';
import { seededRandom } from '../../helpers/random';
import { assertClose, batchOf, linearGradient, maskWith, mlpProgram, param, randomArray } from '../../helpers/trainingPrograms';

const SGD: OptimizerSettings = { kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

/** logits = x · Wᵀ + b: x is value 0, W value 1, b value 2, logits value 3. */
function linearProgram(
  w: Float32Array,
  b: Float32Array,
  classes: number,
  inputs: number,
  mask?: Uint8Array,
  sparseDensity?: number,
): TrainingProgram {
  return {
    valueCount: 4,
    input: 0,
    output: 3,
    sampleShape: [inputs],
    nodes: [{ op: 'Gemm', name: 'fc', inputs: [0, 1, 2], outputs: [3], ints: { transB: 1 } }],
    params: [param(1, 'fc.weight', [classes, inputs], w, mask), param(2, 'fc.bias', [classes], b)],
    ...(sparseDensity === undefined ? {} : { sparseDensity }),
  };
}

describe('training engine: the session', function () {
  let addon: NativeTrainingAddon;
  before(function () {
    addon = loadTrainingAddon(this);
  });

  const [classes, features, batch] = [3, 4, 5];

  const sgdCases = [
    { momentum: 0.9, nesterov: false, weightDecay: 0 },
    { momentum: 0.9, nesterov: true, weightDecay: 0.01 },
    { momentum: 0, nesterov: false, weightDecay: 0.05 },
  ];
  for (const settings of sgdCases) {
    it(`two SGD steps (momentum ${settings.momentum}, nesterov ${settings.nesterov}, weight decay ${settings.weightDecay}) equal the hand-computed updates`, () => {
      const rnd = seededRandom(1);
      const w0 = randomArray(classes * features, rnd);
      const b0 = randomArray(classes, rnd);
      const optimizer = { ...SGD, ...settings };
      const session = new addon.TrainingSession(linearProgram(w0, b0, classes, features), optimizer, 1);
      const lr = 0.1;
      let w = Array.from(w0);
      let b = Array.from(b0);
      const buffers = { w: [] as number[], b: [] as number[] };
      for (let step = 0; step < 2; step++) {
        const { x, labels } = batchOf(10 + step, batch, features, classes);
        const { dW, db } = linearGradient(w, b, x, labels, classes, features);
        const update = (values: number[], grad: Float64Array, buf: number[]) =>
          values.map((v, i) => {
            let d = grad[i] + settings.weightDecay * v;
            if (settings.momentum) {
              buf[i] = step === 0 ? d : settings.momentum * buf[i] + d;
              d = settings.nesterov ? d + settings.momentum * buf[i] : buf[i];
            }
            return v - lr * d;
          });
        w = update(w, dW, buffers.w);
        b = update(b, db, buffers.b);
        session.step(x, batch, { labels }, lr, false);
      }
      const trained = session.parameters();
      assertClose(trained['fc.weight'], w, 'fc.weight', 1e-6);
      assertClose(trained['fc.bias'], b, 'fc.bias', 1e-6);
      session.close();
    });
  }

  it('one AdamW step equals the formula (decoupled weight decay, bias correction)', () => {
    const rnd = seededRandom(2);
    const w0 = randomArray(classes * features, rnd);
    const b0 = randomArray(classes, rnd);
    const optimizer: OptimizerSettings = { ...SGD, kind: 'adamw', weightDecay: 0.1, beta1: 0.8, beta2: 0.99, epsilon: 1e-6 };
    const session = new addon.TrainingSession(linearProgram(w0, b0, classes, features), optimizer, 1);
    const { x, labels } = batchOf(20, batch, features, classes);
    const { dW, db } = linearGradient(w0, b0, x, labels, classes, features);
    const lr = 0.01;
    const adamw = (values: Float32Array, grad: Float64Array) =>
      Array.from(values, (v, i) => {
        const m = (1 - optimizer.beta1) * grad[i];
        const s = (1 - optimizer.beta2) * grad[i] * grad[i];
        const denom = Math.sqrt(s) / Math.sqrt(1 - optimizer.beta2) + optimizer.epsilon;
        return v * (1 - lr * optimizer.weightDecay) - (lr / (1 - optimizer.beta1)) * (m / denom);
      });
    const loss = session.step(x, batch, { labels }, lr, false);
    assert.ok(Number.isFinite(loss) && loss > 0);
    const trained = session.parameters();
    assertClose(trained['fc.weight'], adamw(w0, dW), 'fc.weight', 1e-6);
    assertClose(trained['fc.bias'], adamw(b0, db), 'fc.bias', 1e-6);
    session.close();
  });

  it('predict gives the logits x · Wᵀ + b and trains nothing', () => {
    const rnd = seededRandom(3);
    const w = randomArray(classes * features, rnd);
    const b = randomArray(classes, rnd);
    const session = new addon.TrainingSession(linearProgram(w, b, classes, features), SGD, 1);
    const { x } = batchOf(30, 2, features, classes);
    const logits = session.predict(x, 2);
    const expected = Array.from({ length: 2 * classes }, (_, k) => {
      const [s, c] = [Math.floor(k / classes), k % classes];
      return b[c] + Array.from({ length: features }, (_, f) => w[c * features + f] * x[s * features + f]).reduce((p, q) => p + q);
    });
    assertClose(logits, expected, 'logits', 1e-6);
    assert.deepEqual(Array.from(session.parameters()['fc.weight']), Array.from(w));
    session.close();
  });

  it('masked weights stay exactly 0, dense with their mask and in the sparse layout', () => {
    const masks = { w1: maskWith(48, 36, 1), w2: maskWith(24, 6, 2) };
    const program = mlpProgram(4, masks);
    const session = new addon.TrainingSession(program, { ...SGD, momentum: 0.9, weightDecay: 0.01 }, 2);
    assert.deepEqual(session.describe(), {
      'fc1.weight': 'masked d=0.75',
      'fc1.bias': 'dense',
      'fc2.weight': 'sparse d=0.25',
      'fc2.bias': 'dense',
    });
    for (let step = 0; step < 5; step++) {
      const { x, labels } = batchOf(40 + step, 16, 6, 3);
      session.step(x, 16, { labels }, 0.2, false);
    }
    const trained = session.parameters();
    for (const [name, mask] of [
      ['fc1.weight', masks.w1],
      ['fc2.weight', masks.w2],
    ] as const) {
      const before = program.params.find((p) => p.name === name)!.data;
      trained[name].forEach((v, i) => {
        if (!mask[i]) assert.ok(Object.is(v, 0), `${name}[${i}] is inactive but holds ${v}`);
      });
      assert.ok(
        trained[name].some((v, i) => mask[i] && v !== before[i]),
        `${name}: the active weights trained`,
      );
    }
    session.close();
  });

  for (const optimizer of [
    { ...SGD, momentum: 0.9, nesterov: true, weightDecay: 0.01 },
    { ...SGD, kind: 'adamw' as const, weightDecay: 0.01 },
  ]) {
    it(`the sparse layout trains the same weights as the dense path with the same mask (${optimizer.kind})`, () => {
      const masks = { w1: maskWith(48, 12, 3), w2: maskWith(24, 8, 4) };
      const sparse = new addon.TrainingSession(mlpProgram(5, masks), optimizer, 2);
      const dense = new addon.TrainingSession(mlpProgram(5, masks, 0), optimizer, 2);
      assert.equal(sparse.describe()['fc1.weight'], 'sparse d=0.25');
      assert.equal(dense.describe()['fc1.weight'], 'masked d=0.25');
      for (let step = 0; step < 8; step++) {
        const { x, labels } = batchOf(50 + step, 16, 6, 3);
        const lossSparse = sparse.step(x, 16, { labels }, 0.05, false);
        const lossDense = dense.step(x, 16, { labels }, 0.05, false);
        assert.ok(Math.abs(lossSparse - lossDense) <= 1e-5, `step ${step}: loss ${lossSparse} vs ${lossDense}`);
      }
      const [a, b] = [sparse.parameters(), dense.parameters()];
      for (const name of Object.keys(b)) assertClose(a[name], b[name], name, 1e-5);
      sparse.close();
      dense.close();
    });
  }

  it('two identical runs are bit-identical, on one thread or two', () => {
    const masks = { w2: maskWith(24, 6, 5) };
    const run = (threads: number) => {
      const session = new addon.TrainingSession(mlpProgram(6, masks), { ...SGD, momentum: 0.9 }, threads);
      const losses: number[] = [];
      for (let step = 0; step < 6; step++) {
        const { x, labels } = batchOf(60 + step, 32, 6, 3);
        losses.push(session.step(x, 32, { labels }, 0.1, false));
      }
      const params = session.parameters();
      session.close();
      return { losses, params };
    };
    const first = run(2);
    for (const other of [run(2), run(1)]) {
      assert.deepEqual(other.losses, first.losses);
      for (const name of Object.keys(first.params)) assert.deepEqual(Array.from(other.params[name]), Array.from(first.params[name]), name);
    }
  });

  it('products large enough to split over threads give the same bits on one thread or two, dense and sparse', () => {
    const rnd = seededRandom(10);
    const program: TrainingProgram = {
      valueCount: 8,
      input: 0,
      output: 7,
      sampleShape: [64],
      nodes: [
        { op: 'Gemm', name: 'fc1', inputs: [0, 1, 2], outputs: [3], ints: { transB: 1 } },
        { op: 'Relu', name: 'relu', inputs: [3], outputs: [4] },
        { op: 'Gemm', name: 'fc2', inputs: [4, 5, 6], outputs: [7], ints: { transB: 1 } },
      ],
      params: [
        param(1, 'fc1.weight', [512, 64], randomArray(512 * 64, rnd, 0.2), maskWith(512 * 64, 512 * 16, 11)),
        param(2, 'fc1.bias', [512], randomArray(512, rnd, 0.1)),
        param(5, 'fc2.weight', [10, 512], randomArray(10 * 512, rnd, 0.1)),
        param(6, 'fc2.bias', [10], randomArray(10, rnd, 0.1)),
      ],
    };
    const run = (threads: number) => {
      const session = new addon.TrainingSession(program, { ...SGD, momentum: 0.9 }, threads);
      assert.equal(session.describe()['fc1.weight'], 'sparse d=0.25');
      const losses: number[] = [];
      for (let step = 0; step < 3; step++) {
        const { x, labels } = batchOf(90 + step, 128, 64, 10);
        losses.push(session.step(x, 128, { labels }, 0.05, false));
      }
      const params = session.parameters();
      session.close();
      return { losses, params };
    };
    const [one, two] = [run(1), run(2)];
    assert.deepEqual(two.losses, one.losses);
    for (const name of Object.keys(one.params)) assert.deepEqual(Array.from(two.params[name]), Array.from(one.params[name]), name);
  });

  for (const [path, sparseDensity] of [
    ['sparse', undefined],
    ['masked', 0],
  ] as const) {
    it(`denseGradients() is the dense layer's gradient (${path} weight), zero nowhere it should not be`, () => {
      const rnd = seededRandom(7);
      const mask = maskWith(classes * features, 3, 8);
      const w = Float32Array.from(randomArray(classes * features, rnd), (v, i) => (mask[i] ? v : 0));
      const b = randomArray(classes, rnd);
      const session = new addon.TrainingSession(linearProgram(w, b, classes, features, mask, sparseDensity), SGD, 1);
      assert.ok(session.describe()['fc.weight'].startsWith(path));
      const { x, labels } = batchOf(70, batch, features, classes);
      session.step(x, batch, { labels }, 0.1, true);
      const gradients = session.denseGradients();
      assert.deepEqual(Object.keys(gradients), ['fc.weight']);
      assertClose(gradients['fc.weight'], linearGradient(w, b, x, labels, classes, features).dW, 'dense gradient', 1e-6);
      assert.ok(
        gradients['fc.weight'].some((g, i) => !mask[i] && g !== 0),
        'the inactive positions have their gradient',
      );
      session.close();
    });
  }

  it('a value read by two nodes gets the sum of both gradients', () => {
    // h = x · W1ᵀ; logits = h + relu(h) (both read h); W1 trains masked with a full mask, so
    // denseGradients() shows its gradient, compared with finite differences of the loss.
    const rnd = seededRandom(9);
    const w1 = randomArray(12, rnd);
    const program: TrainingProgram = {
      valueCount: 5,
      input: 0,
      output: 4,
      sampleShape: [4],
      nodes: [
        { op: 'Gemm', name: 'fc', inputs: [0, 1], outputs: [2], ints: { transB: 1 } },
        { op: 'Relu', name: 'relu', inputs: [2], outputs: [3] },
        { op: 'Add', name: 'sum', inputs: [2, 3], outputs: [4] },
      ],
      params: [param(1, 'w', [3, 4], w1, new Uint8Array(12).fill(1))],
    };
    const { x, labels } = batchOf(80, 6, 4, 3);
    const lossAt = (weights: Float32Array) => {
      const s = new addon.TrainingSession({ ...program, params: [param(1, 'w', [3, 4], weights)] }, SGD, 1);
      const loss = s.step(x, 6, { labels }, 0, false);
      s.close();
      return loss;
    };
    const session = new addon.TrainingSession(program, SGD, 1);
    session.step(x, 6, { labels }, 0, true);
    const analytic = session.denseGradients()['w'];
    const eps = 1e-3;
    for (let i = 0; i < 12; i++) {
      const plus = Float32Array.from(w1);
      const minus = Float32Array.from(w1);
      plus[i] += eps;
      minus[i] -= eps;
      const numeric = (lossAt(plus) - lossAt(minus)) / (2 * eps);
      assert.ok(Math.abs(analytic[i] - numeric) <= 2e-3 * Math.max(1, Math.abs(numeric)), `w[${i}]: ${analytic[i]} vs ${numeric}`);
    }
    session.close();
  });

  it('a bad program throws an error naming what is wrong', () => {
    const w = new Float32Array(12);
    const b = new Float32Array(3);
    const unknown: TrainingProgram = { ...linearProgram(w, b, 3, 4), nodes: [{ op: 'Softplus', name: 'act', inputs: [0], outputs: [3] }] };
    assert.throws(
      () => new addon.TrainingSession(unknown, SGD, 1),
      /node "act" has op type Softplus, which the training engine does not support \(it supports .*Gemm/,
    );
    assert.throws(
      () => new addon.TrainingSession(linearProgram(new Float32Array(11), b, 3, 4), SGD, 1),
      /params\[0\] \("fc.weight"\).data has 11 values, but its shape \[3, 4\] holds 12/,
    );
    assert.throws(
      () =>
        new addon.TrainingSession({ ...linearProgram(w, b, 3, 4), nodes: [{ op: 'Relu', name: 'r', inputs: [5], outputs: [3] }] }, SGD, 1),
      /program.nodes\[0\].inputs\[0\] = 5 is outside \[-1, 4\)/,
    );
    assert.throws(
      () =>
        new addon.TrainingSession({ ...linearProgram(w, b, 3, 4), nodes: [{ op: 'Relu', name: 'r', inputs: [3], outputs: [2] }] }, SGD, 1),
      /Relu node "r": input 0 \(value 3\) is not computed before the node/,
    );
    assert.throws(
      () => new addon.TrainingSession(linearProgram(w, b, 3, 4), { ...SGD, kind: 'adam' as 'sgd' }, 1),
      /optimizer.kind must be "sgd" or "adamw"/,
    );

    const mismatched = new addon.TrainingSession({ ...linearProgram(w, b, 3, 4), sampleShape: [5] }, SGD, 1);
    assert.throws(
      () => mismatched.step(new Float32Array(10), 2, { labels: Int32Array.from([0, 1]) }, 0.1, false),
      /Gemm node "fc": input 0 has shape \[2, 5\], the weight expects 4 inputs/,
    );
    mismatched.close();

    const session = new addon.TrainingSession(linearProgram(w, b, 3, 4), SGD, 1);
    assert.throws(
      () => session.step(new Float32Array(8), 2, { labels: Int32Array.from([0]) }, 0.1, false),
      /targets.labels has 1 labels for a batch of 2/,
    );
    assert.throws(
      () => session.step(new Float32Array(7), 2, { labels: Int32Array.from([0, 1]) }, 0.1, false),
      /x has 7 values, not batch × sample size = 2 × 4/,
    );
    assert.throws(
      () => session.step(new Float32Array(8), 2, { labels: Int32Array.from([0, 3]) }, 0.1, false),
      /label 3 of sample 1 is outside \[0, 3\)/,
    );
    assert.throws(
      () => session.step(new Float32Array(8), 2, { teacherLogits: new Float32Array(5), temperature: 2 }, 0.1, false),
      /the teacher's logits hold 5 values; the model's logits \[2, 3\] hold 6/,
    );
    session.close();
    assert.throws(() => session.predict(new Float32Array(8), 2), /TrainingSession.predict: the session is closed/);
  });
});
