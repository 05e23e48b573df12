import { printable } from '../errors';
import { layerLabel } from './layerLabel';
import { weightStructure } from './problems';
import type { LayerReport, SparsityReport } from './report';
import { alignedTable } from './textTable';

const HEADERS = ['tensor', 'shape', 'dtype', 'role', 'sparsity', 'non-zero', 'fan-in min/mean/max', 'constant fan-in', 'N:M compliant'];

function percent(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

function layerCells(l: LayerReport): string[] {
  const f = l.fanIn;
  const fanIn = f ? `${f.min}/${f.mean.toFixed(2)}/${f.max} of ${f.dense}` : '';
  const constant = f ? (f.constant ? `yes, k=${f.k}` : 'no') + (f.zeroNeurons ? ` (${f.zeroNeurons} dead)` : '') : '';
  const nm = l.nm
    ? `${l.nm.compliant}/${l.nm.groups}` +
      (l.nm.groups ? ` (${percent(l.nm.compliant / l.nm.groups)})` : '') +
      (l.nm.partial ? ` +${l.nm.partial} partial` : '')
    : '';
  return [
    printable(layerLabel(l)),
    `[${l.shape.join(', ')}]`,
    l.dtype,
    l.role,
    percent(l.sparsity),
    `${l.nnz}/${l.numel}`,
    fanIn,
    constant,
    nm,
  ];
}

function headers(r: SparsityReport): string[] {
  return HEADERS.map((h) => (h === 'N:M compliant' ? `${r.nm.n}:${r.nm.m} compliant` : h));
}

/** Whole-model lines shown under the table. */
export function summaryLines(r: SparsityReport): string[] {
  const w = weightStructure(r.layers);
  const nm = `${r.nm.n}:${r.nm.m}`;
  const lines = [
    `all tensors: ${r.total.nnz} of ${r.total.numel} non-zero, sparsity ${percent(r.total.sparsity)}`,
    `weights (linear + conv): ${r.weights.nnz} of ${r.weights.numel} non-zero, sparsity ${percent(r.weights.sparsity)}`,
    `${nm} compliant groups: ${w.nmCompliant} of ${w.nmGroups}` + (w.nmGroups ? ` (${percent(w.nmCompliant / w.nmGroups)})` : ''),
    `constant fan-in: ${w.constantFanIn} of ${w.weightLayers} weight tensors`,
  ];
  for (const l of r.layers) if (l.note) lines.push(`${printable(l.name)}: ${l.note}`);
  lines.push(...skippedLines(r.skipped));
  return lines;
}

/** Tensors not analysed, one line each, or one line per reason when many share it (optimizer state). */
function skippedLines(skipped: SparsityReport['skipped']): string[] {
  const byReason = new Map<string, string[]>();
  // Names and reasons come from the file: shown escaped, so a name cannot move the terminal's cursor.
  for (const s of skipped) byReason.set(printable(s.reason), [...(byReason.get(printable(s.reason)) ?? []), printable(s.name)]);
  const lines: string[] = [];
  for (const [reason, names] of byReason) {
    if (names.length <= 3) lines.push(...names.map((n) => `not analysed: ${n} (${reason})`));
    else lines.push(`not analysed: ${names.length} tensors (${reason}), e.g. ${names.slice(0, 2).join(', ')}`);
  }
  return lines;
}

/** The CLI's human-readable report: an aligned table, then whole-model figures. */
export function formatReportTable(r: SparsityReport): string {
  const rows = [headers(r), ...r.layers.map(layerCells)];
  const lines = alignedTable(rows, (i) => i === 4 || i === 5);
  const labels = new Map(r.layers.map((l) => [l.name, layerLabel(l)]));
  const problems = r.problems.map((p) => `${p.severity} ${p.code}: ${printable(labels.get(p.layer) ?? p.layer)}: ${p.message}`);
  return (
    [
      `${printable(r.file)} (${r.format})`,
      '',
      ...lines,
      '',
      ...summaryLines(r),
      ...(problems.length ? ['', 'why no speed-up:', ...problems] : []),
    ].join('\n') + '\n'
  );
}

/**
 * Inert in Markdown: one printable line, with what Markdown, HTML or the preview's math would read
 * escaped (`&` too, so an entity such as `&lt;` shows as typed, not as the character it names).
 */
export function escapeMarkdown(s: string): string {
  return printable(s).replace(/[|\\`*_[\]<>&$~!#]/g, (c) => `\\${c}`);
}

/** The same report as Markdown, for previews and exports. */
export function formatReportMarkdown(r: SparsityReport): string {
  const header = headers(r);
  const lines = [
    `# Sparsity report: ${escapeMarkdown(r.file)}`,
    '',
    `Format: ${r.format}`,
    '',
    ...summaryLines(r).map((l) => `- ${escapeMarkdown(l)}`),
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 4 || i === 5 ? ' ---: ' : ' --- ')).join('|')}|`,
    ...r.layers.map((l) => `| ${layerCells(l).map(escapeMarkdown).join(' | ')} |`),
  ];
  if (r.problems.length) {
    const labels = new Map(r.layers.map((l) => [l.name, layerLabel(l)]));
    lines.push('', '## Why no speed-up', '', '| layer | severity | code | finding |', '| --- | --- | --- | --- |');
    for (const p of r.problems)
      lines.push(`| ${[labels.get(p.layer) ?? p.layer, p.severity, p.code, p.message].map(escapeMarkdown).join(' | ')} |`);
  }
  const storage = r.storage.layers.filter((s) => s.smallest !== 'dense');
  if (storage.length) {
    lines.push(
      '',
      '## Storage (bytes)',
      '',
      '| layer | dense | N:M | condensed | bitmask | CSR | smallest |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    );
    for (const s of storage) {
      const cells = [s.dense, s.nm, s.condensed, s.bitmask, s.csr].map((b) => (b === null ? '—' : String(b)));
      lines.push(`| ${escapeMarkdown(s.name)} | ${cells.join(' | ')} | ${s.smallest} |`);
    }
  }
  return lines.join('\n') + '\n';
}
