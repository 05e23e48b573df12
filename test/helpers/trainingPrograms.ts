import { strict as assert } from 'node:assert';
import type { ProgramNode, ProgramParam, TrainingProgram } from '../../src/kernels/native/bindings/training';
import { seededRandom } from './random';

/** Small training programs and the references the session tests check them against. */

export function randomArray(n: number, rnd: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * scale);
}

export function param(value: number, name: string, shape: number[], data: Float32Array, mask?: Uint8Array): ProgramParam {
  return { value, name, shape, data, trainable: true, ...(mask ? { mask } : {}) };
}

/** x [B, 6] → Gemm (W1 [8, 6], transB) → Relu → MatMul (W2 [8, 3]) → Add b2 → logits [B, 3]. */
export function mlpProgram(seed: number, masks: { w1?: Uint8Array; w2?: Uint8Array } = {}, sparseDensity?: number): TrainingProgram {
  const rnd = seededRandom(seed);
  const nodes: ProgramNode[] = [
    { op: 'Gemm', name: 'fc1', inputs: [0, 1, 2], outputs: [3], ints: { transB: 1 } },
    { op: 'Relu', name: 'relu', inputs: [3], outputs: [4] },
    { op: 'MatMul', name: 'fc2', inputs: [4, 5], outputs: [6] },
    { op: 'Add', name: 'bias2', inputs: [6, 7], outputs: [8] },
  ];
  return {
    valueCount: 9,
    input: 0,
    output: 8,
    sampleShape: [6],
    nodes,
    params: [
      param(1, 'fc1.weight', [8, 6], randomArray(48, rnd, 0.5), masks.w1),
      param(2, 'fc1.bias', [8], randomArray(8, rnd, 0.1)),
      param(5, 'fc2.weight', [8, 3], randomArray(24, rnd, 0.5), masks.w2),
      param(7, 'fc2.bias', [3], randomArray(3, rnd, 0.1)),
    ],
    ...(sparseDensity === undefined ? {} : { sparseDensity }),
  };
}

export function batchOf(seed: number, batch: number, features: number, classes: number) {
  const rnd = seededRandom(seed);
  return { x: randomArray(batch * features, rnd), labels: Int32Array.from({ length: batch }, () => Math.floor(rnd() * classes)) };
}

/** The cross-entropy gradient of logits = x · Wᵀ + b, in double: dW [C, F] and db [C]. */
export function linearGradient(
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  x: Float32Array,
  labels: Int32Array,
  classes: number,
  features: number,
) {
  const batch = labels.length;
  const dW = new Float64Array(classes * features);
  const db = new Float64Array(classes);
  for (let s = 0; s < batch; s++) {
    const z = Array.from({ length: classes }, (_, c) => {
      let sum = b[c];
      for (let f = 0; f < features; f++) sum += w[c * features + f] * x[s * features + f];
      return sum;
    });
    const top = Math.max(...z);
    const total = z.reduce((acc, v) => acc + Math.exp(v - top), 0);
    for (let c = 0; c < classes; c++) {
      const d = (Math.exp(z[c] - top) / total - (c === labels[s] ? 1 : 0)) / batch;
      db[c] += d;
      for (let f = 0; f < features; f++) dW[c * features + f] += d * x[s * features + f];
    }
  }
  return { dW, db };
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tolerance: number): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

/** A 0/1 mask with exactly `active` ones among n, at seeded positions. */
export function maskWith(n: number, active: number, seed: number): Uint8Array {
  const rnd = seededRandom(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const mask = new Uint8Array(n);
  order.slice(0, active).forEach((i) => (mask[i] = 1));
  return mask;
}
