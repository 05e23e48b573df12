/**
 * One SRigL mask update of one layer (spec §3.3, §3.4, §4; the reference's
 * `RigLConstFanScheduler._rigl_step`): drop the smallest |W| over the layer, ablate neurons with
 * too few salient weights, regrow every surviving neuron to the same fan-in k by dense-gradient
 * magnitude. Pure: arrays in, arrays out, on the [neurons, fan-in] view (row r = output neuron r,
 * its columns the flattened input × kernel block in C order).
 *
 * Decisions where the reference is silent or arbitrary (spec §9):
 * - Ties: every top-k ranks by score descending, then flat index ascending (torch.topk leaves
 *   their order unspecified).
 * - A row holding more than k kept weights (after a revival lowered k) keeps its lowest column
 *   indices, as the reference's stable sort of a bool mask does: `srigl-step` then reproduces
 *   the authors' code exactly, which is what it is for; it only happens on revivals.
 * - Floors everywhere: n_prune = int(n_ones · f), k = int(numel · (1 − s)) // active rows.
 */

import { ablationOf } from '../analysis/ablation';

export interface SriglLayerInput {
  /** Output neurons. */
  readonly rows: number;
  /** Dense fan-in D: weights per neuron. */
  readonly cols: number;
  /** [rows, cols] row-major; only positions in `mask` count (others are read as 0). */
  readonly weights: Float32Array;
  /** 1 = active. */
  readonly mask: Uint8Array;
  /** The dense (unmasked) gradient, [rows, cols]. */
  readonly grads: Float32Array;
}

export interface SriglLayerOptions {
  /** The layer's target sparsity s in (0, 1). */
  readonly sparsity: number;
  /** f: the share of the active weights dropped. */
  readonly dropFraction: number;
  /** γ_sal (a count when ≥ 1, else a share of k0); null: no ablation (the last layer, `--no-ablation`). */
  readonly gammaSal: number | null;
}

export interface SriglLayerUpdate {
  /** The new weights [rows, cols]: kept and dropped-then-regrown keep their values; newly grown are 0; inactive 0. */
  readonly weights: Float32Array;
  readonly mask: Uint8Array;
  /** The fan-in of every active neuron after the update. */
  readonly k: number;
  readonly nKeep: number;
  readonly nPrune: number;
  /** Ablated neurons, ascending (their rows are all 0). */
  readonly ablated: readonly number[];
  /** The salient-weight count a neuron needed to stay (null without ablation). */
  readonly threshold: number | null;
  /** Positions active now that were not before: the weights moved. */
  readonly grown: number;
  /** Positions active before that are not now. */
  readonly dropped: number;
}

/** The update cannot be done as the spec says (k = 0, or k above the dense fan-in): a user's setting, said in words. */
export class SriglUpdateError extends Error {}

/** int(numel · (1 − s)): the non-zeros a layer of sparsity s may hold. */
export function allowedNonZeros(numel: number, sparsity: number): number {
  return Math.floor(numel * (1 - sparsity));
}

/** The constant fan-in with `active` neurons left (the reference's get_fan_in_after_ablation). */
export function fanInAfterAblation(numel: number, sparsity: number, active: number): number {
  return active > 0 ? Math.floor(allowedNonZeros(numel, sparsity) / active) : 0;
}

/**
 * Marks in `out` the n positions of largest |scores| (of a [rows, cols] array, leaving out the
 * `excluded` rows); ties go to the lower index. Linear time: a histogram of the high 16 bits of the
 * float32 magnitudes finds the bin of the n-th largest, one of the low 16 bits inside it the exact
 * value, then one pass marks everything above it and the first ties.
 */
export function markTopMagnitudes(scores: Float32Array, n: number, out: Uint8Array, excluded?: { rows: Uint8Array; cols: number }): void {
  if (n <= 0) return;
  const keys = new Uint32Array(scores.length);
  const use = new Uint8Array(scores.length);
  let available = 0;
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  const rowLength = excluded?.cols ?? scores.length;
  for (let start = 0, row = 0; start < scores.length; start += rowLength, row++) {
    if (excluded?.rows[row]) continue;
    for (let i = start; i < start + rowLength; i++) {
      keys[i] = bits[i] & 0x7fffffff; // |v| as float32 bits
      if (keys[i] > 0x7f800000) throw new SriglUpdateError(`a score is NaN at position ${i}`);
      use[i] = 1;
    }
    available += rowLength;
  }
  if (n > available) throw new SriglUpdateError(`cannot pick ${n} positions out of ${available}`);
  const high = new Uint32Array(65536);
  for (let i = 0; i < keys.length; i++) if (use[i]) high[keys[i] >>> 16]++;
  let above = 0;
  let hi = 65535;
  for (; hi > 0 && above + high[hi] < n; hi--) above += high[hi];
  const low = new Uint32Array(65536);
  for (let i = 0; i < keys.length; i++) if (use[i] && keys[i] >>> 16 === hi) low[keys[i] & 0xffff]++;
  let lo = 65535;
  for (; lo > 0 && above + low[lo] < n; lo--) above += low[lo];
  const threshold = ((hi << 16) | lo) >>> 0;
  let ties = n - above;
  for (let i = 0; i < keys.length; i++) {
    if (!use[i] || keys[i] < threshold) continue;
    if (keys[i] > threshold) out[i] = 1;
    else if (ties > 0) {
      out[i] = 1;
      ties--;
    }
  }
}

