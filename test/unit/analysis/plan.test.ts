import { strict as assert } from 'node:assert';
import { densityFromSparsity, planDensities, PlanError, type PlanInput } from '../../../src/core/analysis/plan';

/** Figures from ../shared/docs/srigl-spec.md §1.4 and §1.5, checked there by hand. */
const linear = (name: string, out: number, inputs: number): PlanInput => ({ name, shape: [out, inputs], nOut: out, nIn: inputs });
const conv = (name: string, out: number, inputs: number, k: number): PlanInput => ({
  name,
  shape: [out, inputs, k, k],
  nOut: out,
  nIn: inputs,
});

const MLP = [linear('fc1', 300, 784), linear('fc2', 100, 300), linear('fc3', 10, 100)];

/** torchvision's ResNet-50 conv and fc weights in definition order (conv1, conv2, conv3, downsample.0 per bottleneck). */
function resnet50(): PlanInput[] {
  const layers = [conv('conv1', 64, 3, 7)];
  let inputs = 64;
  [
    [64, 3],
    [128, 4],
    [256, 6],
    [512, 3],
  ].forEach(([width, blocks], stage) => {
    for (let b = 0; b < blocks; b++) {
      const name = `layer${stage + 1}.${b}`;
      layers.push(
        conv(`${name}.conv1`, width, inputs, 1),
        conv(`${name}.conv2`, width, width, 3),
        conv(`${name}.conv3`, width * 4, width, 1),
      );
      if (b === 0) layers.push(conv(`${name}.downsample.0`, width * 4, inputs, 1));
      inputs = width * 4;
    }
  });
  layers.push(linear('fc', 1000, 2048));
  return layers;
}

const round = (x: number, digits: number) => Number(x.toFixed(digits));

