import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { nativePaths } from '../../src/kernels/createKernels';
import type { CheckedTensor, NativeTrainingAddon } from '../../src/kernels/native/bindings/training';
import { REPO } from './fixtures';
import { seededRandom } from './random';

/** A node as trainOpCheck takes it: inputs 0..n-1 and outputs 0..m-1 unless given. */
export type CheckedNode = Parameters<NativeTrainingAddon['trainOpCheck']>[0];

/**
 * The addon's training capability, for a suite's `before`: fails the suite when the addon is not
 * built (skips it instead under SPARSITY_LENS_ALLOW_NO_NATIVE=1, as the other native tests do).
 */
export function loadTrainingAddon(context: Mocha.Context): NativeTrainingAddon {
  const addonPath = nativePaths(REPO).addon;
  if (!existsSync(addonPath)) {
    if (process.env.SPARSITY_LENS_ALLOW_NO_NATIVE === '1') context.skip();
    assert.fail(`the native addon is not built (${addonPath}); run npm install`);
  }
  const addon = require(addonPath) as Partial<NativeTrainingAddon>;
  assert.equal(typeof addon.trainOpCheck, 'function', `the native addon (${addonPath}) has no training engine; rebuild it`);
  return addon as NativeTrainingAddon;
}

/** A float64 tensor of the given shape with values uniform in [lo, hi). */
export function randomTensor(shape: readonly number[], rnd: () => number, lo = -1, hi = 1): CheckedTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * rnd();
  return { shape: [...shape], data };
}

/** A float64 tensor of the given shape and values. */
export function tensorOf(shape: readonly number[], values: ArrayLike<number>): CheckedTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  assert.equal(values.length, n, `tensorOf: ${values.length} values for shape [${shape.join(', ')}]`);
  return { shape: [...shape], data: Float64Array.from(values) };
}

/** A 0/1 mask of n elements, each active with probability `density`. */
export function randomMask(n: number, density: number, rnd: () => number): Uint8Array {
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = rnd() < density ? 1 : 0;
  return mask;
}

export interface GradientCheckOptions {
  /** Input 1 trains sparse with this mask (1 = active) over its stored elements. */
  readonly sparseWeightMask?: Uint8Array;
  /** Outputs the node produces (default 1). */
  readonly outputCount?: number;
  /** Finite-difference step (default 1e-6). */
  readonly eps?: number;
  /** Largest accepted |analytic − numeric| / max(1, |analytic|, |numeric|) (default 1e-6). */
  readonly tolerance?: number;
  /** Inputs whose gradient is not checked (integer-valued ones, frozen statistics...). */
  readonly skipInputs?: readonly number[];
  /** Elements checked per input at most; bigger inputs get a seeded sample (default 200). */
  readonly maxElements?: number;
  /** Seeds the output gradients and the element sample (default 1). */
  readonly seed?: number;
}

export interface GradientCheckResult {
  /** Elements compared against finite differences, over all inputs. */
  readonly checked: number;
  /** The largest relative error seen. */
  readonly maxError: number;
}

const nodeText = (node: CheckedNode) => `${node.op} node "${node.name}"`;

/**
 * Checks an op's backward against its forward, in float64: with seeded random output gradients g
 * and L = Σ out·g, the analytic dL/d(input) from trainOpCheck must match central finite
 * differences at every element (or a seeded sample of `maxElements` of a bigger input). With a
 * sparse weight mask, input 1 is checked at its active positions only, its gradient must be zero
 * elsewhere, and the outputs and the dense weight gradient must equal those of the dense op run
 * on the masked weight.
 */
