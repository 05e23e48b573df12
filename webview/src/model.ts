/** What the editor derives from the report: per-layer problems, N:M geometry, totals. */
import type { Lint } from '../../src/core/analysis/lints';
import { layoutName, type LayerStorage } from '../../src/core/analysis/storage';
import { layerLabel } from '../../src/core/analysis/layerLabel';
import { weightStructure, type WeightStructure } from '../../src/core/analysis/problems';
import { lintsFor, type LayerVerdict, type TargetKind, type Verdict } from '../../src/core/analysis/target';
import type { LayerNeurons, LayerReport, SparsityReport } from '../../src/core/analysis/report';

import { printable } from '../../src/core/errors';
import { count } from './format';
import type { NmAxis } from './nmGeometry';

export interface Layer {
  readonly report: LayerReport;
  /** The name as shown: escaped (control and direction-override characters), since it comes from the file. */
  readonly label: string;
  /** Position in report.layers (the table's natural order). */
  readonly order: number;
  readonly isWeight: boolean;
  /** Non-zero fraction. */
  readonly density: number;
  /** Compliant fraction of the full N:M groups; null when there is none. */
  readonly nmCompliance: number | null;
  /** Where the weight stands against the target; null for other tensors. */
  readonly verdict: LayerVerdict | null;
  /** What to warn about: the target missed, dead neurons. */
  readonly problems: readonly string[];
  /** Why this weight will not run faster (the report's findings for it that concern the target). */
  readonly lints: readonly Lint[];
  /** Bytes in each storage layout, for weights. */
  readonly storage: LayerStorage | null;
  /** The smallest layout's name ("2:4", "bitmask" …), for weights. */
  readonly smallestLayout: string | null;
  /** Heatmap geometry when the host gave one. */
  readonly geometry: Geometry | null;
}

/** The [neurons, fan-in positions] view of a weight and its N:M axis. */
export interface Geometry extends NmAxis {
  readonly rows: number;
  readonly cols: number;
  /** Input channels (the N:M axis). */
  readonly inDim: number;
  /** Kernel positions per input channel: a view column c is channel ⌊c / K⌋ at position c mod K. */
  readonly K: number;
  readonly fanIn: Uint32Array | null;
}

/** Typed arrays may arrive as typed arrays (VS Code ≥ 1.57 transfers them) or as plain JSON. */
export function toUint32(x: unknown): Uint32Array | null {
  if (x instanceof Uint32Array) return x;
  if (x === null || x === undefined) return null;
  if (ArrayBuffer.isView(x)) return Uint32Array.from(x as unknown as ArrayLike<number>);
  if (Array.isArray(x)) return Uint32Array.from(x);
  if (typeof x === 'object') return Uint32Array.from(Object.values(x as Record<string, number>));
  return null;
}

export function toFloat32(x: unknown): Float32Array {
  if (x instanceof Float32Array) return x;
  if (ArrayBuffer.isView(x)) return Float32Array.from(x as unknown as ArrayLike<number>);
  if (Array.isArray(x)) return Float32Array.from(x);
  if (x && typeof x === 'object') return Float32Array.from(Object.values(x as Record<string, number>));
  return new Float32Array(0);
}

/** The layers to show, each joined by name with its per-neuron figures (weights only) and its verdict for the target. */
export function buildLayers(report: SparsityReport, neurons: readonly LayerNeurons[], verdict: Verdict, target: TargetKind): Layer[] {
  const byName = new Map<string, LayerNeurons>();
  for (const n of neurons) byName.set(n.name, n);
  const lints = new Map<string, Lint[]>();
  for (const p of lintsFor(report.problems, target)) lints.set(p.layer, [...(lints.get(p.layer) ?? []), p]);
  const storage = new Map(report.storage.layers.map((st) => [st.name, st]));
  return report.layers.map((l, i) => {
    const figures = byName.get(l.name);
    let geometry: Geometry | null = null;
    if (figures && figures.geometry.rows && figures.geometry.cols) {
      const { rows, cols, inDim, kernelPositions } = figures.geometry;
      const fanIn = toUint32(figures.fanIn);
      geometry = {
        rows,
        cols,
        inDim,
        K: kernelPositions,
        fanIn: fanIn && fanIn.length === rows ? fanIn : null,
      };
    }
    const layerVerdict = verdict.layers.get(l.name) ?? null;
    const dead = l.fanIn?.zeroNeurons ?? 0;
    const problems = [
      ...(layerVerdict?.state === 'misses' ? [layerVerdict.text] : []),
      ...(dead ? [`${count(dead)} dead neuron${dead === 1 ? '' : 's'} (all-zero rows)`] : []),
    ];
    return {
      report: l,
      label: printable(layerLabel(l)),
      order: i,
      isWeight: l.role !== 'other',
      density: l.numel === 0 ? 0 : l.nnz / l.numel,
      nmCompliance: l.nm && l.nm.groups > 0 ? l.nm.compliant / l.nm.groups : null,
      verdict: layerVerdict,
      problems,
      lints: lints.get(l.name) ?? [],
      storage: storage.get(l.name) ?? null,
      smallestLayout: storage.has(l.name) ? layoutName(storage.get(l.name)!.smallest, report.nm) : null,
      geometry,
    };
  });
}

export interface Overview extends WeightStructure {
  readonly layersWithProblems: number;
}

export function overviewOf(layers: readonly Layer[]): Overview {
  return {
    ...weightStructure(layers.map((l) => l.report)),
    layersWithProblems: layers.filter((l) => l.problems.length).length,
  };
}
