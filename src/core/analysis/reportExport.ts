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
] as const;

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row per tensor, with the columns of the JSON schema flattened. */
export function formatReportCsv(r: SparsityReport): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const l of r.layers) {
    const f = l.fanIn;
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
