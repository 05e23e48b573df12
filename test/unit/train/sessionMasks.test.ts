import { strict as assert } from 'node:assert';
import type {
  NativeTrainingAddon,
  NativeTrainingSession,
  OptimizerSettings,
  TrainingProgram,
} from '../../../src/kernels/native/bindings/training';
import { loadTrainingAddon } from '../../helpers/gradientCheck';
import { seededRandom } from '../../helpers/random';
import { assertClose, batchOf, linearGradient, maskWith, mlpProgram, param, randomArray } from '../../helpers/trainingPrograms';

const SGD: OptimizerSettings = { kind: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
const ADAMW: OptimizerSettings = { ...SGD, kind: 'adamw', weightDecay: 0.01, beta1: 0.8, beta2: 0.99 };

type MaskUpdates = Parameters<NativeTrainingSession['setMasks']>[0];

/** `mask` with `count` active positions dropped and `count` inactive ones grown, seeded: a RigL-style update. */
function swapped(mask: Uint8Array, count: number, seed: number): { mask: Uint8Array; dropped: number[]; grown: number[] } {
  const rnd = seededRandom(seed);
  const pick = (want: number) => {
    const candidates = Array.from(mask.keys()).filter((i) => mask[i] === want);
    const chosen: number[] = [];
    while (chosen.length < count) chosen.push(...candidates.splice(Math.floor(rnd() * candidates.length), 1));
    return chosen;
  };
  const [dropped, grown] = [pick(1), pick(0)];
  const next = Uint8Array.from(mask);
  dropped.forEach((i) => (next[i] = 0));
  grown.forEach((i) => (next[i] = 1));
  return { mask: next, dropped, grown };
}

/** logits = x · Wᵀ (Gemm, no bias): x is value 0, W [classes, features] value 1, logits value 2. */
function linearProgram(w: Float32Array, mask: Uint8Array, classes: number, features: number, sparseDensity: number): TrainingProgram {
  return {
    valueCount: 3,
    input: 0,
    output: 2,
    sampleShape: [features],
    nodes: [{ op: 'Gemm', name: 'fc', inputs: [0, 1], outputs: [2], ints: { transB: 1 } }],
    params: [param(1, 'fc.weight', [classes, features], w, mask)],
    sparseDensity,
  };
}

function assertInactiveZero(values: Float32Array, mask: Uint8Array, what: string): void {
  values.forEach((v, i) => {
    if (!mask[i]) assert.ok(Object.is(v, 0), `${what}[${i}] is inactive but holds ${v}`);
  });
}

const PATHS = [
  { path: 'sparse', sparseDensity: 1 },
  { path: 'masked', sparseDensity: 0 },
] as const;

describe('training engine: setMasks (dynamic sparse training)', function () {
  let addon: NativeTrainingAddon;
  before(function () {
    addon = loadTrainingAddon(this);
  });

  for (const { path, sparseDensity } of PATHS) {
    it(`the weights become values · mask and stay 0 where inactive while training on (${path} weights)`, () => {
      const masks = { w1: maskWith(48, 12, 1), w2: maskWith(24, 6, 2) };
      const session = new addon.TrainingSession(mlpProgram(3, masks, sparseDensity), { ...SGD, weightDecay: 0.01 }, 2);
      assert.equal(session.describe()['fc1.weight'], `${path} d=0.25`);
      for (let step = 0; step < 2; step++) {
        const { x, labels } = batchOf(10 + step, 16, 6, 3);
        session.step(x, 16, { labels }, 0.1, true);
      }
      assert.deepEqual(Object.keys(session.denseGradients()).sort(), ['fc1.weight', 'fc2.weight']);
      const biasBefore = session.parameters()['fc1.bias'];

      // fc1 grows to d = 0.5: above the sparse threshold, but it keeps training the way it started.
      const rnd = seededRandom(4);
      const next = { w1: maskWith(48, 24, 5), w2: swapped(masks.w2, 2, 6).mask };
      const values = { w1: randomArray(48, rnd), w2: randomArray(24, rnd) };
      session.setMasks(
        { 'fc1.weight': { mask: next.w1, values: values.w1 }, 'fc2.weight': { mask: next.w2, values: values.w2 } },
        { resetOptimizerState: false },
      );
      const after = session.parameters();
      for (const [name, mask, given] of [
        ['fc1.weight', next.w1, values.w1],
        ['fc2.weight', next.w2, values.w2],
      ] as const) {
        after[name].forEach((v, i) => assert.ok(Object.is(v, mask[i] ? given[i] : 0), `${name}[${i}]: ${v}`));
      }
      assert.deepEqual(after['fc1.bias'], biasBefore, 'the bias is untouched');
      assert.deepEqual(session.describe(), {
        'fc1.weight': `${path} d=0.50`,
        'fc1.bias': 'dense',
        'fc2.weight': `${path} d=0.25`,
        'fc2.bias': 'dense',
      });
      assert.deepEqual(session.denseGradients(), {}, 'the old masks’ dense gradients are dropped');

      for (let step = 0; step < 3; step++) {
        const { x, labels } = batchOf(20 + step, 16, 6, 3);
        session.step(x, 16, { labels }, 0.1, step === 2);
      }
      const trained = session.parameters();
      assertInactiveZero(trained['fc1.weight'], next.w1, 'fc1.weight');
      assertInactiveZero(trained['fc2.weight'], next.w2, 'fc2.weight');
      assert.ok(
        trained['fc1.weight'].some((v, i) => next.w1[i] && v !== values.w1[i]),
        'the new active weights trained',
      );
      assert.equal(session.denseGradients()['fc1.weight'].length, 48);
      session.close();
    });
  }

  for (const { optimizer, resetOptimizerState } of [
    { optimizer: { ...SGD, nesterov: true, weightDecay: 0.01 }, resetOptimizerState: false },
    { optimizer: ADAMW, resetOptimizerState: false },
    { optimizer: ADAMW, resetOptimizerState: true },
  ]) {
    const label = `${optimizer.kind}${optimizer.nesterov ? ' nesterov' : ''}, resetOptimizerState ${resetOptimizerState}`;
    it(`the sparse and masked paths train the same weights through two mask updates (${label})`, () => {
      const masks = { w1: maskWith(48, 12, 7), w2: maskWith(24, 8, 8) };
      const sparse = new addon.TrainingSession(mlpProgram(9, masks), optimizer, 2);
      const dense = new addon.TrainingSession(mlpProgram(9, masks, 0), optimizer, 2);
      assert.equal(sparse.describe()['fc2.weight'], 'sparse d=0.33');
      assert.equal(dense.describe()['fc2.weight'], 'masked d=0.33');
      let step = 0;
      const train = (steps: number) => {
        for (let end = step + steps; step < end; step++) {
          const { x, labels } = batchOf(30 + step, 16, 6, 3);
          const [a, b] = [sparse.step(x, 16, { labels }, 0.05, false), dense.step(x, 16, { labels }, 0.05, false)];
          assert.ok(Math.abs(a - b) <= 1e-6, `step ${step}: loss ${a} vs ${b}`);
        }
      };
      /** RigL's update: drop some, grow others at 0; the second one regrows what the first dropped. */
      const update = (next: { w1: Uint8Array; w2: Uint8Array }) => {
        const current = dense.parameters();
        const entry = (name: string, mask: Uint8Array) => ({ mask, values: Float32Array.from(current[name], (v, i) => (mask[i] ? v : 0)) });
        const updates: MaskUpdates = { 'fc1.weight': entry('fc1.weight', next.w1), 'fc2.weight': entry('fc2.weight', next.w2) };
        sparse.setMasks(updates, { resetOptimizerState });
        dense.setMasks(updates, { resetOptimizerState });
      };
      train(3);
      const first = { w1: swapped(masks.w1, 4, 10), w2: swapped(masks.w2, 3, 11) };
      update({ w1: first.w1.mask, w2: first.w2.mask });
      train(3);
      const regrown = (mask: Uint8Array, back: number[], seed: number) => {
        const next = swapped(mask, 2, seed).mask;
        back.forEach((i) => (next[i] = 1));
        return next;
      };
      const second = { w1: regrown(first.w1.mask, first.w1.dropped, 12), w2: regrown(first.w2.mask, first.w2.dropped, 13) };
      update(second);
      train(3);
      const [a, b] = [sparse.parameters(), dense.parameters()];
      for (const name of Object.keys(b)) assertClose(a[name], b[name], name, 1e-6);
      assertInactiveZero(a['fc1.weight'], second.w1, 'sparse fc1.weight');
      assertInactiveZero(b['fc1.weight'], second.w1, 'masked fc1.weight');
      sparse.close();
      dense.close();
    });
  }

  // A linear layer without bias, small enough to follow by hand: W [3, 4], dW from the batch.
  const [classes, features, batch] = [3, 4, 5];
  const start = seededRandom(14);
  const w0 = randomArray(classes * features, start);

  for (const { path, sparseDensity } of PATHS) {
    it(`SGD: a grown position starts without momentum, a kept one keeps its momentum (${path} weight)`, () => {
      const lr = 0.1;
      const mask0 = Uint8Array.from([1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0]);
      const mask1 = Uint8Array.from([1, 1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1]); // keeps 0, 1, 4, 9; drops 6, 10; grows 2, 11
      const session = new addon.TrainingSession(linearProgram(w0, mask0, classes, features, sparseDensity), SGD, 1);
      assert.ok(session.describe()['fc.weight'].startsWith(path));

      const first = batchOf(15, batch, features, classes);
      const wMasked = Array.from(w0, (v, i) => v * mask0[i]);
      const g1 = Array.from(
        linearGradient(wMasked, new Float64Array(classes), first.x, first.labels, classes, features).dW,
        (g, i) => g * mask0[i],
      );
      session.step(first.x, batch, { labels: first.labels }, lr, false);
      assertClose(
        session.parameters()['fc.weight'],
        wMasked.map((v, i) => v - lr * g1[i]),
        'after step 1',
        1e-6,
      );

      const values = randomArray(classes * features, seededRandom(16));
      session.setMasks({ 'fc.weight': { mask: mask1, values } }, { resetOptimizerState: false });
      const w1 = Array.from(values, (v, i) => v * mask1[i]);

      const second = batchOf(17, batch, features, classes);
      const g2 = Array.from(
        linearGradient(w1, new Float64Array(classes), second.x, second.labels, classes, features).dW,
        (g, i) => g * mask1[i],
      );
      session.step(second.x, batch, { labels: second.labels }, lr, false);
      const trained = session.parameters()['fc.weight'];
      // Kept: buf = 0.9 · g1 + g2. Grown: buf = 0 · 0.9 + g2, the plain gradient step.
      for (const i of [0, 1, 4, 9]) {
        assert.ok(Math.abs(0.9 * g1[i]) > 1e-3, `position ${i} carries momentum worth testing`);
        assert.ok(Math.abs(trained[i] - (w1[i] - lr * (0.9 * g1[i] + g2[i]))) <= 1e-6, `kept [${i}]: ${trained[i]}`);
      }
      for (const i of [2, 11]) assert.ok(Math.abs(trained[i] - (w1[i] - lr * g2[i])) <= 1e-6, `grown [${i}]: ${trained[i]}`);
      assertInactiveZero(trained, mask1, 'fc.weight');
      session.close();
    });
  }

  /**
   * AdamW (torch.optim.AdamW) over the dense masked weights, in double: the gradient is 0 at inactive
   * positions, whose moments decay and are never zeroed; weights are masked after each step.
   */
  class ReferenceAdamW {
    readonly m: Float64Array;
    readonly v: Float64Array;
    step = 0;
    constructor(
      public w: number[],
      public mask: Uint8Array,
      readonly settings: OptimizerSettings,
    ) {
      this.m = new Float64Array(w.length);
      this.v = new Float64Array(w.length);
      this.w = w.map((x, i) => x * mask[i]);
    }
    update(gradient: ArrayLike<number>, lr: number): void {
      const { beta1, beta2, epsilon, weightDecay } = this.settings;
      this.step++;
      const bias1 = 1 - beta1 ** this.step;
      const bias2 = Math.sqrt(1 - beta2 ** this.step);
      this.w = this.w.map((x, i) => {
        const g = gradient[i] * this.mask[i];
        this.m[i] = beta1 * this.m[i] + (1 - beta1) * g;
        this.v[i] = beta2 * this.v[i] + (1 - beta2) * g * g;
        const next = x * (1 - lr * weightDecay) - ((lr / bias1) * this.m[i]) / (Math.sqrt(this.v[i]) / bias2 + epsilon);
        return next * this.mask[i];
      });
    }
    setMask(mask: Uint8Array, values: ArrayLike<number>, resetOptimizerState: boolean): void {
      mask.forEach((on, i) => {
        if (on && !this.mask[i] && resetOptimizerState) this.m[i] = this.v[i] = 0;
      });
      this.mask = mask;
      this.w = Array.from(values, (x, i) => x * mask[i]);
    }
  }

  for (const { path, sparseDensity } of PATHS) {
    for (const resetOptimizerState of [false, true]) {
      it(`AdamW: a position dropped after step 2 and regrown after step 5 resumes its moments decayed by β³${
        resetOptimizerState ? ', or zero ones with resetOptimizerState' : ''
      } (${path} weight)`, () => {
        const lr = 0.05;
        const regrown = 6;
        const mask0 = Uint8Array.from([1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 1]);
        const dropped = Uint8Array.from(mask0, (on, i) => (i === regrown ? 0 : on));
        const session = new addon.TrainingSession(linearProgram(w0, mask0, classes, features, sparseDensity), ADAMW, 1);
        assert.ok(session.describe()['fc.weight'].startsWith(path));
        const reference = new ReferenceAdamW(Array.from(w0), mask0, ADAMW);
        const other = new ReferenceAdamW(Array.from(w0), mask0, ADAMW); // the other choice of resetOptimizerState
        const setMask = (mask: Uint8Array, values: number[]) => {
          session.setMasks({ 'fc.weight': { mask, values: Float32Array.from(values) } }, { resetOptimizerState });
          reference.setMask(mask, values, resetOptimizerState);
          other.setMask(mask, values, !resetOptimizerState);
        };
        for (let step = 1; step <= 7; step++) {
          const { x, labels } = batchOf(40 + step, batch, features, classes);
          for (const r of [reference, other]) r.update(linearGradient(r.w, new Float64Array(classes), x, labels, classes, features).dW, lr);
          session.step(x, batch, { labels }, lr, false);
          assertClose(session.parameters()['fc.weight'], reference.w, `after step ${step}`, 1e-6);
          if (step === 2) {
            assert.ok(Math.abs(reference.m[regrown]) > 1e-3, 'the dropped position leaves with moments worth testing');
            setMask(dropped, reference.w);
          }
          if (step === 5)
            setMask(
              mask0,
              reference.w.map((x, i) => (i === regrown ? 0.25 : x)),
            );
        }
        assert.ok(
          Math.abs(reference.w[regrown] - other.w[regrown]) > 1e-4,
          `the two choices differ at the regrown position: ${reference.w[regrown]} vs ${other.w[regrown]}`,
        );
        session.close();
      });
    }
  }

  // The weight stored [in, out] (MatMul, Gemm without transB): the sparse layout is its transpose.
  for (const { op, ints } of [
    { op: 'MatMul', ints: undefined },
    { op: 'Gemm', ints: { transB: 0 } },
  ] as const) {
    for (const optimizer of [{ ...SGD, weightDecay: 0.01 }, ADAMW]) {
      it(`a weight stored [in, out] (${op}${ints ? ' transB=0' : ''}) in the sparse layout takes new masks as the masked path does (${optimizer.kind})`, () => {
        // x [B, 9] · W [9, 7] → logits [B, 7].
        const [inF, outF, b] = [9, 7, 12];
        const program = (mask: Uint8Array, sparseDensity: number): TrainingProgram => ({
          valueCount: 3,
          input: 0,
          output: 2,
          sampleShape: [inF],
          nodes: [{ op, name: 'fc', inputs: [0, 1], outputs: [2], ...(ints ? { ints } : {}) }],
          params: [param(1, 'fc.weight', [inF, outF], randomArray(inF * outF, seededRandom(80), 0.5), mask)],
          sparseDensity,
        });
        const mask0 = maskWith(inF * outF, 20, 81);
        const sparse = new addon.TrainingSession(program(mask0, 1), optimizer, 2);
        const dense = new addon.TrainingSession(program(mask0, 0), optimizer, 2);
        assert.equal(sparse.describe()['fc.weight'], 'sparse d=0.32');
        assert.equal(dense.describe()['fc.weight'], 'masked d=0.32');
        let step = 0;
        const train = (steps: number) => {
          for (let end = step + steps; step < end; step++) {
            const { x, labels } = batchOf(90 + step, b, inF, outF);
            const [l1, l2] = [sparse.step(x, b, { labels }, 0.05, false), dense.step(x, b, { labels }, 0.05, false)];
            assert.ok(Math.abs(l1 - l2) <= 1e-6, `step ${step}: loss ${l1} vs ${l2}`);
          }
        };
        const setMask = (mask: Uint8Array) => {
          const current = dense.parameters()['fc.weight'];
          const values = Float32Array.from(current, (v, i) => (mask[i] ? (v === 0 ? 0.125 : v) : 0));
          for (const s of [sparse, dense]) s.setMasks({ 'fc.weight': { mask, values } }, { resetOptimizerState: false });
          assert.deepEqual(sparse.parameters()['fc.weight'], dense.parameters()['fc.weight'], 'the weights after the update');
        };
        train(3);
        const first = swapped(mask0, 6, 82);
        // Output neuron 2 (column 2 of the stored weight) loses all its weights, as an ablated one.
        const ablated = Uint8Array.from(first.mask, (on, i) => (i % outF === 2 ? 0 : on));
        setMask(ablated);
        train(3);
        const second = swapped(ablated, 4, 83).mask;
        first.dropped.forEach((i) => (second[i] = 1)); // regrown: AdamW resumes their decayed moments
        second[2] = second[outF + 2] = 1; // neuron 2 grows back
        setMask(second);
        train(3);
        assertClose(sparse.parameters()['fc.weight'], dense.parameters()['fc.weight'], 'fc.weight', 1e-6);
        assertInactiveZero(sparse.parameters()['fc.weight'], second, 'sparse fc.weight');
        sparse.close();
        dense.close();
      });
    }
  }

  it('parameters(names) returns only the named ones, and an error naming those that are not trainable parameters', () => {
    const masks = { w1: maskWith(48, 12, 84), w2: maskWith(24, 6, 85) };
    const session = new addon.TrainingSession(mlpProgram(86, masks), SGD, 1);
    const { x, labels } = batchOf(87, 8, 6, 3);
    session.step(x, 8, { labels }, 0.1, false);
    const all = session.parameters();
    assert.deepEqual(Object.keys(all).sort(), ['fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
    const some = session.parameters(['fc2.weight', 'fc1.weight']);
    assert.deepEqual(Object.keys(some).sort(), ['fc1.weight', 'fc2.weight']);
    for (const name of Object.keys(some)) assert.deepEqual(some[name], all[name], name);
    assert.deepEqual(session.parameters([]), {});
    assert.throws(
      () => session.parameters(['fc1.weight', 'nope', 'fc3.weight']),
      /^Error: TrainingSession\.parameters: there is no trainable parameter named "nope", "fc3\.weight"$/,
    );
    assert.throws(() => session.parameters('fc1.weight' as unknown as string[]), /parameters: names must be an array/);
    assert.throws(() => session.parameters([1] as unknown as string[]), /parameters: names\[0\] must be a string/);
    session.close();
  });

  it('bad updates throw an error naming the parameter and change nothing', () => {
    const masks = { w1: maskWith(48, 12, 18), w2: maskWith(24, 6, 19) };
    const session = new addon.TrainingSession(mlpProgram(20, masks), SGD, 1);
    const twin = new addon.TrainingSession(mlpProgram(20, masks), SGD, 1);
    const run = (s: NativeTrainingSession, from: number) =>
      [0, 1].map((k) => {
        const { x, labels } = batchOf(from + k, 8, 6, 3);
        return s.step(x, 8, { labels }, 0.1, false);
      });
    run(session, 50);
    run(twin, 50);
    const [before, how] = [session.parameters(), session.describe()];

    const good = { mask: swapped(masks.w2, 2, 21).mask, values: new Float32Array(24).fill(0.5) };
    const reset = { resetOptimizerState: false };
    const cases: [MaskUpdates, RegExp][] = [
      [{ 'fc2.weight': good, nope: good }, /^Error: TrainingSession\.setMasks: there is no parameter named "nope"/],
      [
        { 'fc2.weight': good, 'fc1.bias': { mask: new Uint8Array(8).fill(1), values: new Float32Array(8) } },
        /setMasks: parameter "fc1\.bias" was built without a mask/,
      ],
      [
        { 'fc2.weight': { mask: new Uint8Array(23), values: new Float32Array(24) } },
        /setMasks: parameter "fc2\.weight": the mask has 23 values, but its shape \[8, 3\] holds 24/,
      ],
      [
        { 'fc2.weight': { mask: new Uint8Array(24), values: new Float32Array(25) } },
        /setMasks: parameter "fc2\.weight": the values hold 25 numbers, but its shape \[8, 3\] holds 24/,
      ],
      [
        {
          'fc2.weight': good,
          'fc1.weight': { mask: Uint8Array.from(masks.w1, (v, i) => (i === 5 ? 2 : v)), values: new Float32Array(48) },
        },
        /setMasks: parameter "fc1\.weight": mask\[5\] is 2; masks hold 0 or 1/,
      ],
      [
        { 'fc2.weight': { mask: new Float32Array(24) as unknown as Uint8Array, values: new Float32Array(24) } },
        /setMasks: masks\["fc2\.weight"\]\.mask must be a Uint8Array/,
      ],
    ];
    for (const [updates, message] of cases) assert.throws(() => session.setMasks(updates, reset), message);
    assert.throws(() => session.setMasks({ 'fc2.weight': good }, {} as typeof reset), /options\.resetOptimizerState must be true or false/);

    assert.deepEqual(session.parameters(), before);
    assert.deepEqual(session.describe(), how);
    assert.deepEqual(run(session, 60), run(twin, 60), 'it steps on with its old masks');
    const [after, expected] = [session.parameters(), twin.parameters()];
    for (const name of Object.keys(expected)) assert.deepEqual(after[name], expected[name], name);
    session.close();
    twin.close();
  });

  it('a Conv weight in the sparse layout takes new masks and computes what the masked-dense session does', () => {
    // x [B, 2, 5, 5] → Conv 3×3 pad 1 (W [4, 2, 3, 3], b) → Relu → GlobalAveragePool → Flatten → logits [B, 4].
    const rnd = seededRandom(22);
    const program = (mask: Uint8Array, sparseDensity: number): TrainingProgram => ({
      valueCount: 7,
      input: 0,
      output: 6,
      sampleShape: [2, 5, 5],
      nodes: [
        { op: 'Conv', name: 'conv', inputs: [0, 1, 2], outputs: [3], intLists: { pads: [1, 1, 1, 1], kernel_shape: [3, 3] } },
        { op: 'Relu', name: 'relu', inputs: [3], outputs: [4] },
        { op: 'GlobalAveragePool', name: 'gap', inputs: [4], outputs: [5] },
        { op: 'Flatten', name: 'flatten', inputs: [5], outputs: [6] },
      ],
      params: [param(1, 'conv.weight', [4, 2, 3, 3], weights, mask), param(2, 'conv.bias', [4], bias)],
      sparseDensity,
    });
    const weights = randomArray(72, rnd, 0.5);
    const bias = randomArray(4, rnd, 0.1);
    const mask0 = maskWith(72, 22, 23);
    const sparse = new addon.TrainingSession(program(mask0, 1), ADAMW, 2);
    const dense = new addon.TrainingSession(program(mask0, 0), ADAMW, 2);
    assert.equal(sparse.describe()['conv.weight'], 'sparse d=0.31');
    const probe = randomArray(3 * 50, rnd);
    const sameForward = (what: string) => assertClose(sparse.predict(probe, 3), dense.predict(probe, 3), what, 1e-6);
    const setMasks = (mask: Uint8Array, values: Float32Array) => {
      for (const s of [sparse, dense]) s.setMasks({ 'conv.weight': { mask, values } }, { resetOptimizerState: false });
      const expected = Array.from(values, (v, i) => (mask[i] ? v : 0));
      assert.deepEqual(Array.from(sparse.parameters()['conv.weight']), expected);
      sameForward('forward after the mask update');
    };
    let step = 0;
    const train = (steps: number) => {
      for (let end = step + steps; step < end; step++) {
        const { x, labels } = batchOf(70 + step, 6, 50, 4);
        sparse.step(x, 6, { labels }, 0.05, false);
        dense.step(x, 6, { labels }, 0.05, false);
      }
    };

    setMasks(maskWith(72, 26, 24), randomArray(72, rnd, 0.5)); // before any step: no optimizer state yet
    train(2);
    const mask2 = maskWith(72, 30, 25);
    setMasks(mask2, randomArray(72, rnd, 0.5));
    assert.equal(sparse.describe()['conv.weight'], 'sparse d=0.42');
    assert.equal(dense.describe()['conv.weight'], 'masked d=0.42');
    train(3);
    sameForward('forward after training on');
    const [a, b] = [sparse.parameters(), dense.parameters()];
    for (const name of Object.keys(b)) assertClose(a[name], b[name], name, 1e-6);
    assertInactiveZero(a['conv.weight'], mask2, 'conv.weight');
    sparse.close();
    dense.close();
  });
});
