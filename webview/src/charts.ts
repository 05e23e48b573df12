/**
 * The three charts, drawn by chart.js with only the parts they use registered (bar charts on a
 * category and a linear scale, with tooltips), themed from the VS Code variables.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  LinearScale,
  Tooltip,
  type ChartConfiguration,
  type ChartOptions,
  type TooltipItem,
} from 'chart.js';
import type { CheckpointPlan } from '../../src/core/analysis/checkpointPlan';
import { layerLabel } from '../../src/core/analysis/layerLabel';
import { printable } from '../../src/core/errors';
import { count, percent } from './format';
import type { Layer } from './model';
import { css, mix, tooltipStyle, type Theme } from './theme';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);

type BarChart = Chart<'bar', (number | null)[], string>;

/** Short label for a long tensor name: the last parts, which tell layers apart. */
function shortName(name: string, max = 22): string {
  if (name.length <= max) return name;
  const parts = name.split('.');
  let out = parts.pop() ?? name;
  while (parts.length && out.length + parts[parts.length - 1].length + 1 <= max - 1) out = `${parts.pop()}.${out}`;
  return `…${out}`;
}

function baseOptions(theme: Theme, yTitle: string, yMax: number | undefined, percentAxis: boolean): ChartConfiguration<'bar'>['options'] {
  const tick = { color: theme.muted, font: { family: theme.fontFamily, size: Math.max(10, theme.fontSize - 2) } };
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    resizeDelay: 50,
    layout: { padding: { top: 4, right: 8 } },
    scales: {
      x: {
        ticks: { ...tick, maxRotation: 50, autoSkip: true, autoSkipPadding: 6 },
        grid: { display: false },
        border: { color: theme.grid },
      },
      y: {
        min: 0,
        max: yMax,
        ticks: { ...tick, maxTicksLimit: 5, callback: percentAxis ? (v) => `${v}%` : undefined, precision: percentAxis ? undefined : 0 },
        grid: { color: theme.grid },
        border: { display: false },
        title: { display: true, text: yTitle, color: theme.muted, font: tick.font },
      },
    },
    plugins: {
      tooltip: { ...tooltipStyle(theme), displayColors: false },
    },
  };
}

/** Bar-chart options by which a click selects the layer under the pointer, shown by the cursor. */
function pickable(layers: readonly Layer[], onPick: (layer: Layer) => void): Pick<ChartOptions<'bar'>, 'onClick' | 'onHover'> {
  return {
    onClick: (_ev, elements) => {
      const hit = elements[0];
      if (hit) onPick(layers[hit.index]);
    },
    onHover: (ev, elements) => {
      (ev.native?.target as HTMLElement | undefined)?.style.setProperty('cursor', elements.length ? 'pointer' : 'default');
    },
  };
}

/** One chart.js bar chart with a canvas, a caption and a text alternative for screen readers. */
abstract class BarPanel {
  readonly element: HTMLElement;
  protected chart: BarChart | null = null;
  protected readonly canvas: HTMLCanvasElement;

  constructor(label: string, className: string) {
    this.canvas = document.createElement('canvas');
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', label);
    const box = document.createElement('div');
    box.className = `chart-box ${className}`;
    box.appendChild(this.canvas);
    this.element = box;
  }

  protected abstract config(theme: Theme): ChartConfiguration<'bar', (number | null)[], string>;

  /** Rebuilds the chart (new data or new theme); cheap for a few hundred bars. */
  render(theme: Theme): void {
    this.chart?.destroy();
    this.chart = new Chart(this.canvas, this.config(theme));
  }

  destroy(): void {
    this.chart?.destroy();
    this.chart = null;
  }
}

/** (a) Density of each weight tensor; the selected one stands out; a click selects. */
export class DensityChart extends BarPanel {
  private layers: Layer[] = [];
  private selected: string | undefined;

