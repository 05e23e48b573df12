/** The line under the heatmap saying what is shown, and the colour legend beside it. */
import type { ViewWindow as HeatmapWindow } from '../../../src/core/neuronView';
import { h } from '../dom';
import { count, range } from '../format';
import type { ColourMode } from '../host';
import type { Geometry } from '../model';
import type { NmCounts } from '../nmGeometry';
import { css, mix, type Theme } from '../theme';
import type { Tiles } from './requests';

export interface ViewState {
  readonly geometry: Geometry;
  readonly nm: NmCounts;
  readonly window: HeatmapWindow;
  /** Single weights are wanted for the window. */
  readonly singleWeights: boolean;
  /** They have arrived (the values in hand cover the window). */
  readonly valuesShown: boolean;
  readonly violationsInView: number;
  /** The cells drawn last, when cells are drawn. */
  readonly detail: Tiles | null;
}

/** "rows 0–255 of 256 · cols 0–63 of 64 · 1 cell = 1 weight", and the like. */
export function statusText(s: ViewState): string {
  const g = s.geometry;
  const win = s.window;
  const parts = [
    `rows ${range(win.rowStart, win.rowEnd)} of ${count(g.rows)}`,
    `cols ${range(win.colStart, win.colEnd)} of ${count(g.cols)}`,
  ];
  if (s.singleWeights) {
    if (s.valuesShown) {
      parts.push(`single weights · ${s.nm.n}:${s.nm.m} groups${g.K > 1 ? ` of input channels at each of ${g.K} kernel positions` : ''}`);
      if (s.violationsInView) parts.push(`${count(s.violationsInView)} violating group${s.violationsInView === 1 ? '' : 's'} in view`);
    } else parts.push('loading weights…');
  } else if (s.detail) {
    const rpc = (s.detail.window.rowEnd - s.detail.window.rowStart) / s.detail.rows;
    const cpc = (s.detail.window.colEnd - s.detail.window.colStart) / s.detail.cols;
    parts.push(rpc <= 1 && cpc <= 1 ? '1 cell = 1 weight' : `1 cell ≈ ${fmtRatio(rpc)} × ${fmtRatio(cpc)} weights`);
  }
  return parts.join(' · ');
}

function fmtRatio(x: number): string {
  return x >= 10 ? String(Math.round(x)) : x.toFixed(1).replace(/\.0$/, '');
}

/** Swatches for single weights, or the ramp of the cell colouring. */
export class Legend {
  readonly element = h('div', { class: 'heatmap-legend', attrs: { 'aria-hidden': 'true' } });
  private singleWeights: boolean | null = null;

  /** Rebuilds the legend; `compared` names the checkpoint the changes are counted against. */
  update(t: Theme, mode: ColourMode, nm: NmCounts, singleWeights: boolean, compared?: string): void {
    const legend = this.element;
    while (legend.firstChild) legend.removeChild(legend.firstChild);
    const swatch = (color: string, label: string, outline = false): HTMLElement => {
      const s = h('span', { class: `swatch${outline ? ' swatch-outline' : ''}` });
      if (outline) s.style.borderColor = color;
      else s.style.backgroundColor = color;
      return h('span', { class: 'legend-item' }, s, label);
    };
    if (mode === 'changes') {
      legend.append(
        swatch(t.green, 'turned on'),
        swatch(t.red, 'turned off'),
        swatch(css(mix(t.rgba.background, t.rgba.foreground, 0.22)), 'kept'),
        swatch(t.background, 'zero in both'),
      );
      if (compared) legend.title = `Positions changed from this checkpoint to ${compared}`;
    } else if (singleWeights) {
      legend.append(
        swatch(t.blue, 'w > 0'),
        swatch(t.orange, 'w < 0'),
        swatch(t.background, 'zero'),
        swatch(t.red, `> ${nm.n} of ${nm.m}`, true),
      );
    } else {
      const strong = mode === 'density' ? t.rgba.blue : t.rgba.purple;
      const bar = h('span', { class: 'ramp' });
      bar.style.backgroundImage = `linear-gradient(to right, ${css(mix(t.rgba.background, strong, 0.14))}, ${css(strong)})`;
      legend.append(
        swatch(t.background, mode === 'density' ? 'empty' : '0'),
        h('span', { class: 'legend-item' }, mode === 'density' ? '>0' : '', bar, mode === 'density' ? 'dense' : 'max mean |w|'),
      );
    }
  }

  /** Rebuilds the legend when the drawing switched between cells and single weights. */
  sync(t: Theme, mode: ColourMode, nm: NmCounts, singleWeights: boolean, compared?: string): void {
    if (singleWeights === this.singleWeights) return;
    this.singleWeights = singleWeights;
    this.update(t, mode, nm, singleWeights, compared);
  }
}
