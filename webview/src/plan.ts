/**
 * The Plan section: a density distribution and a global sparsity chosen by the user, each weight's
 * target density and constant fan-in k from the host (the same plan as `sparsity-lens plan`),
 * shown as a table beside what the layer holds now, with SRigL's ablation candidates.
 */
import type { CheckpointPlan } from '../../src/core/analysis/checkpointPlan';
import { layerLabel } from '../../src/core/analysis/layerLabel';
import type { Distribution } from '../../src/core/analysis/plan';
import { printable } from '../../src/core/errors';
import type { HostMethods } from '../../src/webview/protocol';
import { PlanChart } from './charts';
import { clear, h } from './dom';
import { count, percent } from './format';
import type { Theme } from './theme';

type PlanReply = HostMethods['plan']['result'];

const DISTRIBUTIONS: readonly [Distribution, string][] = [
  ['erk', 'ERK'],
  ['er', 'ER'],
  ['uniform', 'Uniform'],
];

export class PlanSection {
  readonly element: HTMLElement;
  private readonly chart = new PlanChart();
  private readonly table = h('div', { class: 'plan-table-slot' });
  private readonly status = h('div', { class: 'plan-status', attrs: { role: 'status' } });
  private distribution: Distribution = 'erk';
  private sparsity = '0.9';
  private plan: CheckpointPlan | null = null;
  private timer = 0;
  private asked = 0;

  constructor(
    private readonly request: (distribution: Distribution, sparsity: string) => Promise<PlanReply>,
    /** Told each plan made (null when the sparsity or the checkpoint allows none). */
    private readonly onPlan: (plan: CheckpointPlan | null) => void,
    private theme: Theme,
    open: boolean,
    onToggle: (open: boolean) => void,
  ) {
    const choice = h(
      'vscode-radio-group',
      { attrs: { 'aria-label': 'Density distribution' } },
      ...DISTRIBUTIONS.map(([value, label]) =>
        h('vscode-radio', { attrs: { name: 'distribution', value, label, checked: value === this.distribution } }),
      ),
    );
    choice.addEventListener('change', (ev) => {
      const value = (ev.target as HTMLElement & { value?: string }).value as Distribution | undefined;
      if (value && value !== this.distribution) {
        this.distribution = value;
        this.refresh(0);
      }
    });
    const sparsity = h('vscode-textfield', {
      class: 'plan-sparsity',
      attrs: { value: this.sparsity, 'aria-label': 'Global sparsity (0 to 1)', placeholder: '0.9' },
    }) as HTMLElement & { value: string };
    sparsity.addEventListener('input', () => {
      this.sparsity = sparsity.value.trim();
      this.refresh(300);
    });
    this.element = h(
      'vscode-collapsible',
      {
        class: 'section plan',
        attrs: { heading: 'Plan', description: 'target density and constant fan-in k per weight (SRigL)', open },
      },
      h('div', { class: 'plan-controls' }, h('label', { class: 'plan-label', text: 'Sparsity' }), sparsity, choice, this.status),
      h(
        'div',
        { class: 'plan-body' },
        h(
          'figure',
          { class: 'figure' },
          h('h3', { class: 'figure-title', text: 'Target density (blue) and now (purple)' }),
          this.chart.element,
        ),
        this.table,
      ),
    );
    this.element.addEventListener('vsc-collapsible-toggle', (ev) => {
      const isOpen = (ev as CustomEvent<{ open: boolean }>).detail.open;
      onToggle(isOpen);
      if (isOpen && !this.plan) this.refresh(0);
    });
    if (open) this.refresh(0);
  }

  setTheme(theme: Theme): void {
    this.theme = theme;
    if (this.plan) this.chart.setPlan(this.plan, theme);
  }

  /** Opens the section (its plan is then made, if not yet). */
  open(): void {
    const section = this.element as HTMLElement & { open?: boolean };
    if (!section.open) section.open = true;
    if (!this.plan) this.refresh(0);
  }

  /** Asks again (the analysis was redone). */
  reset(): void {
    this.plan = null;
    if ((this.element as HTMLElement & { open?: boolean }).open) this.refresh(0);
  }

  private refresh(delayMs: number): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => void this.ask(), delayMs);
  }

  private async ask(): Promise<void> {
    const asked = ++this.asked;
    this.status.textContent = 'Planning…';
    let reply: PlanReply;
    try {
      reply = await this.request(this.distribution, this.sparsity);
    } catch (e) {
      reply = { error: (e as Error).message };
    }
    if (asked !== this.asked) return; // a newer request is under way
    if ('error' in reply) {
      this.status.textContent = reply.error;
      this.status.classList.add('error');
      this.onPlan(null);
      return;
    }
    this.status.classList.remove('error');
    const { plan } = reply;
    this.plan = plan;
    const total = plan.total;
    this.status.textContent =
      `${plan.distribution.toUpperCase()} at sparsity ${plan.sparsity}: ${count(total.constFanInNnz)} of ${count(total.numel)} weights ` +
      `with constant fan-in (${percent(total.constFanInNnz / Math.max(1, total.numel))}), ${count(total.actualNnz)} now`;
    this.chart.setPlan(plan, this.theme);
    this.onPlan(plan);
    clear(this.table);
    this.table.appendChild(planTable(plan));
  }
}

function planTable(plan: CheckpointPlan): HTMLElement {
  const head = ['Layer', 'Target', 'k', 'Now', 'Fan-in now', 'Ablation'];
  const rows = plan.layers.map((l) => {
    const label = printable(layerLabel(l));
    const k = l.k === null ? (l.kError ?? '—') : l.dense ? `dense (${l.k})` : `${l.k} of ${l.denseFanIn}`;
    const f = l.actual.fanIn;
    const fanIn = f.constant ? `${f.min} (constant)` : `${f.min}–${f.max}`;
    const ablation = l.ablation
      ? l.ablation.candidates.length
        ? `${l.ablation.candidates.length} of ${Math.round(l.numel / Math.max(1, l.denseFanIn))} (k → ${l.ablation.kAfterAblation})`
        : 'none'
      : '—';
    return h(
      'tr',
      {},
      h('td', { class: 'name', text: label, title: label }),
      h('td', { class: 'num', text: l.dense ? 'dense' : percent(l.targetDensity) }),
      h('td', { class: 'num', text: k, title: l.kError ?? '' }),
      h('td', { class: 'num', text: percent(l.actual.density) }),
      h('td', { class: 'num', text: fanIn }),
      h('td', {
        class: 'num',
        text: ablation,
        title: l.ablation
          ? `rows ${l.ablation.candidates.slice(0, 40).join(', ')}${l.ablation.candidates.length > 40 ? ', …' : ''} (marked in the heatmap's fan-in bar); ` +
            `threshold ${l.ablation.threshold} salient weights; saves ${count(l.ablation.savedParameters)} weights` +
            (l.ablation.nextLayer
              ? ` here and ${count(l.ablation.nextLayer.savedParameters)} in ${printable(l.ablation.nextLayer.name)} (${count(l.ablation.nextLayer.inputColumns)} input columns)` +
                (l.ablation.savedMacsPerSample ? `, ${count(l.ablation.savedMacsPerSample)} multiply-accumulates per sample` : '')
              : '') +
            `; ${l.ablation.note}`
          : '',
      }),
    );
  });
  return h(
    'table',
    { class: 'plan-table', attrs: { 'aria-label': 'Plan per weight' } },
    h('thead', {}, h('tr', {}, ...head.map((t) => h('th', { text: t })))),
    h('tbody', {}, ...rows),
  );
}