/**
 * Column indices of a row's `count` largest |scores| among columns not `taken`; ties to the lower
 * column. One pass keeping the best `count` in order: columns come ascending, so an equal score
 * never displaces an earlier column.
 */
function topColumns(scores: Float32Array, rowStart: number, cols: number, taken: Uint8Array, count: number): number[] {
  const best: number[] = [];
  const score = (c: number) => Math.abs(scores[rowStart + c]);
  for (let c = 0; c < cols; c++) {
    if (taken[rowStart + c]) continue;
    const v = score(c);
    if (best.length === count && v <= score(best[count - 1])) continue;
    let at = best.length === count ? count - 1 : best.length;
    while (at > 0 && score(best[at - 1]) < v) at--;
    if (best.length === count) best.pop();
    best.splice(at, 0, c);
  }
  return best;
}

/** One SRigL update of one layer (see the file's comment). */
export function sriglLayerUpdate(layer: SriglLayerInput, options: SriglLayerOptions): SriglLayerUpdate {
  const { rows, cols, mask, grads } = layer;
  const numel = rows * cols;
  if (layer.weights.length !== numel || mask.length !== numel || grads.length !== numel)
    throw new SriglUpdateError(`weights, mask and gradient must each hold ${rows} × ${cols} values`);
  const weights = new Float32Array(numel);
  for (let i = 0; i < numel; i++) {
    if (mask[i]) weights[i] = layer.weights[i];
    if (!Number.isFinite(grads[i]))
      throw new SriglUpdateError(`the gradient is not finite at row ${Math.floor(i / cols)}, column ${i % cols}`);
  }

  // Step 2: how many to keep, corrected when fewer weights are non-zero.
  let nOnes = 0;
  let nonZero = 0;
  for (let i = 0; i < numel; i++) {
    nOnes += mask[i];
    if (weights[i] !== 0) nonZero++;
  }
  let nPrune = Math.floor(nOnes * options.dropFraction);
  let nKeep = nOnes - nPrune;
  if (nonZero < nKeep) {
    nKeep = nonZero;
    nPrune = nOnes - nKeep;
  }

  // Step 3, §4: ablation from the salient weights (top-n_keep |W| ∪ top-n_prune |G|, active positions included).
  const nMax = allowedNonZeros(numel, options.sparsity);
  let ablated: readonly number[] = [];
  let threshold: number | null = null;
  if (options.gammaSal !== null && options.sparsity > 0) {
    const salientMask = new Uint8Array(numel);
    markTopMagnitudes(weights, nKeep, salientMask);
    markTopMagnitudes(grads, nPrune, salientMask);
    const salient = new Uint32Array(rows);
    for (let r = 0, i = 0; r < rows; r++) for (let c = 0; c < cols; c++, i++) salient[r] += salientMask[i];
    const ablation = ablationOf(salient, salient, nMax, cols, options.gammaSal);
    ablated = ablation.candidates;
    threshold = ablation.threshold;
  }
  const isAblated = new Uint8Array(rows);
  for (const r of ablated) isAblated[r] = 1;

  // Step 4: the new constant fan-in, the ablated neurons' budget shared by the others.
  const k = fanInAfterAblation(numel, options.sparsity, rows - ablated.length);
  if (k === 0)
    throw new SriglUpdateError(
      `a sparsity of ${options.sparsity} leaves no weight per neuron (${nMax} weights for ${rows - ablated.length} neurons): reduce the sparsity or widen the layer`,
    );
  if (k > cols) throw new SriglUpdateError(`the fan-in ${k} exceeds the ${cols} inputs of a neuron: too many neurons ablated`);

  // Step 5: keep the global top-n_keep |W|, ablated rows ranked below every other position (the
  // reference lowers their scores to min − 1; the minimum-neurons guard leaves enough others).
  const keep = new Uint8Array(numel);
  markTopMagnitudes(weights, nKeep, keep, { rows: isAblated, cols });
  const kept = new Uint32Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (!keep[i]) continue;
      if (kept[r] < k) kept[r]++;
      else keep[i] = 0; // more than k kept: the lowest columns stay (the reference's truncation)
    }
  }

  // Step 6: grow every surviving row to exactly k by |G|, positions dropped in this update eligible.
  const newMask = keep;
  for (let r = 0; r < rows; r++) {
    if (isAblated[r] || kept[r] >= k) continue;
    for (const c of topColumns(grads, r * cols, cols, keep, k - kept[r])) newMask[r * cols + c] = 1;
  }

  // Step 7: newly grown weights start at 0; dropped-and-regrown keep their value.
  let grown = 0;
  let dropped = 0;
  const newWeights = new Float32Array(numel);
  for (let i = 0; i < numel; i++) {
    if (newMask[i] && !mask[i]) grown++;
    if (!newMask[i] && mask[i]) dropped++;
    newWeights[i] = newMask[i] && mask[i] ? weights[i] : 0;
  }
  return { weights: newWeights, mask: newMask, k, nKeep, nPrune, ablated, threshold, grown, dropped };
}