describe('density plans: ERK, ER and uniform with constant fan-in k, as the SRigL reference computes them', () => {
  it('the 784-300-100-10 MLP at 90 % ERK: fc3 becomes dense, densities and k of spec §1.4', () => {
    const plan = planDensities(MLP, { density: 0.1, distribution: 'erk' });
    assert.equal(round(plan.epsilon!, 4), 17.2642);
    assert.deepEqual(
      plan.layers.map((l) => [round(l.targetDensity, 6), l.dense, l.denseFanIn, l.k, l.constFanInNnz]),
      [
        [0.079568, false, 784, 62, 18600],
        [0.230189, false, 300, 69, 6900],
        [1, true, 100, 100, 1000],
      ],
    );
    assert.equal(
      plan.layers.reduce((a, l) => a + l.constFanInNnz, 0),
      26500,
    );
  });

  for (const [density, epsilon, densities, ks] of [
    [0.2, 35.2022, [0.1622, 0.4694, 1], [127, 140, 100]],
    [0.05, 8.3501, [0.0385, 0.1113, 0.9185], [30, 33, 91]],
    [0.01, 1.67, [0.0077, 0.0223, 0.1837], [6, 6, 18]],
  ] as const) {
    it(`the MLP at global density ${density}: ε ${epsilon}, k ${ks.join(' / ')}`, () => {
      const plan = planDensities(MLP, { density, distribution: 'erk' });
      assert.equal(round(plan.epsilon!, 4), epsilon);
      assert.deepEqual(
        plan.layers.map((l) => round(l.targetDensity, 4)),
        densities,
      );
      assert.deepEqual(
        plan.layers.map((l) => l.k),
        ks,
      );
    });
  }

  it('uniform at 90 %: every layer 0.9 sparse, k = 78 / 29 / 9; a forced-dense layer is compensated for', () => {
    const plan = planDensities(MLP, { density: 0.1, distribution: 'uniform' });
    assert.deepEqual(
      plan.layers.map((l) => [l.targetSparsity, l.k]),
      [
        [0.9, 78],
        [0.9, 29],
        [0.9, 9],
      ],
    );
    // fc1 dense: the 266,200 × 0.1 − 235,200 = −208,580 left cannot be spread, so 1 − d is used (spec §1.3).
    assert.deepEqual(
      planDensities(MLP, { density: 0.1, distribution: 'uniform', forcedDense: new Set([0]) }).layers.map((l) => l.targetSparsity),
      [0, 0.9, 0.9],
    );
    // fc3 dense: (26,620 − 1,000) / 265,200 of the others stays, sparsity 1 − 25,620 / 265,200.
    const compensated = planDensities(MLP, { density: 0.1, distribution: 'uniform', forcedDense: new Set([2]) });
    assert.deepEqual(
      compensated.layers.map((l) => l.targetSparsity),
      [1 - 25620 / 265200, 1 - 25620 / 265200, 0],
    );
  });

  it('ER leaves out the kernel dimensions; on a linear-only model it is ERK', () => {
    const erk = planDensities(MLP, { density: 0.1, distribution: 'erk' });
    assert.deepEqual(planDensities(MLP, { density: 0.1, distribution: 'er' }).layers, erk.layers);
    const cnn = [conv('c1', 16, 3, 3), conv('c2', 32, 16, 3), linear('fc', 10, 32 * 9)];
    const er = planDensities(cnn, { density: 0.2, distribution: 'er' });
    // raw = (out + in) / (out · in): c1 19/48, c2 48/512, fc 298/2880; ε = Σ N·(1 − floor-free zeros) / Σ raw·N.
    const numels = [432, 4608, 2880];
    const raw = [19 / 48, 48 / 512, 298 / 2880];
    const zeros = numels.map((n) => Math.floor(n * 0.8));
    const eps = numels.reduce((a, n, i) => a + n - zeros[i], 0) / numels.reduce((a, n, i) => a + raw[i] * n, 0);
    assert.ok(raw.every((r) => r * eps <= 1));
    assert.deepEqual(
      er.layers.map((l) => l.targetSparsity),
      raw.map((r) => 1 - eps * r),
    );
  });

  it('ResNet-50 at 90 % (spec §1.5): ε 48.7866, only layer1.0.conv1 dense, conv1 k = 61 of 147, fc k = 148 of 2048', () => {
    const layers = resnet50();
    assert.equal(layers.length, 54);
    assert.equal(
      layers.reduce((a, l) => a + l.shape.reduce((x, y) => x * y, 1), 0),
      25_502_912,
    );
    const plan = planDensities(layers, { density: 0.1, distribution: 'erk' });
    assert.equal(round(plan.epsilon!, 4), 48.7866);
    assert.deepEqual(
      plan.layers.filter((l) => l.dense).map((l) => l.name),
      ['layer1.0.conv1'],
    );
    const [first, fc] = [plan.layers[0], plan.layers[53]];
    assert.deepEqual([round(first.targetDensity, 4), first.k, first.denseFanIn], [0.42, 61, 147]);
    assert.deepEqual([round(fc.targetDensity, 4), fc.k, fc.denseFanIn], [0.0726, 148, 2048]);
    assert.equal(
      plan.layers.reduce((a, l) => a + l.constFanInNnz, 0),
      2_544_096,
    );
    const threeByThree = plan.layers.filter((l) => l.shape[2] === 3).map((l) => l.targetDensity);
    assert.deepEqual([round(Math.min(...threeByThree), 3), round(Math.max(...threeByThree), 3)], [0.021, 0.177]);
  });

  it('ResNet-50 at 80 % makes 8 layers dense (the layer1 1 × 1 convs, the downsample, layer2.0.conv1); at 95 % and 99 % none', () => {
    const dense = (density: number) =>
      planDensities(resnet50(), { density, distribution: 'erk' })
        .layers.filter((l) => l.dense)
        .map((l) => l.name);
    assert.deepEqual(dense(0.2), [
      'layer1.0.conv1',
      'layer1.0.conv3',
      'layer1.0.downsample.0',
      'layer1.1.conv1',
      'layer1.1.conv3',
      'layer1.2.conv1',
      'layer1.2.conv3',
      'layer2.0.conv1',
    ]);
    assert.deepEqual(dense(0.05), []);
    assert.deepEqual(dense(0.01), []);
  });

  it('--sparsity 0.9 is density 0.1 as written, not 1 − 0.9 = 0.09999999999999998, and gives the same plan', () => {
    assert.equal(1 - 0.9, 0.09999999999999998);
    assert.equal(densityFromSparsity(0.9), 0.1);
    assert.equal(densityFromSparsity(0.95), 0.05);
    assert.equal(densityFromSparsity(0.999), 0.001);
    const fromSparsity = planDensities(resnet50(), { density: densityFromSparsity(0.9), distribution: 'erk' });
    assert.deepEqual(fromSparsity, planDensities(resnet50(), { density: 0.1, distribution: 'erk' }));
    // Where the float floors differently: uniform at 80 %, 1 − 0.8 = 0.19999999999999996 loses a weight of the first layer, and its k.
    const model = [linear('a', 62, 100), linear('b', 204, 33), linear('c', 3, 7)];
    const asWritten = planDensities(model, { density: densityFromSparsity(0.8), distribution: 'uniform' });
    const asFloat = planDensities(model, { density: 1 - 0.8, distribution: 'uniform' });
    assert.deepEqual(
      [asWritten, asFloat].map((plan) => [plan.layers[0].targetNnz, plan.layers[0].k]),
      [
        [1240, 20],
        [1239, 19],
      ],
    );
  });

  it('a layer left with fan-in 0 has k null and a sentence to act on; a power scale of 0 is uniform over the sparse layers', () => {
    const plan = planDensities([linear('wide', 4, 1000), linear('thin', 1000, 2)], { density: 0.01, distribution: 'uniform' });
    assert.equal(plan.layers[1].k, null);
    assert.match(
      plan.layers[1].kError!,
      /^fan-in after pruning is 0 \(20 weights for 1000 neurons\): lower the sparsity or widen the layer$/,
    );
    assert.equal(plan.layers[0].k, 10);
    const flat = planDensities(MLP, { density: 0.1, distribution: 'erk', power: 0 });
    assert.deepEqual(
      flat.layers.map((l) => round(l.targetDensity, 12)),
      [0.1, 0.1, 0.1],
    );
  });

  it('forced-dense layers give their surplus to the others; more than the budget is refused; density 1 keeps everything dense', () => {
    const plan = planDensities(MLP, { density: 0.2, distribution: 'erk', forcedDense: new Set([1]) });
    assert.deepEqual(
      plan.layers.map((l) => [l.dense, l.dense ? l.k : 'sparse']),
      [
        [false, 'sparse'],
        [true, 300],
        [true, 100],
      ],
    );
    // The non-zeros ε allocates, with the dense layers whole, are Σ (N − floor(N · (1 − d))) (spec §1.2).
    const allocated = plan.layers.reduce((a, l) => a + l.targetDensity * l.numel, 0);
    const budget = [235200, 30000, 1000].reduce((a, n) => a + n - Math.floor(n * 0.8), 0);
    assert.ok(Math.abs(allocated - budget) < 1e-6, `${allocated} vs ${budget}`);
    assert.throws(
      () => planDensities(MLP, { density: 0.1, distribution: 'erk', forcedDense: new Set([0]) }),
      (e: unknown) =>
        e instanceof PlanError && /the layers kept dense hold 235200 weights, more than the 26620 a density of 0\.1 allows/.test(e.message),
    );
    assert.deepEqual(
      planDensities(MLP, { density: 1, distribution: 'erk' }).layers.map((l) => l.dense),
      [true, true, true],
    );
    assert.throws(() => planDensities(MLP, { density: 0, distribution: 'erk' }), /density must be in \(0, 1\]/);
  });
});
