/** The summary at the top: which file, how big, how sparse, and whether the sparsity has structure. */
import { printable } from '../../src/core/errors';
import type { SparsityReport } from '../../src/core/analysis/report';
import { basename, compact, count, percent } from './format';
import { h, codicon } from './dom';
import { nmText, overviewOf, type Layer } from './model';

/** How each format is named where users meet it. */
const FORMAT_NAMES: Readonly<Record<SparsityReport['format'], string>> = {
  onnx: 'ONNX',
  safetensors: 'safetensors',
  pytorch: 'PyTorch',
  numpy: 'NumPy',
  tfjs: 'TF.js',
};

type Verdict = 'good' | 'warn' | 'neutral';

function stat(label: string, value: string, detail: string, verdict: Verdict, icon?: string, tooltip?: string): HTMLElement {
  return h(
    'div',
    { class: `stat stat-${verdict}`, attrs: { role: 'group', 'aria-label': `${label}: ${value}. ${detail}` }, title: tooltip },
    h('div', { class: 'stat-label', text: label }),
    h('div', { class: 'stat-value' }, icon ? codicon(icon, 'stat-icon') : null, h('span', { text: value })),
    h('div', { class: 'stat-detail', text: detail }),
  );
}

export function renderSummary(report: SparsityReport, layers: readonly Layer[]): HTMLElement {
  const o = overviewOf(layers);
  const nm = report.nm;
  // Metadata and the path come from the file (safetensors `__metadata__` is any text): shown escaped, on one line.
  const meta = report.metadata ?? {};
  const producer = meta.producer ? `${meta.producer}${meta.producer_version ? ' ' + meta.producer_version : ''}` : '';
  const metaText = printable([producer, meta.opset ? `opset ${meta.opset}` : ''].filter(Boolean).join(' · '));
  const file = printable(report.file);

  const header = h(
    'div',
    { class: 'summary-header' },
    codicon('file-binary', 'summary-file-icon'),
    h('h1', { class: 'summary-title', text: basename(file), title: file }),
    h('vscode-badge', { class: 'format-badge', text: FORMAT_NAMES[report.format], attrs: { variant: 'default' } }),
    h('span', { class: 'summary-path', text: file }),
    metaText ? h('span', { class: 'summary-meta', text: metaText }) : null,
  );

  const weightCount = o.weightLayers;
  const fanInVerdict: Verdict = weightCount === 0 ? 'neutral' : o.constantFanIn === weightCount ? 'good' : 'warn';
  const nmVerdict: Verdict = o.nmGroups === 0 ? 'neutral' : o.nmCompliant === o.nmGroups ? 'good' : 'warn';
  const nmLabel = `${nm.n}:${nm.m} compliance`;
  const nmValue = o.nmGroups === 0 ? '—' : percent(o.nmCompliant / o.nmGroups);
  const nmDetail = nmText(nm, o.nmCompliant, o.nmGroups) + (o.nmPartial ? `; ${count(o.nmPartial)} partial` : '');

  const stats = h(
    'div',
    { class: 'stats' },
    stat(
      'Parameters',
      compact(report.total.numel),
      `${count(report.total.numel)} values in ${count(report.layers.length)} tensors`,
      'neutral',
    ),
    stat('Sparsity', percent(report.total.sparsity), `${count(report.total.numel - report.total.nnz)} zeros over every tensor`, 'neutral'),
    stat(
      'Weight sparsity',
      percent(report.weights.sparsity),
      `${count(report.weights.numel - report.weights.nnz)} of ${count(report.weights.numel)} linear/conv weights are zero`,
      'neutral',
    ),
    stat(
      'Constant fan-in',
      weightCount === 0 ? '—' : `${o.constantFanIn} of ${weightCount}`,
      weightCount === 0 ? 'no linear or conv weights' : `${o.constantFanIn} of ${weightCount} weight tensors have constant fan-in`,
      fanInVerdict,
      fanInVerdict === 'good' ? 'pass' : fanInVerdict === 'warn' ? 'warning' : undefined,
    ),
    stat(
      nmLabel,
      nmValue,
      nmDetail,
      nmVerdict,
      nmVerdict === 'good' ? 'pass' : nmVerdict === 'warn' ? 'warning' : undefined,
      `Groups of ${nm.m} consecutive input channels with at most ${nm.n} non-zeros. Trailing groups shorter than ${nm.m} are counted apart (partial).`,
    ),
    stat(
      'Dead neurons',
      count(o.deadNeurons),
      o.deadNeurons === 0 ? 'no all-zero output rows' : 'output neurons whose weights are all zero',
      o.deadNeurons === 0 ? 'neutral' : 'warn',
      o.deadNeurons === 0 ? undefined : 'warning',
    ),
  );

  const notes: HTMLElement[] = [];
  if (report.skipped.length) {
    notes.push(
      h(
        'div',
        { class: 'note note-warn', attrs: { role: 'note' } },
        codicon('info'),
        h('span', {
          text:
            `${report.skipped.length} tensor${report.skipped.length === 1 ? '' : 's'} not analysed: ` +
            report.skipped
              .slice(0, 3)
              .map((s) => `${printable(s.name)} (${printable(s.reason)})`)
              .join('; ') +
            (report.skipped.length > 3 ? '; …' : ''),
        }),
      ),
    );
  }
  return h('section', { class: 'summary', attrs: { 'aria-label': 'Summary' } }, header, stats, ...notes);
}
