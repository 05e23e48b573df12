import type { CondensedKernels, CondensedLayer } from '../condensedKernels';

function isNonZero(v: number): boolean {
  return !(v === 0); // -0.0 is zero, NaN is not
}

/** SRigL's condensed form of a float32 [out, in] weight whose non-zero rows share one fan-in. */
export function referenceCondense(weight: Float32Array, outFeatures: number, inFeatures: number): CondensedLayer {
  if (weight.length !== outFeatures * inFeatures) {
    throw new RangeError(`weight has ${weight.length} values, not ${outFeatures}×${inFeatures}`);
  }
  let k = 0;
  const active: number[] = [];
  for (let r = 0; r < outFeatures; r++) {
    let count = 0;
    for (let c = 0; c < inFeatures; c++) if (isNonZero(weight[r * inFeatures + c])) count++;
    if (count === 0) continue;
    if (active.length === 0) k = count;
    else if (count !== k) throw new Error(`not constant fan-in: row ${r} has ${count} non-zeros, expected ${k}`);
    active.push(r);
  }
  const values = new Float32Array(active.length * k);
  const indices = new Int32Array(active.length * k);
  active.forEach((r, a) => {
    let at = a * k;
    for (let c = 0; c < inFeatures; c++) {
      const v = weight[r * inFeatures + c];
      if (isNonZero(v)) {
        values[at] = v;
        indices[at++] = c;
      }
    }
  });
  return { outFeatures, inFeatures, k, activeRows: Int32Array.from(active), values, indices };
}

export function referenceCondensedForward(layer: CondensedLayer, bias: Float32Array | null, x: Float32Array, batch: number): Float32Array {
  const { outFeatures, inFeatures, k, activeRows, values, indices } = layer;
  const y = new Float32Array(batch * outFeatures);
  for (let b = 0; b < batch; b++) {
    if (bias) y.set(bias, b * outFeatures);
    for (let a = 0; a < activeRows.length; a++) {
      let sum = 0;
      for (let j = 0; j < k; j++) sum += values[a * k + j] * x[b * inFeatures + indices[a * k + j]];
      y[b * outFeatures + activeRows[a]] += sum;
    }
  }
  return y;
}

export function referenceDenseForward(
  weight: Float32Array,
  bias: Float32Array | null,
  outFeatures: number,
  inFeatures: number,
  x: Float32Array,
  batch: number,
): Float32Array {
  const y = new Float32Array(batch * outFeatures);
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < outFeatures; o++) {
      let sum = bias ? bias[o] : 0;
      for (let i = 0; i < inFeatures; i++) sum += weight[o * inFeatures + i] * x[b * inFeatures + i];
      y[b * outFeatures + o] = sum;
    }
  }
  return y;
}

export const referenceCondensedKernels: CondensedKernels = {
  condense: async (weight, outFeatures, inFeatures) => referenceCondense(weight, outFeatures, inFeatures),
  condensedForward: async (layer, bias, x, batch) => referenceCondensedForward(layer, bias, x, batch),
  denseForward: async (...args) => referenceDenseForward(...args),
};
