/**
 * The Fine-tuning section: a run of "Fine-tune…" on this checkpoint, live. A line chart of the
 * loss per step (left axis) and the test accuracy after each epoch (right axis, %), a status line
 * and a progress bar; for a SRigL run its masks below (maskView.ts); redrawn at most ten times a
 * second however fast the steps come. What it shows is TrainingModel's (trainingModel.ts), kept
 * across webview reloads by the caller.
 */
import {
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type TooltipItem,
} from 'chart.js';
import type { TrainingFinished, TrainingPoint, TrainingStarted } from '../../src/webview/protocol';
import { codicon, h } from './dom';
import { basename, count, percent } from './format';
import { SriglPanel } from './maskView';
import { tooltipStyle, type Theme } from './theme';
import { formatNumber, RedrawThrottle, TrainingModel, type SavedTraining } from './trainingModel';

// The legend only here (an inline plugin): the bar charts have none.
Chart.register(LineController, LineElement, PointElement, LinearScale, Tooltip);

type XY = { x: number; y: number };
type LineChart = Chart<'line', XY[]>;

const STATUS_ICON = { running: 'loading', done: 'pass', cancelled: 'circle-slash', failed: 'error' } as const;

export class TrainingSection {
  readonly element: HTMLElement;
  private model: TrainingModel;
  private chart: LineChart | null = null;
  private readonly canvas = h('canvas', { attrs: { role: 'img', 'aria-label': 'Loss per step and test accuracy per epoch' } });
  private readonly icon = h('span', { class: 'training-icon' });
  private readonly statusText = h('span', { class: 'training-status-text' });
  private readonly figures = h('span', { class: 'training-figures' });
  private readonly barFill = h('div', { class: 'training-bar-fill' });
  private readonly bar = h(
    'div',
    {
      class: 'training-bar',
      attrs: { role: 'progressbar', 'aria-label': 'Fine-tuning progress', 'aria-valuemin': 0, 'aria-valuemax': 100 },
    },
    this.barFill,
  );
  private readonly chartBox = h('div', { class: 'chart-box chart-training' }, this.canvas);
  private readonly srigl: SriglPanel;
  private readonly throttle = new RedrawThrottle(100);
  private timer = 0;
  private dismissed = false;

  constructor(
    private theme: Theme,
    saved: SavedTraining | null | undefined,
    /** Told the model changed (to be saved with the webview's state); null when the section was closed. */
    private readonly onChange: (saved: SavedTraining | null) => void,
  ) {
    this.model = TrainingModel.restore(saved);
    this.srigl = new SriglPanel(theme, (name) => {
      this.model.selectLayer(name);
      this.redraw();
    });
    const close = h('vscode-toolbar-button', {
      attrs: { icon: 'close', label: 'Hide until the next fine-tune', title: 'Hide until the next fine-tune' },
      on: { click: () => this.dismiss() },
    });
    this.element = h(
      'vscode-collapsible',
      { class: 'section training', attrs: { heading: 'Fine-tuning', open: true } },
      h(
        'div',
        { class: 'training-head' },
        this.icon,
        // Status and figures share a line when there is room; in a narrow editor the figures go below.
        h('div', { class: 'training-lines', attrs: { role: 'status', 'aria-live': 'polite' } }, this.statusText, this.figures),
        close,
      ),
      this.bar,
      this.chartBox,
      this.srigl.element,
    );
    this.element.hidden = true;
    if (this.model.started) this.redraw();
  }

  start(started: TrainingStarted): void {
    if (this.model.start(started)) {
      this.dismissed = false;
      this.chart?.destroy();
      this.chart = null;
      this.srigl.reset();
    }
    this.schedule();
  }

  progress(run: string, points: readonly TrainingPoint[], seconds: number): void {
    // Masks may come again on steps held already (a replay): they are drawn too.
    const masks = this.model.masksVersion;
    if (this.model.add(run, points, seconds) || this.model.masksVersion !== masks) this.schedule();
  }