  constructor(private readonly onPick: (layer: Layer) => void) {
    super('Density (non-zero fraction) of each weight tensor', 'chart-density');
  }

  setData(layers: readonly Layer[], selected: string | undefined, theme: Theme): void {
    this.layers = layers.filter((l) => l.isWeight);
    this.selected = selected;
    this.canvas.setAttribute(
      'aria-label',
      'Density per weight tensor: ' + this.layers.map((l) => `${l.label} ${percent(l.density)}`).join(', '),
    );
    this.render(theme);
  }

  setSelected(name: string | undefined, theme: Theme): void {
    this.selected = name;
    if (!this.chart) return;
    const ds = this.chart.data.datasets[0];
    ds.backgroundColor = this.colors(theme);
    this.chart.update('none');
  }

  private colors(theme: Theme): string[] {
    return this.layers.map((l) =>
      l.report.name === this.selected ? theme.orange : l.verdict?.state === 'dense' ? denseGrey(theme) : theme.blue,
    );
  }

  protected config(theme: Theme): ChartConfiguration<'bar', (number | null)[], string> {
    const options = baseOptions(theme, 'density', 100, true)!;
    return {
      type: 'bar',
      data: {
        labels: this.layers.map((l) => shortName(l.label)),
        datasets: [
          {
            data: this.layers.map((l) => +(l.density * 100).toFixed(3)),
            backgroundColor: this.colors(theme),
            borderRadius: 1,
            maxBarThickness: 48,
            categoryPercentage: 0.85,
          },
        ],
      },
      options: {
        ...options,
        ...pickable(this.layers, this.onPick),
        plugins: {
          ...options.plugins,
          tooltip: {
            ...options.plugins!.tooltip,
            callbacks: {
              title: (items: TooltipItem<'bar'>[]) => this.layers[items[0].dataIndex].label,
              label: (item: TooltipItem<'bar'>) => {
                const l = this.layers[item.dataIndex].report;
                return [
                  `density ${percent(l.nnz / l.numel)} (${count(l.nnz)} of ${count(l.numel)} non-zero)`,
                  `sparsity ${percent(l.sparsity)}`,
                ];
              },
            },
          },
        },
      },
    };
  }
}

/**
 * (c) How far each weight tensor is from the target: for N:M the share of its non-zeros a
 * projection removes, for constant fan-in the spread of its fan-in, for a plan the gap to it.
 * Coloured by that distance; a layer that meets the target is a green sliver, a dense one grey.
 */
export class NmChart extends BarPanel {
  private layers: Layer[] = [];
  private selected: string | undefined;
  private axis = '';

  constructor(private readonly onPick: (layer: Layer) => void) {
    super('Distance from the target of each weight tensor', 'chart-nm');
  }

  /** `axis`: what the bars measure, for the y axis. */
  setData(layers: readonly Layer[], axis: string, selected: string | undefined, theme: Theme): void {
    this.layers = layers.filter((l) => l.isWeight && l.verdict);
    this.axis = axis;
    this.selected = selected;
    this.canvas.setAttribute('aria-label', `${axis} per weight tensor: ` + this.layers.map((l) => `${l.label} ${describe(l)}`).join(', '));
    this.render(theme);
  }

  setSelected(name: string | undefined, theme: Theme): void {
    this.selected = name;
    if (!this.chart) return;
    const ds = this.chart.data.datasets[0];
    ds.borderColor = this.borders(theme);
    ds.borderWidth = this.layers.map((l) => (l.report.name === this.selected ? 2 : 0));
    this.chart.update('none');
  }

  private borders(theme: Theme): string[] {
    return this.layers.map((l) => (l.report.name === this.selected ? theme.foreground : 'transparent'));
  }

