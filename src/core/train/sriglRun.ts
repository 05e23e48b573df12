/**
 * SRigL over a whole model during training (spec §2, §3.1): the masked layers with their planned
 * sparsity, the initial constant fan-in masks, and one mask update of every layer from the
 * weights after a step and the mean dense gradient of the last n_acc batches. Runs where the
 * training session runs (the job worker): arrays in storage order in, arrays out.
 */

import type { WeightLayout } from '../checkpoint';
import { NeuronView } from '../neuronView';
import { sriglLayerUpdate, type SriglLayerInput, type SriglLayerOptions, type SriglLayerUpdate } from './sriglUpdate';

/** One masked layer of a SRigL run. */
export interface SriglLayer {
  /** The initializer's name (a masked parameter of the training program). */
  readonly name: string;
  readonly shape: readonly number[];
  readonly layout: WeightLayout;
  /** The plan's sparsity s of the layer. */
  readonly sparsity: number;
  /** γ_sal, or null where the layer is never ablated (the last layer, `--no-ablation`, `--no-ablation-layers`). */
  readonly gammaSal: number | null;
}

/** What one layer's update did, for progress and the result (the update's figures without its arrays). */
export interface SriglLayerFigures extends Omit<SriglLayerUpdate, 'weights' | 'mask'> {
  readonly name: string;
  /** Active weights after the update. */
  readonly active: number;
}

/**
 * A layer's array in its [neurons, fan-in] view: storage order itself when the output axis comes
 * first (PyTorch's layout), else gathered through the view (an ONNX MatMul's [in, out]).
 */
function toView<T extends Float32Array | Uint8Array>(view: NeuronView, stored: T, make: (n: number) => T): T {
  if (view.rowMajor) return stored;
  const out = make(view.rows * view.cols);
  for (let r = 0, i = 0; r < view.rows; r++) for (let c = 0; c < view.cols; c++, i++) out[i] = stored[view.index(r, c)];
  return out;
}

function fromView<T extends Float32Array | Uint8Array>(view: NeuronView, viewed: T, make: (n: number) => T): T {
  if (view.rowMajor) return viewed;
  const out = make(view.rows * view.cols);
  for (let r = 0, i = 0; r < view.rows; r++) for (let c = 0; c < view.cols; c++, i++) out[view.index(r, c)] = viewed[i];
  return out;
}

const floats = (n: number) => new Float32Array(n);
const bytes = (n: number) => new Uint8Array(n);

/**
 * One layer's update on arrays in storage order; the result's arrays are in storage order too.
 * `update` does the work on the neuron view: the TypeScript reference, or the native addon's port
 * (same results to the bit, much faster on big layers) where the job worker has it.
 */
export function updateStoredLayer(
  layer: SriglLayer,
  weights: Float32Array,
  mask: Uint8Array,
  grads: Float32Array,
  dropFraction: number,
  update: (layer: SriglLayerInput, options: SriglLayerOptions) => SriglLayerUpdate = sriglLayerUpdate,
): { update: SriglLayerUpdate; figures: SriglLayerFigures } {
  const view = new NeuronView(layer.shape, layer.layout);
  const viewed = update(
    {
      rows: view.rows,
      cols: view.cols,
      weights: toView(view, weights, floats),
      mask: toView(view, mask, bytes),
      grads: toView(view, grads, floats),
    },
    { sparsity: layer.sparsity, dropFraction, gammaSal: layer.gammaSal },
  );
  const stored = { ...viewed, weights: fromView(view, viewed.weights, floats), mask: fromView(view, viewed.mask, bytes) };
  const active = view.rows === 0 ? 0 : (view.rows - viewed.ablated.length) * viewed.k;
  const { k, nKeep, nPrune, ablated, threshold, grown, dropped } = viewed;
  return { update: stored, figures: { name: layer.name, k, nKeep, nPrune, ablated, threshold, grown, dropped, active } };
}

/** A small seeded generator (mulberry32): random masks and initial weights repeat for a seed. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `--init random` (spec §2, `random_sparsify` with `grad_flow_init`): each neuron keeps k inputs
 * drawn at random (the first D − k of a random permutation turned off), and its active weights
 * are drawn from N(0, σ = 2/k) — the reference's σ, which is 2/k where the paper it cites has
 * √(2/k); its reported runs used it. Biases are left as they are. Storage order in and out.
 */
export function randomFanInInit(layer: SriglLayer, k: number, seed: number): { weights: Float32Array; mask: Uint8Array } {
  const view = new NeuronView(layer.shape, layer.layout);
  const random = seededRandom(seed);
  const n = view.rows * view.cols;
  const mask = new Uint8Array(n);
  const weights = new Float32Array(n);
  const order = new Uint32Array(view.cols);
  const sigma = 2 / k;
  for (let r = 0; r < view.rows; r++) {
    for (let c = 0; c < view.cols; c++) order[c] = c;
    for (let c = view.cols - 1; c > 0; c--) {
      const j = Math.floor(random() * (c + 1));
      [order[c], order[j]] = [order[j], order[c]];
    }
    for (let t = view.cols - k; t < view.cols; t++) {
      const i = view.index(r, order[t]);
      mask[i] = 1;
      // Box–Muller: one normal draw per active weight.
      const u = 1 - random();
      weights[i] = sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    }
  }
  return { weights, mask };
}
