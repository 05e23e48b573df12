/**
 * The structure a user wants the weights to have — N:M (the report's pattern), constant fan-in
 * (SRigL), or a density plan — and the answer for a checkpoint: one line for the model, and per
 * weight layer whether it meets the target, how far it is, and which findings concern it.
 */
import { formatCount as count } from '../checkpoint';
import type { CheckpointPlan, CheckpointPlanLayer } from './checkpointPlan';
import type { Lint, LintCode } from './lints';
import type { LayerReport, SparsityReport } from './report';

export type TargetKind = 'nm' | 'fan-in' | 'plan';

export const TARGET_KINDS: readonly TargetKind[] = ['nm', 'fan-in', 'plan'];

/** What a layer is, against the target: not pruned at all, as wanted, or not (yet). */
export type LayerState = 'dense' | 'meets' | 'misses';

export interface LayerVerdict {
  readonly state: LayerState;
  /**
   * How far from the target, 0 (meets) to 1: the share of its non-zeros a projection to N:M
   * removes; for fan-in, 1 − smallest / largest active fan-in; for a plan, the density gap over
   * the room the plan leaves. For colouring; 0 for dense layers.
   */
  readonly distance: number;
  /** A few words: "2:4", "148 of 8,192 groups violate", "k = 32", "fan-in 0–64", "dense — not pruned". */
  readonly text: string;
}

export interface Verdict {
  /** 'dense' when no weight layer has a zero; 'none' without weight layers. */
  readonly state: LayerState | 'none';
  /** The answer in one line. */
  readonly line: string;
  readonly layers: ReadonlyMap<string, LayerVerdict>;
}

/** A share as the editor writes them: "6.1%" below 10 %, else whole percents. */
const share = (x: number) => `${x < 0.1 && x > 0 ? (x * 100).toFixed(1) : Math.round(x * 100)}%`;
const plural = (n: number, word: string) => `${count(n)} ${word}${n === 1 ? '' : 's'}`;

/** A weight with no zero at all: nobody pruned it, whatever the target. */
export function isDense(l: LayerReport): boolean {
  return l.numel > 0 && l.nnz === l.numel;
}

/**
 * The answer for `report` against `target` (a plan target needs the plan). Layers are the linear
 * and conv weights; dense ones are "dense — not pruned" and count neither way.
 */
export function verdictOf(report: SparsityReport, target: TargetKind, plan?: CheckpointPlan): Verdict {
  const weights = report.layers.filter((l) => l.fanIn);
  const layers = new Map<string, LayerVerdict>();
  if (weights.length === 0) return { state: 'none', line: 'No linear or conv weights: nothing to check.', layers };
  const planned = new Map(plan?.layers.map((p) => [p.name, p]));
  for (const l of weights) {
    if (isDense(l) && !(target === 'plan' && planned.get(l.name)?.dense)) {
      layers.set(l.name, { state: 'dense', distance: 0, text: 'dense — not pruned' });
      continue;
    }
    layers.set(
      l.name,
      target === 'nm' ? nmVerdict(l, report) : target === 'fan-in' ? fanInVerdict(l) : planVerdict(l, planned.get(l.name)),
    );
  }
  const sparse = weights.filter((l) => layers.get(l.name)!.state !== 'dense');
  if (sparse.length === 0) {
    return {
      state: 'dense',
      line: `Dense — not pruned: none of the ${plural(weights.length, 'weight layer')} has a zero.`,
      layers,
    };
  }
  const missing = sparse.filter((l) => layers.get(l.name)!.state === 'misses');
  const dense = weights.length - sparse.length;
  const denseNote = dense ? `; ${plural(dense, 'layer')} dense — not pruned` : '';
  const line =
    target === 'nm'
      ? nmLine(report, sparse, missing)
      : target === 'fan-in'
        ? fanInLine(sparse, missing)
        : planLine(plan, sparse, missing, layers);
  return { state: missing.length ? 'misses' : 'meets', line: line + denseNote, layers };
}

function nmVerdict(l: LayerReport, report: SparsityReport): LayerVerdict {
  const nm = l.nm!;
  const pattern = `${report.nm.n}:${report.nm.m}`;
  if (nm.groups === 0) return { state: 'misses', distance: 1, text: `fewer than ${report.nm.m} inputs: no ${pattern} group` };
  const violating = nm.groups - nm.compliant;
  if (violating === 0 && nm.partial === 0) return { state: 'meets', distance: 0, text: pattern };
  const distance = l.nnz === 0 ? 0 : nm.excess / l.nnz;
  const text =
    violating === 0
      ? `${count(nm.partial)} partial groups (inputs not a multiple of ${report.nm.m})`
      : `${count(violating)} of ${count(nm.groups)} groups violate`;
  return { state: 'misses', distance: violating === 0 ? 0.05 : distance, text };
}

