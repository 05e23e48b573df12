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
] as const;

/** A CSV field: quoted when it holds a comma, a quote or a line break. */
export function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row per tensor, with the columns of the JSON schema flattened; `problems` holds the finding codes, space-separated. */
export function formatReportCsv(r: SparsityReport): string {
  const lines = [CSV_COLUMNS.join(',')];
  const codes = new Map<string, string[]>();
  for (const p of r.problems) codes.set(p.layer, [...(codes.get(p.layer) ?? []), p.code]);
  const storage = new Map(r.storage.layers.map((s) => [s.name, s]));
  for (const l of r.layers) {
    const f = l.fanIn;
    const s = storage.get(l.name);
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
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return lines.join('\n') + '\n';
}

/** The report in an export format: JSON is the CLI's `--json` schema. */
export function formatReport(r: SparsityReport, format: ExportFormat): string {
  switch (format) {
    case 'json':
      return JSON.stringify(r, null, 2) + '\n';
    case 'csv':
      return formatReportCsv(r);
    case 'markdown':
      return formatReportMarkdown(r);
  }
}