export function checkOpGradients(
  addon: NativeTrainingAddon,
  node: CheckedNode,
  inputs: readonly CheckedTensor[],
  options: GradientCheckOptions = {},
): GradientCheckResult {
  const eps = options.eps ?? 1e-6;
  const tolerance = options.tolerance ?? 1e-6;
  const maxElements = options.maxElements ?? 200;
  const rnd = seededRandom(options.seed ?? 1);
  const mask = options.sparseWeightMask;
  const checkOptions = { outputCount: options.outputCount, sparseWeightMask: mask };

  const forward = (values: readonly CheckedTensor[]) => addon.trainOpCheck(node, values, checkOptions).outputs;
  const outputs = forward(inputs);
  const outputGrads = outputs.map((o) => randomTensor(o.shape, rnd).data);
  const loss = (values: readonly CheckedTensor[]) => {
    let sum = 0;
    forward(values).forEach((o, k) => {
      for (let i = 0; i < o.data.length; i++) sum += o.data[i] * outputGrads[k][i];
    });
    return sum;
  };
  const analytic = addon.trainOpCheck(node, inputs, { ...checkOptions, outputGrads });

  let checked = 0;
  let maxError = 0;
  inputs.forEach((input, index) => {
    if (options.skipInputs?.includes(index)) return;
    const grad = analytic.inputGrads[index];
    assert.ok(grad, `${nodeText(node)}: no gradient for input ${index}`);
    assert.deepEqual(grad.shape, input.shape, `${nodeText(node)}: shape of the gradient of input ${index}`);
    const sparse = index === 1 && mask !== undefined;
    let candidates = Array.from(input.data.keys());
    if (sparse) {
      candidates.forEach((e) => {
        if (!mask[e]) assert.equal(grad.data[e], 0, `${nodeText(node)}: gradient of the sparse weight at inactive element ${e}`);
      });
      candidates = candidates.filter((e) => mask[e]);
    }
    for (const e of sample(candidates, maxElements, rnd)) {
      const perturbed = (delta: number) => {
        const data = Float64Array.from(input.data);
        data[e] += delta;
        return inputs.map((t, k) => (k === index ? { shape: t.shape, data } : t));
      };
      const numeric = (loss(perturbed(eps)) - loss(perturbed(-eps))) / (2 * eps);
      const got = grad.data[e];
      const error = Math.abs(got - numeric) / Math.max(1, Math.abs(got), Math.abs(numeric));
      assert.ok(
        error <= tolerance,
        `${nodeText(node)}: gradient of input ${index} [${input.shape.join(', ')}] at element ${e}: ` +
          `analytic ${got}, finite difference ${numeric} (relative error ${error.toExponential(2)} > ${tolerance})`,
      );
      maxError = Math.max(maxError, error);
      checked++;
    }
  });

  if (mask) checkAgainstDenseOp(addon, node, inputs, mask, options.outputCount, outputs, outputGrads, analytic.denseWeightGrad);
  return { checked, maxError };
}

/** The sparse weight's outputs and dense gradient equal the dense op's on the masked weight. */
function checkAgainstDenseOp(
  addon: NativeTrainingAddon,
  node: CheckedNode,
  inputs: readonly CheckedTensor[],
  mask: Uint8Array,
  outputCount: number | undefined,
  sparseOutputs: readonly CheckedTensor[],
  outputGrads: readonly Float64Array[],
  denseWeightGrad: CheckedTensor | undefined,
): void {
  const weight = inputs[1];
  const masked = { shape: weight.shape, data: weight.data.map((v, i) => (mask[i] ? v : 0)) };
  const maskedInputs = inputs.map((t, k) => (k === 1 ? masked : t));
  const dense = addon.trainOpCheck(node, maskedInputs, { outputCount, outputGrads });
  dense.outputs.forEach((o, k) => assertAllClose(sparseOutputs[k].data, o.data, `${nodeText(node)}: sparse output ${k} vs dense`));
  assert.ok(denseWeightGrad, `${nodeText(node)}: no dense weight gradient for the sparse weight`);
  assert.deepEqual(denseWeightGrad.shape, weight.shape, `${nodeText(node)}: shape of the dense weight gradient`);
  const expected = dense.inputGrads[1];
  assert.ok(expected, `${nodeText(node)}: the dense op gives no gradient for its weight`);
  assertAllClose(denseWeightGrad.data, expected.data, `${nodeText(node)}: dense gradient of the sparse weight`);
}

/** Every |actual − expected| ≤ tolerance · max(1, |expected|). */
export function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tolerance = 1e-9): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    assert.ok(diff <= tolerance * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

/** All of `items`, or a seeded sample of `max` of them in ascending order. */
function sample(items: number[], max: number, rnd: () => number): number[] {
  if (items.length <= max) return items;
  const pool = [...items];
  for (let i = 0; i < max; i++) {
    const j = i + Math.floor(rnd() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, max).sort((a, b) => a - b);
}
