import { printable } from '../errors';
import { layerLabel } from './layerLabel';
import { escapeMarkdown } from './reportText';
import type { LayerReport, SparsityReport } from './report';
import { alignedTable } from './textTable';

/** What changed in one tensor between checkpoint A and checkpoint B, position by position. */
export interface LayerDiff {
  readonly name: string;
  /** B's name when a rename map matched it to A's. */
  readonly nameB?: string;
  readonly shapeA: readonly number[];
  readonly shapeB: readonly number[];
  readonly densityA: number;
  readonly densityB: number;
  /** Positions zero in A and non-zero in B. Null (with the other position figures) when the shapes differ. */
  readonly turnedOn: number | null;
  readonly turnedOff: number | null;
  readonly keptBoth: number | null;
  /** (on + off) / nnz A. */
  readonly churn: number | null;
  /** Mean and largest |B − A| over the positions non-zero in both. */
  readonly meanAbsDeltaKept: number | null;
  readonly maxAbsDeltaKept: number | null;
  /** Linear and conv weights: each side's fan-in (k when constant) and N:M compliance. */
  readonly fanInA?: { readonly constant: boolean; readonly k: number | null };
  readonly fanInB?: { readonly constant: boolean; readonly k: number | null };
  readonly nmCompliantA?: number | null;
  readonly nmCompliantB?: number | null;
}

/**
 * Where a weight changed between checkpoint A and checkpoint B, downsampled like the mask heatmap:
 * per cell, the share of its positions turned on (zero in A, non-zero in B), turned off, and
 * non-zero in both. The rest were zero in both.
 */
export interface ChangeTiles {
  readonly rows: number;
  readonly cols: number;
  readonly turnedOn: Float32Array;
  readonly turnedOff: Float32Array;
  readonly keptBoth: Float32Array;
}

/** The JSON of `sparsity-lens diff`: keys may be added, never changed. */
export interface CheckpointDiff {
  readonly fileA: string;
  readonly fileB: string;
  readonly layers: readonly LayerDiff[];
  /** Tensors only one side has (after the rename map). */
  readonly onlyA: readonly string[];
  readonly onlyB: readonly string[];
}

/**
 * B's name for a tensor of A: the first rename whose pattern matches, else the same name. A pattern
 * is an exact name, or `/regex/` whose replacement may use `$1` … (`{"/^module\\.(.*)$/": "$1"}`
 * drops DistributedDataParallel's prefix).
 */
export function renamedFor(renames: readonly (readonly [string, string])[]): (name: string) => string {
  const rules = renames.map(([pattern, to]) => {
    if (pattern.length >= 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
      const re = new RegExp(pattern.slice(1, -1));
      return (name: string) => (re.test(name) ? name.replace(re, to) : undefined);
    }
    return (name: string) => (name === pattern ? to : undefined);
  });
  return (name) => {
    for (const rule of rules) {
      const to = rule(name);
      if (to !== undefined) return to;
    }
    return name;
  };
}

/** A's tensors matched to B's by name (or as `renames` map A's names to B's), in A's order. */
export function matchTensors(
  a: SparsityReport,
  b: SparsityReport,
  renames: readonly (readonly [string, string])[] = [],
): { pairs: [LayerReport, LayerReport][]; onlyA: string[]; onlyB: string[] } {
  const byName = new Map(b.layers.map((l) => [l.name, l]));
  const rename = renamedFor(renames);
  const matched = new Set<string>();
  const pairs: [LayerReport, LayerReport][] = [];
  const onlyA: string[] = [];
  for (const l of a.layers) {
    const other = byName.get(rename(l.name));
    if (other && !matched.has(other.name)) {
      pairs.push([l, other]);
      matched.add(other.name);
    } else onlyA.push(l.name);
  }
  return { pairs, onlyA, onlyB: b.layers.filter((l) => !matched.has(l.name)).map((l) => l.name) };
}

/** Counts of positions turned on, off and kept, and |B − A| over kept ones, fed chunk by chunk of equal length. */
export class ValueChanges {
  private on = 0;
  private off = 0;
  private kept = 0;
  private deltaSum = 0;
  private deltaMax = 0;

  /** Elements of A and B at the same positions; a value is zero as the report counts it (−0.0 is, NaN is not). */
  add(a: Float64Array, b: Float64Array, count: number): void {
    for (let i = 0; i < count; i++) {
      const x = a[i];
      const y = b[i];
      if (x !== 0 && y !== 0) {
        this.kept++;
        const d = Math.abs(y - x);
        this.deltaSum += d;
        if (d > this.deltaMax) this.deltaMax = d;
      } else if (x !== 0) this.off++;
      else if (y !== 0) this.on++;
    }
  }

  result(nnzA: number): Pick<LayerDiff, 'turnedOn' | 'turnedOff' | 'keptBoth' | 'churn' | 'meanAbsDeltaKept' | 'maxAbsDeltaKept'> {
    return {
      turnedOn: this.on,
      turnedOff: this.off,
      keptBoth: this.kept,
      churn: nnzA === 0 ? (this.on === 0 ? 0 : null) : (this.on + this.off) / nnzA,
      meanAbsDeltaKept: this.kept === 0 ? 0 : this.deltaSum / this.kept,
      maxAbsDeltaKept: this.deltaMax,
    };
  }
}