  finish(finished: TrainingFinished): void {
    this.model.finish(finished);
    // The end is drawn at once: no later message would flush a pending redraw.
    window.clearTimeout(this.timer);
    this.throttle.drew(performance.now());
    this.redraw();
  }

  setTheme(theme: Theme): void {
    this.theme = theme;
    this.chart?.destroy();
    this.chart = null;
    this.srigl.setTheme(theme);
    if (this.model.started) this.redraw();
  }

  private dismiss(): void {
    this.dismissed = true;
    this.element.hidden = true;
    this.onChange(null);
  }

  private schedule(): void {
    const wait = this.throttle.request(performance.now());
    if (wait === null) return;
    this.timer = window.setTimeout(() => {
      this.throttle.drew(performance.now());
      this.redraw();
    }, wait);
  }

  private redraw(): void {
    const model = this.model;
    const started = model.started;
    if (!started || this.dismissed) return;
    this.element.hidden = false;
    const status = model.status!;
    this.element.setAttribute(
      'description',
      `${started.method} · ${basename(started.data)} → ${basename(model.finished?.output ?? started.output)}`,
    );
    this.icon.replaceChildren(
      codicon(STATUS_ICON[status], `training-icon-${status}${status === 'running' ? ' codicon-modifier-spin' : ''}`),
    );
    this.statusText.textContent = model.statusText();
    this.statusText.className = `training-status-text${status === 'failed' ? ' bad' : ''}`;
    const { before, now, trainLoss } = model.summary;
    const figures: string[] = [];
    if (now !== null || before !== null)
      figures.push(`test accuracy ${before !== null ? percent(before) : '—'}${now !== null ? ` → ${percent(now)}` : ''}`);
    if (trainLoss !== null) figures.push(`train loss ${formatNumber(trainLoss)}`);
    this.figures.textContent = figures.join(' · ');
    const shown = Math.round(model.fraction * 1000) / 10;
    this.barFill.style.width = `${shown}%`;
    this.bar.setAttribute('aria-valuenow', String(shown));
    this.bar.classList.toggle('ended', status !== 'running');
    // A run that failed before its first step has nothing to chart.
    const empty = model.step === 0 && model.accuracy.length === 0;
    this.bar.hidden = empty && status !== 'running';
    this.chartBox.hidden = empty;
    this.canvas.setAttribute(
      'aria-label',
      `Loss per step and test accuracy per epoch: ${model.statusText()}${figures.length ? `; ${figures.join(', ')}` : ''}`,
    );
    this.draw();
    this.srigl.update(model);
    this.onChange(model.save());
  }

  /** Updates the chart's data in place (a new chart only for a new run or theme). */
  private draw(): void {
    const model = this.model;
    const raw = model.lossSeries().map((p) => ({ x: p.step, y: p.loss }));
    const smooth = model.smoothedLoss().map((p) => ({ x: p.step, y: p.loss }));
    const accuracy = model.accuracy.map((a) => ({ x: a.step, y: +(a.accuracy * 100).toFixed(2) }));
    if (!this.chart) {
      this.chart = new Chart(this.canvas, this.config(raw, smooth, accuracy));
      return;
    }
    const [a, b, c] = this.chart.data.datasets;
    a.data = raw;
    b.data = smooth;
    c.data = accuracy;
    c.pointRadius = accuracyPointRadius(accuracy);
    const y2 = this.chart.options.scales!.y2!;
    y2.min = accuracyFloor(accuracy);
    this.chart.update('none');
  }

