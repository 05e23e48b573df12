/** Per-neuron fan-in of one linear or conv weight, summarised. */
export interface FanInSummary {
  /** Fan-in of a dense neuron: the number of weights per output neuron. */
  readonly dense: number;
  readonly min: number;
  readonly max: number;
  /** Mean over all neurons, all-zero ones included (= nnz / neurons). */
  readonly mean: number;
  /** True when every neuron that is not all-zero has the same fan-in: the SRigL structure. */
  readonly constant: boolean;
  /** That common fan-in when `constant`, else null. */
  readonly k: number | null;
  /** Neurons whose weights are all zero (ablated or dead). */
  readonly zeroNeurons: number;
}

export function summarizeFanIn(counts: Uint32Array, dense: number): FanInSummary {
  let min = Infinity;
  let max = 0;
  let sum = 0;
  let zeroNeurons = 0;
  let activeMin = Infinity;
  let activeMax = 0;
  for (const c of counts) {
    sum += c;
    if (c < min) min = c;
    if (c > max) max = c;
    if (c === 0) zeroNeurons++;
    else {
      if (c < activeMin) activeMin = c;
      if (c > activeMax) activeMax = c;
    }
  }
  const constant = zeroNeurons < counts.length && activeMin === activeMax;
  return {
    dense,
    min: counts.length ? min : 0,
    max,
    mean: counts.length ? sum / counts.length : 0,
    constant,
    k: constant ? activeMax : null,
    zeroNeurons,
  };
}
