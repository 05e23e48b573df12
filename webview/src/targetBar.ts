/**
 * The target selector and its answer: which structure the user wants (an N:M pattern, constant
 * fan-in, the plan) and, in one line, whether the checkpoint has it.
 */
import type { TargetKind, Verdict } from '../../src/core/analysis/target';
import type { NmPattern } from '../../src/core/nmPattern';
import { codicon, h } from './dom';

const PATTERNS = ['2:4', '1:4', '4:8', '1:2', '2:8'];

const STATE_ICONS: Readonly<Record<Verdict['state'], string>> = {
  meets: 'pass',
  misses: 'warning',
  dense: 'circle-outline',
  none: 'info',
};

export class TargetBar {
  readonly element: HTMLElement;
  private readonly select: HTMLElement & { value: string };
  private readonly answer = h('div', { class: 'verdict', attrs: { role: 'status', 'aria-live': 'polite' } });

  /** `onChoose`: the user picked a target; `nm` ("2:4") for a pattern. */
  constructor(private readonly onChoose: (kind: TargetKind, nm?: string) => void) {
    this.select = h('vscode-single-select', {
      class: 'target-select',
      attrs: { 'aria-label': 'Target structure' },
    }) as HTMLElement & { value: string };
    this.select.addEventListener('change', () => {
      const value = this.select.value;
      if (value.startsWith('nm:')) this.onChoose('nm', value.slice(3));
      else this.onChoose(value as TargetKind);
    });
    this.element = h('div', { class: 'target-bar' }, h('label', { class: 'target-label', text: 'Target' }), this.select, this.answer);
  }

  /** Shows `verdict` for `target` (the N:M pattern is the report's). */
  update(target: TargetKind, nm: NmPattern, verdict: Verdict): void {
    const current = `${nm.n}:${nm.m}`;
    const options: [string, string][] = [
      ...[...new Set([current, ...PATTERNS])].map((p): [string, string] => [`nm:${p}`, `${p} (N:M)`]),
      ['fan-in', 'Constant fan-in (SRigL)'],
      ['plan', 'The plan (Plan section)'],
    ];
    const value = target === 'nm' ? `nm:${current}` : target;
    this.select.replaceChildren(
      ...options.map(([v, label]) => h('vscode-option', { attrs: { value: v, ...(v === value ? { selected: true } : {}) }, text: label })),
    );
    this.select.value = value;
    this.answer.className = `verdict verdict-${verdict.state}`;
    this.answer.replaceChildren(codicon(STATE_ICONS[verdict.state], 'verdict-icon'), h('span', { text: verdict.line }));
  }
}