  protected config(theme: Theme): ChartConfiguration<'bar', (number | null)[], string> {
    const options = baseOptions(theme, this.axis, undefined, true)!;
    const y = options.scales!.y!;
    return {
      type: 'bar',
      data: {
        labels: this.layers.map((l) => shortName(l.label)),
        datasets: [
          {
            data: this.layers.map((l) => +(l.verdict!.distance * 100).toFixed(3)),
            backgroundColor: this.layers.map((l) => distanceColour(l, theme)),
            borderColor: this.borders(theme),
            borderWidth: this.layers.map((l) => (l.report.name === this.selected ? 2 : 0)),
            borderSkipped: false,
            borderRadius: 1,
            maxBarThickness: 48,
            categoryPercentage: 0.85,
            minBarLength: 3,
          },
        ],
      },
      options: {
        ...options,
        // Small distances stay readable: the axis ends just above the largest bar (at least 1 %).
        scales: { ...options.scales, y: { ...y, suggestedMax: 1 } },
        ...pickable(this.layers, this.onPick),
        plugins: {
          ...options.plugins,
          tooltip: {
            ...options.plugins!.tooltip,
            callbacks: {
              title: (items: TooltipItem<'bar'>[]) => this.layers[items[0].dataIndex].label,
              label: (item: TooltipItem<'bar'>) => describe(this.layers[item.dataIndex]),
            },
          },
        },
      },
    };
  }
}

function describe(l: Layer): string {
  const v = l.verdict!;
  return v.state === 'misses' ? `${v.text} (${percent(v.distance)})` : v.state === 'meets' ? `meets the target: ${v.text}` : v.text;
}

/** A dense layer's bar: grey, neither good nor bad. */
function denseGrey(theme: Theme): string {
  return css(mix(theme.rgba.background, theme.rgba.foreground, 0.3));
}

/** Green when the layer meets the target, grey when dense, then yellow, orange, red as it gets further. */
function distanceColour(l: Layer, theme: Theme): string {
  const v = l.verdict!;
  if (v.state === 'dense') return denseGrey(theme);
  if (v.state === 'meets') return theme.green;
  return v.distance < 0.02 ? theme.yellow : v.distance < 0.1 ? theme.orange : theme.red;
}

/** (b) How many output neurons have each fan-in, for the selected tensor. */
export class FanInHistogram extends BarPanel {
  private bins: { from: number; to: number; count: number }[] = [];
  private layer: Layer | null = null;

  constructor() {
    super('Fan-in histogram of the selected tensor', 'chart-fanin');
  }

