/** The summary at the top: which file, how big, how sparse, and whether the sparsity has structure. */
import { printable } from '../../src/core/errors';
import type { SparsityReport } from '../../src/core/analysis/report';
import { basename, compact, count, percent, plural } from './format';
import { h, codicon } from './dom';
import { overviewOf, type Layer } from './model';
import { verdictOf, type TargetKind, type Verdict } from '../../src/core/analysis/target';

/** How each format is named where users meet it. */
const FORMAT_NAMES: Readonly<Record<SparsityReport['format'], string>> = {
  onnx: 'ONNX',
  safetensors: 'safetensors',
  pytorch: 'PyTorch',
  numpy: 'NumPy',
  tfjs: 'TF.js',
};

type Tone = 'good' | 'warn' | 'neutral';

function stat(label: string, value: string, detail: string, tone: Tone, icon?: string, tooltip?: string, current = false): HTMLElement {
  return h(
    'div',
    {
      class: `stat stat-${tone}${current ? ' stat-target' : ''}`,
      attrs: { role: 'group', 'aria-label': `${label}: ${value}. ${detail}${current ? ' (the target)' : ''}` },
      title: tooltip,
    },
    h('div', { class: 'stat-label', text: label }),
    h('div', { class: 'stat-value' }, icon ? codicon(icon, 'stat-icon') : null, h('span', { text: value })),
    h('div', { class: 'stat-detail', text: detail }),
  );
}

/** A structure card's tone and icon from its verdict: dense is neither a pass nor a failure. */
function toneOf(v: Verdict): { tone: Tone; icon?: string } {
  if (v.state === 'meets') return { tone: 'good', icon: 'pass' };
  if (v.state === 'misses') return { tone: 'warn', icon: 'warning' };
  return { tone: 'neutral', icon: v.state === 'dense' ? 'circle-outline' : undefined };
}

export function renderSummary(report: SparsityReport, layers: readonly Layer[], target: TargetKind): HTMLElement {
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
    // The tab shows the name already: the path only where it says more (a folder).
    file !== basename(file) ? h('span', { class: 'summary-path', text: file }) : null,
    metaText ? h('span', { class: 'summary-meta', text: metaText }) : null,
  );

  // Both structures, whatever the target (its card is outlined): dense layers count for neither.
  const fanIn = verdictOf(report, 'fan-in');
  const nmAnswer = verdictOf(report, 'nm');
  const sparse = (v: Verdict) => [...v.layers.values()].filter((l) => l.state !== 'dense');
  const fanInLayers = sparse(fanIn);
  const nmLayers = sparse(nmAnswer);
  const meeting = (ls: readonly { state: string }[]) => ls.filter((l) => l.state === 'meets').length;
  const sparseWeights = layers.filter((l) => l.report.fanIn && l.verdict?.state !== 'dense' && l.report.nm);
  const violating = sparseWeights.reduce((s, l) => s + l.report.nm!.groups - l.report.nm!.compliant, 0);
  const groups = sparseWeights.reduce((s, l) => s + l.report.nm!.groups, 0);
  const excess = sparseWeights.reduce((s, l) => s + l.report.nm!.excess, 0);
  const nnz = sparseWeights.reduce((s, l) => s + l.report.nnz, 0);
  const pattern = `${nm.n}:${nm.m}`;
  const denseValue = (v: Verdict) => (v.state === 'dense' ? 'dense' : v.state === 'none' ? '—' : undefined);
  const fanInTone = toneOf(fanIn);
  const nmTone = toneOf(nmAnswer);
  const fanInValue = denseValue(fanIn) ?? `${meeting(fanInLayers)} of ${fanInLayers.length}`;
  const fanInDetail =
    fanIn.state === 'dense'
      ? 'not pruned: every neuron has its dense fan-in'
      : fanIn.state === 'none'
        ? 'no linear or conv weights'
        : `pruned weight tensors with constant fan-in${o.weightLayers > fanInLayers.length ? ` (${o.weightLayers - fanInLayers.length} dense)` : ''}`;
  const nmValue = denseValue(nmAnswer) ?? (violating ? `${count(violating)} violate` : 'all comply');
  const nmDetail =
    nmAnswer.state === 'dense'
      ? 'not pruned: no group has a zero to spare'
      : nmAnswer.state === 'none'
        ? 'no linear or conv weights'
        : violating
          ? `of ${count(groups)} groups; projecting to ${pattern} removes ${percent(nnz ? excess / nnz : 0)} of the non-zeros`
          : `${plural(groups, 'group')} in ${plural(nmLayers.length, 'pruned tensor')}` +
            (o.nmPartial ? `; ${count(o.nmPartial)} partial` : '');

  const stats = h(
    'div',
    { class: 'stats' },
    stat(
      'Parameters',
      compact(report.total.numel),
      `${plural(report.total.numel, 'value')} in ${plural(report.layers.length, 'tensor')}`,
      'neutral',
    ),
    stat('Sparsity', percent(report.total.sparsity), `${count(report.total.numel - report.total.nnz)} zeros over every tensor`, 'neutral'),
    stat(
      'Weight sparsity',
      percent(report.weights.sparsity),
      `${count(report.weights.numel - report.weights.nnz)} of ${count(report.weights.numel)} linear/conv weights are zero`,
      'neutral',
    ),
    stat('Constant fan-in', fanInValue, fanInDetail, fanInTone.tone, fanInTone.icon, fanIn.line, target === 'fan-in'),
    stat(
      pattern,
      nmValue,
      nmDetail,
      nmTone.tone,
      nmTone.icon,
      `${nmAnswer.line}\nGroups of ${nm.m} consecutive input channels with at most ${nm.n} non-zeros. Trailing groups shorter than ${nm.m} are counted apart (partial).`,
      target === 'nm',
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
  // torch.nn.utils.prune pairs are said once: their weights are shown as the effective weight.
  const pruned = layers.filter((l) => l.report.prunePair).length;
  const pairParts = new Set(layers.flatMap((l) => (l.report.prunePair ? [l.report.prunePair.orig, l.report.prunePair.mask] : [])));
  const skipped = report.skipped.filter((s) => !pairParts.has(s.name));
  const note = (text: string) => h('div', { class: 'note note-warn', attrs: { role: 'note' } }, codicon('info'), h('span', { text }));
  if (pruned) {
    notes.push(
      note(
        `${plural(pruned, 'layer')} pruned with torch.nn.utils.prune (marked “orig × mask”): each is shown as its effective weight, weight_orig × weight_mask.`,
      ),
    );
  }
  if (skipped.length) {
    notes.push(
      note(
        `${plural(skipped.length, 'tensor')} not analysed: ` +
          skipped
            .slice(0, 3)
            .map((s) => `${printable(s.name)} (${printable(s.reason)})`)
            .join('; ') +
          (skipped.length > 3 ? '; …' : ''),
      ),
    );
  }
  return h('section', { class: 'summary', attrs: { 'aria-label': 'Summary' } }, header, stats, ...notes);
}