/** The figures of a pair that need no values: shapes, densities, fan-in and N:M of each side. */
export function pairFigures(a: LayerReport, b: LayerReport): LayerDiff {
  const density = (l: LayerReport) => (l.numel === 0 ? 0 : l.nnz / l.numel);
  const fanIn = (l: LayerReport) => (l.fanIn ? { constant: l.fanIn.constant, k: l.fanIn.k } : undefined);
  const nm = (l: LayerReport) => (l.nm ? (l.nm.groups === 0 ? null : l.nm.compliant / l.nm.groups) : undefined);
  const weights = a.fanIn && b.fanIn;
  return {
    name: a.name,
    ...(a.name !== b.name ? { nameB: b.name } : {}),
    shapeA: a.shape,
    shapeB: b.shape,
    densityA: density(a),
    densityB: density(b),
    turnedOn: null,
    turnedOff: null,
    keptBoth: null,
    churn: null,
    meanAbsDeltaKept: null,
    maxAbsDeltaKept: null,
    ...(weights ? { fanInA: fanIn(a), fanInB: fanIn(b), nmCompliantA: nm(a), nmCompliantB: nm(b) } : {}),
  };
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

const HEADERS = [
  'tensor',
  'shape',
  'density A → B',
  'turned on',
  'turned off',
  'kept',
  'churn',
  'mean |Δw| kept',
  'max |Δw| kept',
  'fan-in A → B',
];

/** The CLI's diff: one row per matched tensor, then the tensors only one side has. */
export function formatDiffTable(diff: CheckpointDiff): string {
  const percent = (x: number) => `${(x * 100).toFixed(2)}%`;
  const count = (x: number | null) => (x === null ? '—' : String(x));
  const fanIn = (f: LayerDiff['fanInA']) => (!f ? '' : f.constant ? `k=${f.k}` : 'varies');
  const rows = [
    HEADERS,
    ...diff.layers.map((l) => [
      printable(l.name) + (l.nameB ? ` → ${printable(l.nameB)}` : ''),
      sameShape(l.shapeA, l.shapeB) ? `[${l.shapeA.join(', ')}]` : `[${l.shapeA.join(', ')}] ≠ [${l.shapeB.join(', ')}]`,
      `${percent(l.densityA)} → ${percent(l.densityB)}`,
      count(l.turnedOn),
      count(l.turnedOff),
      count(l.keptBoth),
      l.churn === null ? '—' : percent(l.churn),
      l.meanAbsDeltaKept === null ? '—' : l.meanAbsDeltaKept.toPrecision(4),
      l.maxAbsDeltaKept === null ? '—' : l.maxAbsDeltaKept.toPrecision(4),
      l.fanInA ? `${fanIn(l.fanInA)} → ${fanIn(l.fanInB)}` : '',
    ]),
  ];
  const lines = alignedTable(rows, (i) => i >= 2 && i <= 8);
  const only = (side: string, names: readonly string[]) =>
    names.length
      ? [`only in ${side}: ${names.slice(0, 20).map(printable).join(', ')}${names.length > 20 ? `, … (${names.length} in all)` : ''}`]
      : [];
  return (
    [`A: ${printable(diff.fileA)}`, `B: ${printable(diff.fileB)}`, '', ...lines, '', ...only('A', diff.onlyA), ...only('B', diff.onlyB)]
      .join('\n')
      .trimEnd() + '\n'
  );
}

/** The diff as Markdown, for previews: names inert (escaped), one row per matched tensor. */
export function formatDiffMarkdown(diff: CheckpointDiff): string {
  const cell = (x: number | null, digits = 0) => (x === null ? '—' : digits ? x.toPrecision(digits) : String(x));
  const percent = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(2)}%`);
  const fanIn = (f: LayerDiff['fanInA']) => (!f ? '' : f.constant ? `k=${f.k}` : 'varies');
  const lines = [
    `# ${escapeMarkdown(basename(diff.fileA))} → ${escapeMarkdown(basename(diff.fileB))}`,
    '',
    `A: \`${printable(diff.fileA).replace(/`/g, "'")}\`  `,
    `B: \`${printable(diff.fileB).replace(/`/g, "'")}\``,
    '',
    '| tensor | shape | density A → B | turned on | turned off | kept | churn | mean \\|Δw\\| kept | max \\|Δw\\| kept | fan-in A → B |',
    '|---|---|---|--:|--:|--:|--:|--:|--:|---|',
    ...diff.layers
      .map((l) =>
        [
          escapeMarkdown(layerLabel(l) + (l.nameB ? ` → ${l.nameB}` : '')),
          sameShape(l.shapeA, l.shapeB) ? `[${l.shapeA.join(', ')}]` : `[${l.shapeA.join(', ')}] ≠ [${l.shapeB.join(', ')}]`,
          `${percent(l.densityA)} → ${percent(l.densityB)}`,
          cell(l.turnedOn),
          cell(l.turnedOff),
          cell(l.keptBoth),
          percent(l.churn),
          cell(l.meanAbsDeltaKept, 4),
          cell(l.maxAbsDeltaKept, 4),
          l.fanInA ? `${fanIn(l.fanInA)} → ${fanIn(l.fanInB)}` : '',
        ].join(' | '),
      )
      .map((row) => `| ${row} |`),
  ];
  if (diff.onlyA.length) lines.push('', `Only in A: ${diff.onlyA.map(escapeMarkdown).join(', ')}`);
  if (diff.onlyB.length) lines.push('', `Only in B: ${diff.onlyB.map(escapeMarkdown).join(', ')}`);
  return lines.join('\n') + '\n';
}

function basename(path: string): string {
  return path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
}