  private config(raw: XY[], smooth: XY[], accuracy: XY[]): ChartConfiguration<'line', XY[]> {
    const theme = this.theme;
    const started = this.model.started!;
    const font = { family: theme.fontFamily, size: Math.max(10, theme.fontSize - 2) };
    const tick = { color: theme.muted, font };
    const light = theme.kind === 'light' || theme.kind === 'high-contrast-light';
    const highContrast = theme.kind === 'high-contrast' || theme.kind === 'high-contrast-light';
    const faint = `rgba(${theme.rgba.blue.slice(0, 3).join(', ')}, ${highContrast ? 0.6 : light ? 0.35 : 0.45})`;
    return {
      type: 'line',
      plugins: [Legend],
      data: {
        datasets: [
          {
            label: 'loss per step',
            data: raw,
            yAxisID: 'y',
            borderColor: faint,
            backgroundColor: faint,
            borderWidth: 1,
            pointRadius: 0,
            order: 3,
          },
          {
            label: 'loss (smoothed)',
            data: smooth,
            yAxisID: 'y',
            borderColor: theme.blue,
            backgroundColor: theme.blue,
            borderWidth: 2,
            pointRadius: 0,
            order: 2,
          },
          {
            label: 'test accuracy',
            data: accuracy,
            yAxisID: 'y2',
            borderColor: theme.orange,
            backgroundColor: theme.orange,
            borderWidth: 2,
            pointRadius: accuracyPointRadius(accuracy),
            pointHoverRadius: 5,
            order: 1,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        resizeDelay: 50,
        parsing: false,
        normalized: true,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        layout: { padding: { top: 2, right: 4 } },
        scales: {
          x: {
            type: 'linear',
            // The steps so far fill the width up to a round tick (the bar above shows how far the run is).
            min: 0,
            ticks: { ...tick, maxTicksLimit: 10, precision: 0 },
            grid: { color: theme.grid },
            border: { color: theme.grid },
            title: {
              display: true,
              text: `step (${count(started.steps)} in all, ${count(started.epochs)} epoch${started.epochs === 1 ? '' : 's'})`,
              color: theme.muted,
              font,
            },
          },
          y: {
            type: 'linear',
            position: 'left',
            beginAtZero: true,
            ticks: { ...tick, maxTicksLimit: 6 },
            grid: { color: theme.grid },
            border: { display: false },
            title: { display: true, text: 'loss', color: theme.muted, font },
          },
          y2: {
            type: 'linear',
            position: 'right',
            display: started.tested,
            min: accuracyFloor(accuracy),
            max: 100,
            ticks: { ...tick, maxTicksLimit: 6, callback: (v) => `${v}%` },
            grid: { drawOnChartArea: false },
            border: { display: false },
            title: { display: true, text: 'test accuracy', color: theme.muted, font },
          },
        },
        plugins: {
          legend: {
            position: 'top',
            align: 'end',
            labels: {
              color: theme.foreground,
              font,
              boxWidth: 14,
              boxHeight: 2,
              padding: 10,
              // In the datasets' order (their `order` only sets which is drawn on top).
              sort: (a, b) => (a.datasetIndex ?? 0) - (b.datasetIndex ?? 0),
            },
          },
          tooltip: {
            ...tooltipStyle(theme),
            callbacks: {
              title: (items: TooltipItem<'line'>[]) => `step ${items[0]?.parsed.x ?? ''}`,
              label: (item: TooltipItem<'line'>) => {
                const y = item.parsed.y ?? NaN;
                if (item.datasetIndex === 2) {
                  const point = this.model.accuracy[item.dataIndex];
                  return `test accuracy ${y.toFixed(1)} %${point ? (point.epoch === 0 ? ' (before)' : ` (epoch ${point.epoch})`) : ''}`;
                }
                return `${item.dataset.label} ${formatNumber(y)}`;
              },
            },
          },
        },
      },
    };
  }
}

/** A dot per epoch while they are few; a plain line once they would crowd it. */
function accuracyPointRadius(points: readonly XY[]): number {
  return points.length > 60 ? 0 : 3;
}

/** The accuracy axis starts a little below the lowest accuracy shown, on a multiple of 5 %. */
function accuracyFloor(points: readonly XY[]): number {
  if (!points.length) return 0;
  const lowest = Math.min(...points.map((p) => p.y));
  return Math.max(0, Math.floor((lowest - 2) / 5) * 5);
}
