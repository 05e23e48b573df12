import { numelOf } from '../../core/checkpoint';
import { kernelPositionOffsets, NeuronView, stridesOf } from '../../core/neuronView';
import { checkNmPattern, type NmPattern } from '../../core/nmPattern';
import type { WeightRef } from '../kernels';
import type { MaskKernels } from '../maskKernels';
import { ranksBefore, readValues } from './tensorView';

/**
 * Keeps in `mask` the `keep` best-ranked of `count` candidate indices (insertion into a sorted
 * prefix: groups are small, and this allocates nothing per group).
 */
function keepBest(mask: Uint8Array, values: Float64Array, candidates: Int32Array, count: number, keep: number, best: Int32Array): void {
  let kept = 0;
  for (let i = 0; i < count; i++) {
    const c = candidates[i];
    let at = kept;
    while (at > 0 && ranksBefore(values, c, best[at - 1]) < 0) at--;
    if (at >= keep) continue;
    for (let j = Math.min(kept, keep - 1); j > at; j--) best[j] = best[j - 1];
    best[at] = c;
    if (kept < keep) kept++;
  }
  for (let i = 0; i < kept; i++) mask[best[i]] = 1;
}

/**
 * N:M mask: in every group of M consecutive inputs (along the layout's input axis, all other
 * indices fixed, as NVIDIA ASP groups conv input channels) keep the N largest |w|. A trailing
 * group shorter than M keeps min(N, its size), as ASP's zero padding does.
 */
export async function referenceNmMask(tensor: WeightRef, nm: NmPattern, signal?: AbortSignal): Promise<Uint8Array> {
  checkNmPattern(nm);
  const values = await readValues(tensor, signal);
  const { shape, layout } = tensor;
  const mask = new Uint8Array(values.length);
  const inStride = stridesOf(shape)[layout.inAxis];
  const inDim = shape[layout.inAxis];
  const block = inDim * inStride;
  const group = new Int32Array(nm.m);
  const best = new Int32Array(nm.n);
  for (let blockStart = 0; blockStart < values.length; blockStart += block) {
    for (let p = 0; p < inStride; p++) {
      for (let g = 0; g < inDim; g += nm.m) {
        const size = Math.min(nm.m, inDim - g);
        for (let j = 0; j < size; j++) group[j] = blockStart + (g + j) * inStride + p;
        keepBest(mask, values, group, size, nm.n, best);
      }
    }
  }
  return mask;
}

/** Constant fan-in mask: every output neuron keeps its k largest |w| (SRigL's structure). */
export async function referenceFanInMask(tensor: WeightRef, k: number, signal?: AbortSignal): Promise<Uint8Array> {
  if (!Number.isInteger(k) || k < 0) throw new RangeError(`fan-in k must be a whole number >= 0, not ${k}`);
  const values = await readValues(tensor, signal);
  const view = new NeuronView(tensor.shape, tensor.layout);
  const mask = new Uint8Array(numelOf(tensor.shape));
  const neuron = new Int32Array(view.cols);
  const keep = Math.min(k, view.cols);
  for (let r = 0; r < view.rows; r++) {
    for (let c = 0; c < view.cols; c++) neuron[c] = view.index(r, c);
    const order = Array.from(neuron).sort((a, b) => ranksBefore(values, a, b));
    for (let i = 0; i < keep; i++) mask[order[i]] = 1;
  }
  return mask;
}

/** The 16 entries of a 4 × 4 block, row-major: entry i is at row i >> 2, column i & 3. */
const BLOCK_ENTRIES = Array.from({ length: 16 }, (_, i) => i);

/**
 * ASP's m4n2_2d greedy (spec §7.2): in every 4 × 4 block of 4 outputs × 4 input channels at one
 * kernel position (ASP's (R·S·K, C) view of a conv), entries are visited best-ranked first and
 * kept while their row and their column hold fewer than 2 kept. ASP's argsort leaves ties
 * unordered; here they go to the lower storage index, as in the other masks.
 */
export async function referenceTransposableMask(tensor: WeightRef, signal?: AbortSignal): Promise<Uint8Array> {
  const { shape, layout } = tensor;
  const [outs, ins] = [shape[layout.outAxis], shape[layout.inAxis]];
  if (outs % 4 !== 0 || ins % 4 !== 0)
    throw new RangeError(`transposable 2:4 needs whole 4 × 4 blocks, not [${outs} outputs, ${ins} inputs]`);
  const values = await readValues(tensor, signal);
  const strides = stridesOf(shape);
  const [outStride, inStride] = [strides[layout.outAxis], strides[layout.inAxis]];
  const mask = new Uint8Array(values.length);
  const block = new Array<number>(16);
  const keptInRow = new Uint8Array(4);
  const keptInCol = new Uint8Array(4);
  for (const position of kernelPositionOffsets(shape, layout.outAxis, layout.inAxis)) {
    for (let o = 0; o < outs; o += 4) {
      for (let c = 0; c < ins; c += 4) {
        for (let i = 0; i < 16; i++) block[i] = position + (o + (i >> 2)) * outStride + (c + (i & 3)) * inStride;
        keptInRow.fill(0);
        keptInCol.fill(0);
        for (const i of [...BLOCK_ENTRIES].sort((a, b) => ranksBefore(values, block[a], block[b]))) {
          if (keptInRow[i >> 2] < 2 && keptInCol[i & 3] < 2) {
            mask[block[i]] = 1;
            keptInRow[i >> 2]++;
            keptInCol[i & 3]++;
          }
        }
      }
    }
  }
  return mask;
}

export const referenceMaskKernels: MaskKernels = {
  nmMask: referenceNmMask,
  fanInMask: referenceFanInMask,
  transposableMask: referenceTransposableMask,
};
