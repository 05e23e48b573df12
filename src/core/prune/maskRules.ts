import type { TensorEntry } from '../checkpoint';
import { kernelPositionOffsets, stridesOf } from '../neuronView';
import type { PruneRule } from './pruneSelection';

/**
 * Checks a keep mask (1 = keep, storage order) against its rule, independently of the kernel that
 * made it: at most N kept in every group of M inputs; for transposable 2:4 at most 2 in every row
 * and column of every 4 × 4 block; at most k in every output neuron. Returns what is wrong, or
 * undefined.
 */
export function checkMask(mask: Uint8Array, weight: Pick<TensorEntry, 'shape' | 'layout'>, rule: PruneRule): string | undefined {
  const { shape, layout } = weight;
  if (!layout) return 'it has no layout';
  const strides = stridesOf(shape);
  const [outStride, inStride] = [strides[layout.outAxis], strides[layout.inAxis]];
  const [outs, ins] = [shape[layout.outAxis], shape[layout.inAxis]];
  const positions = kernelPositionOffsets(shape, layout.outAxis, layout.inAxis);
  const kept = (o: number, c: number, p: number) => mask[p + o * outStride + c * inStride];
  for (let o = 0; o < outs; o++) {
    if (rule.kind === 'fanIn') {
      let count = 0;
      for (const p of positions) for (let c = 0; c < ins; c++) count += kept(o, c, p);
      if (count > rule.k) return `output ${o} keeps ${count} weights, over k = ${rule.k}`;
      continue;
    }
    for (const p of positions) {
      for (let g = 0; g < ins; g += rule.m) {
        let count = 0;
        for (let c = g; c < Math.min(ins, g + rule.m); c++) count += kept(o, c, p);
        if (count > rule.n) return `output ${o} keeps ${count} of inputs ${g}..${g + rule.m - 1}, over ${rule.n}`;
      }
      // Columns of transposable blocks: 4 outputs at one input, checked once per block of rows.
      if (rule.kind === 'nm' && rule.transposable && o % 4 === 0) {
        for (let c = 0; c < ins; c++) {
          let count = 0;
          for (let r = o; r < Math.min(outs, o + 4); r++) count += kept(r, c, p);
          if (count > 2) return `input ${c} keeps ${count} of outputs ${o}..${o + 3}, over 2`;
        }
      }
    }
  }
  return undefined;
}
