import type { NeuronView } from '../neuronView';

/**
 * SRigL's neuron ablation (spec §4) as a checkpoint can show it: salient weights are the top-n
 * |W| of the layer only, since a checkpoint holds no gradients (the reference adds the top
 * gradients of the mask update).
 */
export interface Ablation {
  readonly gammaSal: number;
  /** Salient weights a neuron needs to stay: γ when γ ≥ 1, else max(1, int(γ · k0)), lowered by the minimum-neurons guard. */
  readonly threshold: number;
  /** Rows with fewer salient weights than the threshold, ascending. */
  readonly candidates: readonly number[];
  /** All-zero rows now. */
  readonly dead: readonly number[];
  /** n // (n_out − candidates): the fan-in the surviving neurons would get. */
  readonly kAfterAblation: number;
  /** Weights of the ablated rows (candidates × dense fan-in). */
  readonly savedParameters: number;
  /**
   * Where the graph shows the next layer: its input columns fed by the ablated neurons (candidates ×
   * its kernel positions), which go too, and their weights.
   */
  readonly nextLayer?: { readonly name: string; readonly inputColumns: number; readonly savedParameters: number };
  /**
   * Multiply-accumulates a dense forward pass saves per sample (this layer's ablated rows and the
   * next layer's columns), for linear layers; null for conv, whose count scales with activation
   * sizes a checkpoint does not hold; absent without a known next layer.
   */
  readonly savedMacsPerSample?: number | null;
  readonly note: string;
}

export const ABLATION_NOTE = 'saliency from |W| only: no gradients in a checkpoint';

/** The reference's γ_sal for CNNs (ResNet, WRN); ViTs used 0.95. */
export const DEFAULT_GAMMA_SAL = 0.3;

/**
 * Ablation candidates of one layer from its salient weights per row (`salient`, length n_out),
 * its non-zeros per row (`fanIn`), n = int(numel · (1 − s)) and the dense fan-in.
 */
export function ablationOf(salient: Uint32Array, fanIn: Uint32Array, n: number, denseFanIn: number, gammaSal: number): Ablation {
  const rows = salient.length;
  const k0 = Math.floor(n / rows);
  let threshold = gammaSal >= 1 ? gammaSal : Math.max(1, Math.floor(gammaSal * k0));
  // The minimum-neurons guard: at least min_neurons + 1 neurons survive, so k stays ≤ the dense fan-in.
  const minNeurons = Math.floor(n / denseFanIn);
  const ranked = Array.from(salient).sort((a, b) => b - a);
  if (minNeurons < rows && ranked[minNeurons] < threshold) threshold = ranked[minNeurons];
  const candidates: number[] = [];
  const dead: number[] = [];
  for (let i = 0; i < rows; i++) {
    if (salient[i] < threshold) candidates.push(i);
    if (fanIn[i] === 0) dead.push(i);
  }
  return {
    gammaSal,
    threshold,
    candidates,
    dead,
    kAfterAblation: Math.floor(n / (rows - candidates.length)),
    savedParameters: candidates.length * denseFanIn,
    note: ABLATION_NOTE,
  };
}

/** Magnitudes as float32 bit patterns: for non-negative floats their order is the order of the numbers. */
const f32 = new Float32Array(1);
const bits = new Uint32Array(f32.buffer);
function magnitudeBits(v: number): number {
  f32[0] = Math.abs(v);
  return bits[0];
}

/**
 * Salient weights per row: the top-n |W| of the layer, ties taken in row-major order of the
 * neuron view (lower flat index first, as a stable sort of torch's [out, in, …] layout). Three
 * passes over `values()` (chunks of the tensor in storage order): a histogram of the high 16
 * bits of |w| as float32, one of the low 16 bits inside the bin that holds the n-th largest, then
 * the count per row. Magnitudes compare as float32 (exact for float32, float16 and bfloat16
 * weights; float64 ones are rounded first).
 */
export async function salientPerRow(
  values: () => AsyncIterable<{ values: Float64Array; first: number; count: number }>,
  view: NeuronView,
  n: number,
): Promise<Uint32Array> {
  const counts = new Uint32Array(view.rows);
  if (n <= 0) return counts;
  // Pass 1: which high half holds the n-th largest magnitude.
  const high = new Float64Array(65536);
  for await (const chunk of values()) for (let i = 0; i < chunk.count; i++) high[magnitudeBits(chunk.values[i]) >>> 16]++;
  let above = 0;
  let hi = 65535;
  for (; hi > 0 && above + high[hi] < n; hi--) above += high[hi];
  // Pass 2: the exact threshold inside it.
  const low = new Float64Array(65536);
  for await (const chunk of values()) {
    for (let i = 0; i < chunk.count; i++) {
      const b = magnitudeBits(chunk.values[i]);
      if (b >>> 16 === hi) low[b & 0xffff]++;
    }
  }
  let lo = 65535;
  for (; lo > 0 && above + low[lo] < n; lo--) above += low[lo];
  const threshold = ((hi << 16) | lo) >>> 0;
  // Pass 3: everything above the threshold, then `ties` of the weights equal to it, first in row-major order.
  let ties = n - above;
  const tiePositions: number[] = [];
  for await (const chunk of values()) {
    for (let i = 0; i < chunk.count; i++) {
      const b = magnitudeBits(chunk.values[i]);
      if (b < threshold) continue;
      const at = chunk.first + i;
      if (b > threshold) counts[view.position(at).row]++;
      else if (!view.rowMajor) tiePositions.push(at);
      else if (ties > 0) {
        counts[Math.floor(at / view.cols)]++;
        ties--;
      }
    }
  }
  if (!view.rowMajor) {
    const ordered = tiePositions.map((at) => view.position(at)).sort((a, b) => a.row - b.row || a.col - b.col);
    for (const { row } of ordered.slice(0, ties)) counts[row]++;
  }
  return counts;
}
