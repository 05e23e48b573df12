import type { NmPattern } from '../nmPattern';
import type { LayerReport, SparsityReport } from './report';

const grouped = new Intl.NumberFormat('en-US');

/**
 * What a user should look at in a weight tensor, one sentence each: fan-in that is not constant
 * (SRigL's structure is), dead neurons, groups that break the N:M pattern. Empty for other tensors
 * and for dense weights: a layer nobody pruned is not an N:M problem in itself (the summary's
 * compliance figures still count its groups).
 */
export function layerProblems(l: LayerReport, nm: NmPattern): string[] {
  const out: string[] = [];
  if (!l.fanIn) return out;
  const neurons = l.fanIn.dense > 0 ? Math.round(l.numel / l.fanIn.dense) : 0;
  if (!l.fanIn.constant && l.fanIn.zeroNeurons < neurons) {
    out.push(`Fan-in is not constant: ${l.fanIn.min}–${l.fanIn.max} non-zeros per neuron`);
  }
  if (l.fanIn.zeroNeurons > 0) {
    out.push(`${grouped.format(l.fanIn.zeroNeurons)} dead neuron${l.fanIn.zeroNeurons === 1 ? '' : 's'} (all-zero rows)`);
  }
  if (l.nm && l.nm.compliant < l.nm.groups && l.nnz < l.numel) {
    const bad = l.nm.groups - l.nm.compliant;
    out.push(`${grouped.format(bad)} of ${grouped.format(l.nm.groups)} ${nm.n}:${nm.m} groups have more than ${nm.n} non-zeros`);
  }
  return out;
}

/** Whole-model structure figures over the linear and conv weights. */
export interface WeightStructure {
  readonly weightLayers: number;
  readonly constantFanIn: number;
  /** Weight tensors all of whose full N:M groups comply (and that have some). */
  readonly nmCompliantLayers: number;
  readonly nmGroups: number;
  readonly nmCompliant: number;
  readonly nmPartial: number;
  readonly deadNeurons: number;
}

export function weightStructure(layers: SparsityReport['layers']): WeightStructure {
  let weightLayers = 0,
    constantFanIn = 0,
    nmCompliantLayers = 0,
    nmGroups = 0,
    nmCompliant = 0,
    nmPartial = 0,
    deadNeurons = 0;
  for (const l of layers) {
    if (!l.fanIn) continue;
    weightLayers++;
    if (l.fanIn.constant) constantFanIn++;
    deadNeurons += l.fanIn.zeroNeurons;
    if (l.nm) {
      nmGroups += l.nm.groups;
      nmCompliant += l.nm.compliant;
      nmPartial += l.nm.partial;
      if (l.nm.groups > 0 && l.nm.compliant === l.nm.groups) nmCompliantLayers++;
    }
  }
  return { weightLayers, constantFanIn, nmCompliantLayers, nmGroups, nmCompliant, nmPartial, deadNeurons };
}