function nmLine(report: SparsityReport, sparse: readonly LayerReport[], missing: readonly LayerReport[]): string {
  const pattern = `${report.nm.n}:${report.nm.m}`;
  const groups = sparse.reduce((s, l) => s + l.nm!.groups, 0);
  if (missing.length === 0)
    return `${pattern}: ${count(sparse.length)} of ${count(sparse.length)} layers comply (${plural(groups, 'group')}).`;
  const violating = sparse.reduce((s, l) => s + l.nm!.groups - l.nm!.compliant, 0);
  const excess = sparse.reduce((s, l) => s + l.nm!.excess, 0);
  const nnz = sparse.reduce((s, l) => s + l.nnz, 0);
  const partial = missing.filter((l) => l.nm!.groups === l.nm!.compliant).length;
  const parts = [`Not ${pattern}: ${count(missing.length)} of ${count(sparse.length)} layers`];
  if (violating)
    parts.push(
      `${plural(violating, 'group')} violate${violating === 1 ? 's' : ''}; projecting to ${pattern} removes ${share(nnz ? excess / nnz : 0)} of the non-zeros`,
    );
  if (partial) parts.push(`${count(partial)} with inputs not a multiple of ${report.nm.m}`);
  return parts.join(', ') + '.';
}

function fanInVerdict(l: LayerReport): LayerVerdict {
  const f = l.fanIn!;
  const active = Math.round(l.numel / Math.max(1, f.dense)) - f.zeroNeurons;
  if (active === 0) return { state: 'misses', distance: 1, text: 'all neurons dead' };
  if (f.constant) return { state: 'meets', distance: 0, text: `k = ${f.k}` };
  // The smallest fan-in over the active neurons is not in the summary when some are dead: use the largest spread there is.
  const min = f.zeroNeurons ? 0 : f.min;
  return { state: 'misses', distance: f.max > 0 ? 1 - min / f.max : 1, text: `fan-in ${f.min}–${f.max}` };
}

function fanInLine(sparse: readonly LayerReport[], missing: readonly LayerReport[]): string {
  if (missing.length === 0) {
    const ks = sparse.map((l) => l.fanIn!.k);
    return `Constant fan-in: ${count(sparse.length)} of ${count(sparse.length)} layers, k = ${listed(ks.map(String))}.`;
  }
  const ranges = missing.map((l) => `${l.fanIn!.min}–${l.fanIn!.max}`);
  return `Not constant fan-in: ${count(missing.length)} of ${count(sparse.length)} layers vary (fan-in ${listed(ranges, ', ')}).`;
}

/** `p`: the layer's row of the plan (none when there is no plan, or the plan leaves the layer out). */
function planVerdict(l: LayerReport, p: CheckpointPlanLayer | undefined): LayerVerdict {
  if (!p) return { state: 'misses', distance: 1, text: 'not in the plan' };
  const f = l.fanIn!;
  const density = l.numel === 0 ? 0 : l.nnz / l.numel;
  if (p.dense)
    return isDense(l)
      ? { state: 'meets', distance: 0, text: 'dense, as planned' }
      : { state: 'misses', distance: 1 - density, text: 'planned dense' };
  if (p.k === null) return { state: 'misses', distance: 1, text: p.kError ?? 'no k' };
  if (f.constant && f.k === p.k) return { state: 'meets', distance: 0, text: `k = ${p.k}` };
  const room = Math.max(p.targetDensity, 1 - p.targetDensity);
  const distance = Math.min(1, Math.abs(density - p.targetDensity) / room);
  return { state: 'misses', distance, text: f.constant ? `k = ${f.k}, plan ${p.k}` : `fan-in ${f.min}–${f.max}, plan k = ${p.k}` };
}

function planLine(
  plan: CheckpointPlan | undefined,
  sparse: readonly LayerReport[],
  missing: readonly LayerReport[],
  layers: ReadonlyMap<string, LayerVerdict>,
): string {
  if (!plan) return 'No plan yet: choose a sparsity and a distribution in the Plan section.';
  const name = `the ${plan.distribution.toUpperCase()} plan at sparsity ${plan.sparsity}`;
  if (missing.length === 0) {
    return `At ${name}: ${count(sparse.length)} of ${count(sparse.length)} layers, k = ${listed(plan.layers.map((p) => (p.dense ? 'dense' : String(p.k))))}.`;
  }
  return `Not at ${name}: ${count(missing.length)} of ${count(sparse.length)} layers (${listed(
    missing.map((l) => layers.get(l.name)!.text),
    '; ',
  )}).`;
}

/** The first few items joined, "… (N more)" after. */
function listed(items: readonly string[], separator = ' / ', most = 6): string {
  return items.length <= most
    ? items.join(separator)
    : `${items.slice(0, most).join(separator)}${separator}… (${items.length - most} more)`;
}

/** Findings that only concern N:M sparse kernels: noise when the target is constant fan-in or a plan. */
const NM_ONLY: ReadonlySet<LintCode> = new Set<LintCode>(['nm-axis-not-multiple', 'tensor-core-shape', 'grouped-conv', 'nm-incomplete']);
/** Findings that only concern constant fan-in: noise when the target is N:M. */
const FAN_IN_ONLY: ReadonlySet<LintCode> = new Set<LintCode>(['fanin-almost-constant']);

/** The findings that concern `target`. */
export function lintsFor<T extends Pick<Lint, 'code'>>(lints: readonly T[], target: TargetKind): T[] {
  const off = target === 'nm' ? FAN_IN_ONLY : NM_ONLY;
  return lints.filter((l) => !off.has(l.code));
}
