import type { CheckpointPlan } from '../analysis/checkpointPlan';
import type { CheckpointAnalysis, LayerReport } from '../analysis/report';
import type { DType } from '../dtype';
import { printable } from '../errors';
import type { NmPattern } from '../nmPattern';

/** How one layer is pruned. */
export type PruneRule =
  /** The N largest |w| of every group of M inputs (NVIDIA ASP m4n2_1d); `transposable`: ASP's m4n2_2d greedy, 2:4 along rows and columns of every 4 × 4 block. */
  | { readonly kind: 'nm'; readonly n: number; readonly m: number; readonly transposable: boolean }
  /** The k largest |w| of every output neuron: constant fan-in, SRigL's structure. */
  | { readonly kind: 'fanIn'; readonly k: number };

export interface LayerToPrune {
  readonly name: string;
  readonly rule: PruneRule;
}

export interface SkippedLayer {
  readonly name: string;
  readonly reason: string;
}

/** The layers a prune command changes, and those it leaves as they are with the reason. */
export interface PruneSelection {
  readonly layers: readonly LayerToPrune[];
  readonly skipped: readonly SkippedLayer[];
}

/** Which weights a user asked for: `--include` (all when empty) minus `--exclude`, by file name or display name. */
export interface LayerFilter {
  readonly include: readonly RegExp[];
  readonly exclude: readonly RegExp[];
}

/** Element types whose zero is a plain value: pruning writes ±0 and keeps every other bit. */
export const PRUNABLE_DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'float64'];

/** A prune the user asked for that cannot be done as asked (the CLI's exit code 2). */
export class PruneError extends Error {
  override readonly name = 'PruneError';
}

/** A rule as users write it: "2:4", "2:4 transposable", "fan-in k=12". */
export function ruleText(rule: PruneRule): string {
  if (rule.kind === 'fanIn') return `constant fan-in k=${rule.k}`;
  return `${rule.n}:${rule.m}${rule.transposable ? ' transposable' : ''}`;
}

function selected(l: LayerReport, filter: LayerFilter): boolean {
  const names = [l.name, ...(l.displayName ? [l.displayName] : [])];
  const matches = (patterns: readonly RegExp[]) => patterns.some((p) => names.some((n) => p.test(n)));
  return (filter.include.length === 0 || matches(filter.include)) && !matches(filter.exclude);
}

/** Linear and conv weights in file order, those the filter keeps; refuses a selected weight whose dtype cannot be pruned in place. */
function weightsOf({ report, neurons }: CheckpointAnalysis, filter: LayerFilter): LayerReport[] {
  const weights = report.layers.filter((l) => (l.role === 'linear' || l.role === 'conv') && neurons.has(l.name) && selected(l, filter));
  const refused = weights.filter((l) => !PRUNABLE_DTYPES.includes(l.dtype));
  if (refused.length > 0) {
    const list = refused.map((l) => `${l.name} (${l.dtype})`).join(', ');
    throw new PruneError(
      `${list}: only float32, float16, bfloat16 and float64 weights can be pruned; integer and quantized weights need their zero points handled, which is not supported yet (leave them out with --exclude)`,
    );
  }
  if (weights.length === 0) throw new PruneError('no linear or conv weight is selected: nothing to prune');
  return weights;
}

/**
 * N:M for every selected weight whose input channels split into whole groups of M
 * (transposable: whose output and input channels both split into whole blocks of 4); the others
 * are skipped whole, never half-pruned.
 */
export function selectNm(analysis: CheckpointAnalysis, nm: NmPattern, transposable: boolean, filter: LayerFilter): PruneSelection {
  if (transposable && (nm.n !== 2 || nm.m !== 4)) throw new PruneError('--transposable takes the pattern 2:4 (NVIDIA ASP m4n2_2d)');
  const layers: LayerToPrune[] = [];
  const skipped: SkippedLayer[] = [];
  for (const l of weightsOf(analysis, filter)) {
    const { rows, inDim } = analysis.neurons.get(l.name)!.geometry;
    if (inDim % nm.m !== 0) skipped.push({ name: l.name, reason: `its ${inDim} input channels do not split into groups of ${nm.m}` });
    else if (transposable && rows % 4 !== 0)
      skipped.push({ name: l.name, reason: `its ${rows} output channels do not split into the 4 × 4 blocks of transposable 2:4` });
    else layers.push({ name: l.name, rule: { kind: 'nm', n: nm.n, m: nm.m, transposable } });
  }
  return { layers, skipped };
}

/**
 * Constant fan-in at the plan's k for every selected weight of the plan (the last one included,
 * as in the reference); a layer the plan keeps dense, or gives no k, is skipped with the reason.
 */
export function selectFanIn(analysis: CheckpointAnalysis, plan: CheckpointPlan, filter: LayerFilter): PruneSelection {
  const planned = new Map(plan.layers.map((l) => [l.name, l]));
  const layers: LayerToPrune[] = [];
  const skipped: SkippedLayer[] = [];
  for (const l of weightsOf(analysis, filter)) {
    const p = planned.get(l.name);
    if (!p) skipped.push({ name: l.name, reason: 'not in the plan' });
    else if (p.dense) skipped.push({ name: l.name, reason: 'the plan keeps it dense' });
    else if (p.k === null) skipped.push({ name: l.name, reason: p.kError ?? 'the plan gives it no k' });
    else layers.push({ name: l.name, rule: { kind: 'fanIn', k: p.k } });
  }
  return { layers, skipped };
}

/** What a prune did, in words for its summary and provenance. */
export function pruneMethod(how: NmPattern | { readonly distribution: string; readonly density: number }, transposable = false): string {
  if ('n' in how)
    return transposable
      ? '2:4 transposable, NVIDIA ASP m4n2_2d greedy (2 of 4 along the rows and columns of every 4 × 4 block)'
      : `${how.n}:${how.m}, NVIDIA ASP m4n2_1d rule (the ${how.n} largest |w| of every ${how.m} inputs)`;
  const sparsity = Number((1 - how.density).toPrecision(12));
  return `constant fan-in, ${how.distribution.toUpperCase()} plan at sparsity ${sparsity} (each neuron's k largest |w|)`;
}

/** The file name a pruned or condensed output gets by default: `model.pruned-2of4.onnx`, `model.fanin90.safetensors.index.json`. */
export function outputNameFor(input: string, tag: string, extension?: string): string {
  const match = /(\.safetensors\.index\.json|\.[^./\\]+)$/i.exec(input);
  const stem = match ? input.slice(0, -match[1].length) : input;
  return `${stem}.${tag}${extension ?? match?.[1] ?? ''}`;
}

/** The tag of a rule's default output name: `pruned-2of4`, `pruned-2of4-transposable`, `fanin90`. */
export function outputTag(how: NmPattern | { readonly density: number }, transposable = false): string {
  if ('n' in how) return `pruned-${how.n}of${how.m}${transposable ? '-transposable' : ''}`;
  return `fanin${Number((100 * (1 - how.density)).toPrecision(12))}`;
}

/** Skipped layers for a message: the first few with their reason (names escaped), then how many more. */
export function skippedText(skipped: readonly SkippedLayer[], shown = 5): string {
  const listed = skipped.slice(0, shown).map((s) => `${printable(s.name)} (${s.reason})`);
  return listed.join('; ') + (skipped.length > shown ? `; … and ${skipped.length - shown} more` : '');
}
