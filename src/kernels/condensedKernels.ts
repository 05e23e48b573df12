/** SRigL's condensed representation of constant fan-in layers, and the dense layer it replaces. */
export interface CondensedKernels {
  /** Condenses a float32 [out, in] weight whose non-zero rows share one fan-in. */
  condense(weight: Float32Array, outFeatures: number, inFeatures: number): Promise<CondensedLayer>;
  /** y[batch, out] = x[batch, in] · Wᵀ + b with a condensed W. */
  condensedForward(layer: CondensedLayer, bias: Float32Array | null, x: Float32Array, batch: number): Promise<Float32Array>;
  /** y[batch, out] = x[batch, in] · Wᵀ + b with a dense W [out, in]. */
  denseForward(
    weight: Float32Array,
    bias: Float32Array | null,
    outFeatures: number,
    inFeatures: number,
    x: Float32Array,
    batch: number,
  ): Promise<Float32Array>;
}

/** A constant fan-in layer stored as its non-zeros only. */
export interface CondensedLayer {
  readonly outFeatures: number;
  readonly inFeatures: number;
  /** The common fan-in of the active neurons. */
  readonly k: number;
  /** Output neurons that are not all-zero, ascending. */
  readonly activeRows: Int32Array;
  /** [activeRows.length, k], row-major. */
  readonly values: Float32Array;
  /** Input index of each value, ascending within a row. */
  readonly indices: Int32Array;
}
