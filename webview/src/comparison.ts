/**
 * The Comparison section ("Compare with…"): what changed from this checkpoint (A) to another (B),
 * tensor by tensor, as `sparsity-lens diff` computes it. Choosing a row selects the tensor, whose
 * heatmap then shows the changed positions.
 */
import type { CheckpointDiff, LayerDiff } from '../../src/core/analysis/diff';
import { printable } from '../../src/core/errors';
import { clear, h } from './dom';
import { basename, count, percent, shape, weight } from './format';

export interface ComparisonOptions {
  /** The name a user knows for a tensor of A. */
  readonly labelOf: (name: string) => string;
  readonly onSelect: (name: string) => void;
  readonly onClose: () => void;
}

export class ComparisonSection {
  readonly element: HTMLElement;
  private readonly summary = h('div', { class: 'compare-summary', attrs: { role: 'status' } });
  private readonly body = h('div', { class: 'compare-body' });
  private rows = new Map<string, HTMLElement>();

  constructor(private readonly options: ComparisonOptions) {
    const close = h('vscode-toolbar-button', {
      attrs: { icon: 'close', label: 'Close the comparison', title: 'Close the comparison' },
      on: { click: () => this.options.onClose() },
    });
    this.element = h(
      'vscode-collapsible',
      { class: 'section compare', attrs: { heading: 'Comparison', open: true } },
      h('div', { class: 'compare-controls' }, this.summary, h('span', { class: 'toolbar-spacer' }), close),
      this.body,
    );
    this.element.hidden = true;
  }

  /** Shows `diff` (null hides the section). */
  show(diff: CheckpointDiff | null): void {
    this.element.hidden = !diff;
    clear(this.body);
    this.rows.clear();
    if (!diff) return;
    this.element.setAttribute('description', `what changed from this checkpoint to ${printable(basename(diff.fileB))}`);
    this.summary.textContent = summaryText(diff);
    const table = h(
      'table',
      { class: 'data-table compare-table', attrs: { 'aria-label': 'Changes per tensor' } },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...[
            'Tensor',
            'Shape',
            'Density A → B',
            'Turned on',
            'Turned off',
            'Kept',
            'Churn',
            'Mean |Δw| kept',
            'Fan-in A → B',
            'N:M A → B',
          ].map((t) => h('th', { text: t })),
        ),
      ),
      h(
        'tbody',
        {},
        ...diff.layers.map((l) => {
          const label = printable(this.options.labelOf(l.name));
          const row = h(
            'tr',
            {
              attrs: { tabindex: 0, 'aria-selected': 'false' },
              on: {
                click: () => this.options.onSelect(l.name),
                keydown: (ev: Event) => {
                  if ((ev as KeyboardEvent).key === 'Enter') this.options.onSelect(l.name);
                },
              },
            },
            h('td', { class: 'name', text: label, title: l.nameB ? `${label} → ${printable(l.nameB)} in B` : label }),
            h('td', { class: 'num', text: sameShape(l) ? shape(l.shapeA) : `${shape(l.shapeA)} → ${shape(l.shapeB)}` }),
            h('td', { class: 'num', text: `${percent(l.densityA)} → ${percent(l.densityB)}` }),
            h('td', { class: `num${l.turnedOn ? ' on' : ''}`, text: figure(l.turnedOn) }),
            h('td', { class: `num${l.turnedOff ? ' off' : ''}`, text: figure(l.turnedOff) }),
            h('td', { class: 'num', text: figure(l.keptBoth) }),
            h('td', { class: 'num', text: l.churn === null ? '—' : percent(l.churn) }),
            h('td', { class: 'num', text: l.meanAbsDeltaKept === null ? '—' : weight(l.meanAbsDeltaKept) }),
            h('td', { class: 'num', text: l.fanInA && l.fanInB ? `${fanIn(l.fanInA)} → ${fanIn(l.fanInB)}` : '—' }),
            h('td', { class: 'num', text: nmText(l) }),
          );
          this.rows.set(l.name, row);
          return row;
        }),
      ),
    );
    this.body.appendChild(h('div', { class: 'compare-table-slot' }, table));
    const unmatched = (title: string, names: readonly string[]) =>
      names.length
        ? h('div', { class: 'compare-unmatched' }, h('span', { class: 'fact', text: title }), ' ', names.map(printable).join(', '))
        : null;
    for (const line of [
      unmatched('Only in this checkpoint:', diff.onlyA),
      unmatched(`Only in ${printable(basename(diff.fileB))}:`, diff.onlyB),
    ]) {
      if (line) this.body.appendChild(line);
    }
  }

  /** Marks the row of the selected tensor. */
  setSelected(name: string | undefined): void {
    for (const [n, row] of this.rows) {
      const on = n === name;
      row.classList.toggle('selected', on);
      row.setAttribute('aria-selected', String(on));
    }
  }
}

/** "Compared with b.onnx: 3 tensors matched, 1,024 positions turned on and 2,048 off (churn 25.0 %)." */
function summaryText(diff: CheckpointDiff): string {
  const compared = diff.layers.filter((l) => l.turnedOn !== null);
  const on = compared.reduce((s, l) => s + l.turnedOn!, 0);
  const off = compared.reduce((s, l) => s + l.turnedOff!, 0);
  const parts = [`${count(diff.layers.length)} tensor${diff.layers.length === 1 ? '' : 's'} matched`];
  parts.push(`${count(on)} positions turned on and ${count(off)} turned off`);
  const differ = diff.layers.length - compared.length;
  if (differ) parts.push(`${count(differ)} of another shape`);
  if (diff.onlyA.length || diff.onlyB.length) parts.push(`${count(diff.onlyA.length)} only here, ${count(diff.onlyB.length)} only in B`);
  return `Compared with ${printable(basename(diff.fileB))}: ${parts.join('; ')}. Choose a tensor to see where it changed.`;
}

function sameShape(l: LayerDiff): boolean {
  return l.shapeA.length === l.shapeB.length && l.shapeA.every((d, i) => d === l.shapeB[i]);
}

function figure(n: number | null): string {
  return n === null ? '—' : count(n);
}

function fanIn(f: { readonly constant: boolean; readonly k: number | null }): string {
  return f.constant && f.k !== null ? `k ${f.k}` : 'varies';
}

function nmText(l: LayerDiff): string {
  const side = (x: number | null | undefined) => (x === undefined ? null : x === null ? 'n/a' : percent(x));
  const [a, b] = [side(l.nmCompliantA), side(l.nmCompliantB)];
  return a === null || b === null ? '—' : `${a} → ${b}`;
}
