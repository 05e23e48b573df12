import { formatPlanMarkdown, type CheckpointPlan } from './checkpointPlan';
import { csvCell } from './csv';
import type { SparsityReport } from './report';
import { formatReportMarkdown } from './reportText';

export type ExportFormat = 'json' | 'csv' | 'markdown';

const CSV_COLUMNS = [
  'name',
  'shape',
  'dtype',
  'role',
  'numel',
  'nnz',
  'sparsity',
  'negativeZeros',
  'fanInDense',
  'fanInMin',
  'fanInMean',
  'fanInMax',
  'fanInConstant',
  'fanInK',
  'zeroNeurons',
  'nmGroups',
  'nmCompliant',
  'nmPartial',
  'displayName',
  'problems',
  'smallestStorage',
  'smallestBytes',
  'denseBytes',
  'planTargetDensity',
  'planK',
  'planAblationCandidates',
] as const;

/**
 * One row per tensor, with the columns of the JSON schema flattened; `problems` holds the finding
 * codes, space-separated; the `plan…` columns hold each planned weight's target (empty without a plan).
 */
export function formatReportCsv(r: SparsityReport, plan?: CheckpointPlan): string {
  const lines = [CSV_COLUMNS.join(',')];
  const codes = new Map<string, string[]>();
  for (const p of r.problems) codes.set(p.layer, [...(codes.get(p.layer) ?? []), p.code]);
  const storage = new Map(r.storage.layers.map((s) => [s.name, s]));
  const planned = new Map(plan?.layers.map((p) => [p.name, p]));
  for (const l of r.layers) {
    const f = l.fanIn;
    const s = storage.get(l.name);
    const p = planned.get(l.name);
    lines.push(
      [
        l.name,
        l.shape.join('x'),
        l.dtype,
        l.role,
        l.numel,
        l.nnz,
        l.sparsity,
        l.negativeZeros,
        f?.dense,
        f?.min,
        f?.mean,
        f?.max,
        f?.constant,
        f?.k,
        f?.zeroNeurons,
        l.nm?.groups,
        l.nm?.compliant,
        l.nm?.partial,
        l.displayName,
        codes.get(l.name)?.join(' '),
        s?.smallest,
        s ? s[s.smallest] : undefined,
        s?.dense,
        p?.targetDensity,
        p?.k,
        p?.ablation?.candidates.join(' '),
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return lines.join('\n') + '\n';
}

/**
 * The report in an export format, with a density plan when one is given: JSON is the CLI's
 * `--json` schema with the plan (`sparsity-lens plan --json`) under `plan`.
 */
export function formatReport(r: SparsityReport, format: ExportFormat, plan?: CheckpointPlan): string {
  switch (format) {
    case 'json':
      return JSON.stringify(plan ? { ...r, plan } : r, null, 2) + '\n';
    case 'csv':
      return formatReportCsv(r, plan);
    case 'markdown':
      return formatReportMarkdown(r) + (plan ? '\n' + formatPlanMarkdown(plan).replace(/^# /, '## ') : '');
  }
}