  setLayer(layer: Layer | null, theme: Theme): void {
    this.layer = layer;
    this.bins = [];
    const fanIn = layer?.geometry?.fanIn;
    if (layer && fanIn && layer.geometry) {
      // Dead neurons (fan-in 0) get a bar of their own; the active ones are binned over their
      // occupied range: one bin per value when that fits, else about 40 bins.
      let lo = Infinity;
      let hi = 0;
      let dead = 0;
      for (const v of fanIn) {
        if (v === 0) dead++;
        else {
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
      if (dead) this.bins.push({ from: 0, to: 0, count: dead });
      if (lo <= hi) {
        const span = hi - lo + 1;
        const width = span <= 48 ? 1 : Math.ceil(span / 40);
        const n = Math.ceil(span / width);
        const first = this.bins.length;
        for (let i = 0; i < n; i++) this.bins.push({ from: lo + i * width, to: Math.min(hi, lo + (i + 1) * width - 1), count: 0 });
        for (const v of fanIn) if (v !== 0) this.bins[first + Math.min(n - 1, Math.floor((v - lo) / width))].count++;
      }
      const parts = this.bins.filter((b) => b.count).map((b) => `${b.from === b.to ? b.from : `${b.from}–${b.to}`}: ${b.count}`);
      this.canvas.setAttribute('aria-label', `Fan-in histogram of ${layer.label}, neurons per fan-in: ${parts.join(', ')}`);
    }
    this.render(theme);
  }

  protected config(theme: Theme): ChartConfiguration<'bar', (number | null)[], string> {
    const options = baseOptions(theme, 'neurons', undefined, false)!;
    const dense = this.layer?.geometry?.cols ?? 0;
    return {
      type: 'bar',
      data: {
        labels: this.bins.map((b) => (b.to === 0 ? '0 (dead)' : b.from === b.to ? String(b.from) : `${b.from}–${b.to}`)),
        datasets: [
          {
            // Empty bins as null and a minimum length for the rest: a handful of dead neurons
            // next to thousands of active ones still shows.
            data: this.bins.map((b) => b.count || null),
            minBarLength: 3,
            backgroundColor: this.bins.map((b) => (b.to === 0 ? theme.red : theme.blue)),
            borderRadius: 1,
            maxBarThickness: 40,
            categoryPercentage: 0.9,
            barPercentage: 0.95,
          },
        ],
      },
      options: {
        ...options,
        scales: {
          ...options.scales,
          x: {
            ...options.scales!.x,
            title: {
              display: true,
              text: `fan-in (non-zeros per neuron, dense = ${count(dense)})`,
              color: theme.muted,
              font: { family: theme.fontFamily, size: Math.max(10, theme.fontSize - 2) },
            },
          },
        },
        plugins: {
          ...options.plugins,
          tooltip: {
            ...options.plugins!.tooltip,
            callbacks: {
              title: (items: TooltipItem<'bar'>[]) => {
                const b = this.bins[items[0].dataIndex];
                return `fan-in ${b.from === b.to ? b.from : `${b.from}–${b.to}`}${dense ? ` (${percent(b.from / dense)} dense)` : ''}`;
              },
              label: (item: TooltipItem<'bar'>) => {
                const b = this.bins[item.dataIndex];
                return `${count(b.count)} neuron${b.count === 1 ? '' : 's'}${b.from === 0 ? ' (dead)' : ''}`;
              },
            },
          },
        },
      },
    };
  }
}

/** Target density of a plan beside the density each weight holds now, per layer. */
export class PlanChart extends BarPanel {
  private plan: CheckpointPlan | null = null;

  constructor() {
    super('Target and actual density of each weight tensor', 'chart-plan');
  }

  setPlan(plan: CheckpointPlan, theme: Theme): void {
    this.plan = plan;
    this.canvas.setAttribute(
      'aria-label',
      'Target and actual density: ' +
        plan.layers.map((l) => `${layerLabel(l)} target ${percent(l.targetDensity)}, now ${percent(l.actual.density)}`).join('; '),
    );
    this.render(theme);
  }

  protected config(theme: Theme): ChartConfiguration<'bar', (number | null)[], string> {
    const layers = this.plan?.layers ?? [];
    const options = baseOptions(theme, 'density', 100, true)!;
    return {
      type: 'bar',
      data: {
        labels: layers.map((l) => shortName(printable(layerLabel(l)))),
        datasets: [
          { label: 'target', data: layers.map((l) => l.targetDensity * 100), backgroundColor: theme.blue, barPercentage: 0.9 },
          { label: 'now', data: layers.map((l) => l.actual.density * 100), backgroundColor: theme.purple, barPercentage: 0.9 },
        ],
      },
      options: {
        ...options,
        plugins: {
          ...options.plugins,
          tooltip: {
            ...options.plugins!.tooltip,
            callbacks: {
              title: (items: TooltipItem<'bar'>[]) => printable(layerLabel(layers[items[0].dataIndex])),
              label: (item: TooltipItem<'bar'>) => {
                const l = layers[item.dataIndex];
                return item.datasetIndex === 0
                  ? `target ${percent(l.targetDensity)}${l.k === null ? '' : `, k = ${l.k} of ${l.denseFanIn}`}`
                  : `now ${percent(l.actual.density)} (${count(l.actual.nnz)} non-zero)`;
              },
            },
          },
        },
      },
    };
  }
}
