/**
 * The SRigL part of the Fine-tuning section: the latest mask of a layer (picked in a select) drawn
 * as a heatmap, its fan-in per neuron as a bar beside each row (flat: constant fan-in; none:
 * ablated), the drop fraction of every update on the schedule's cosine, and the figures of the
 * latest update. Redrawn when the masks change; what it draws is TrainingModel's and
 * maskViewModel's.
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
import { dropFraction, sriglTEnd } from '../../src/core/train/sriglSchedule';
import type { TrainingSriglLayer } from '../../src/webview/protocol';
import { h } from './dom';
import { count, percent } from './format';
import { ramp } from './heatmap/render';
import { fanInFigures, fanInGroups, MASK_LAYOUT, maskCells, maskLayout, packedRowBytes, rowFanIns } from './maskViewModel';
import { css, mix, tooltipStyle, type Theme } from './theme';
import type { MaskUpdateRecord, TrainingModel } from './trainingModel';

Chart.register(LineController, LineElement, PointElement, LinearScale, Tooltip);

type XY = { x: number; y: number };

/** Space under the mask for its axis labels (CSS px). */
const LABEL_SPACE = 18;
/** The gap between the mask and the fan-in strip. */
const STRIP_GAP = 10;

/** The panel's own rules (media/webview.css is shared): adopted once, as the elements' styles are. */
const STYLES = `
.srigl { margin: 6px 4px 8px; padding-top: 8px; border-top: 1px solid var(--sl-border, rgba(128, 128, 128, 0.35)); }
.srigl[hidden] { display: none; }
.srigl-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 12px; margin-bottom: 6px; }
.srigl-head .figure-title { margin: 0; }
.srigl-status { font-variant-numeric: tabular-nums; }
.srigl-body { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: flex-start; }
.srigl-mask { flex: 1 1 320px; min-width: 0; }
.srigl-picker { display: flex; align-items: center; gap: 8px; margin-bottom: 8px; }
.srigl-picker-label { color: var(--sl-muted, var(--vscode-descriptionForeground)); font-size: 0.85em; text-transform: uppercase; letter-spacing: 0.04em; }
.srigl-select { width: 18em; max-width: 100%; }
.srigl-mask-canvas { display: block; }
.srigl-layer-figures, .srigl-k, .srigl-note { color: var(--sl-muted, var(--vscode-descriptionForeground)); font-size: 0.92em; font-variant-numeric: tabular-nums; }
.srigl-layer-figures { margin-top: 6px; }
.srigl-note { margin-top: 2px; }
.srigl-drop { flex: 1 1 280px; min-width: 0; }
.srigl-drop .chart-box { height: 210px; }
.srigl-k { margin-top: 8px; overflow-wrap: anywhere; }
`;

let styled = false;
function adoptStyles(): void {
  if (styled) return;
  styled = true;
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(STYLES);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}

export class SriglPanel {
  readonly element: HTMLElement;
  private readonly status = h('span', { class: 'srigl-status', attrs: { role: 'status', 'aria-live': 'polite' } });
  private readonly select = h('vscode-single-select', {
    class: 'srigl-select',
    attrs: { 'aria-label': 'Layer whose mask is shown' },
  }) as HTMLElement & { value: string };
  private readonly maskCanvas = h('canvas', { class: 'srigl-mask-canvas', attrs: { role: 'img' } });
  private readonly maskBox: HTMLElement;
  private readonly layerFigures = h('div', { class: 'srigl-layer-figures' });
  private readonly note = h('div', { class: 'srigl-note' });
  private readonly kLine = h('div', { class: 'srigl-k' });
  private readonly dropCanvas = h('canvas', { attrs: { role: 'img', 'aria-label': 'Drop fraction per mask update' } });
  private chart: Chart<'line', XY[]> | null = null;
  private model: TrainingModel | null = null;
  /** What the mask canvas shows now: redrawn only when it changes (or the width does). */
  private drawn = '';
  private layersShown = '';
  private readonly resize = new ResizeObserver(() => this.drawMask());

  constructor(
    private theme: Theme,
    /** The user picked another layer. */
    private readonly onPick: (name: string) => void,
  ) {
    adoptStyles();
    this.select.addEventListener('change', () => {
      if (this.select.value) this.onPick(this.select.value);
    });
    this.maskBox = h(
      'div',
      { class: 'srigl-mask' },
      h('div', { class: 'srigl-picker' }, h('label', { class: 'srigl-picker-label', text: 'Layer' }), this.select),
      this.maskCanvas,
      this.layerFigures,
      this.note,
    );
    this.element = h(
      'div',
      { class: 'srigl' },
      h('div', { class: 'srigl-head' }, h('h3', { class: 'figure-title', text: 'Masks (SRigL)' }), this.status),
      h('div', { class: 'srigl-body' }, this.maskBox, h('div', { class: 'srigl-drop' }, h('div', { class: 'chart-box' }, this.dropCanvas))),
      this.kLine,
    );
    this.element.hidden = true;
    this.resize.observe(this.maskBox);
  }

  setTheme(theme: Theme): void {
    this.theme = theme;
    this.chart?.destroy();
    this.chart = null;
    this.drawn = '';
  }

  /** A new run: the chart starts over. */
  reset(): void {
    this.chart?.destroy();
    this.chart = null;
    this.drawn = '';
    this.layersShown = '';
  }

  /** Shows what `model` holds (hidden unless it is a SRigL run). */
  update(model: TrainingModel): void {
    this.model = model;
    const srigl = model.srigl;
    this.element.hidden = !srigl;
    if (!srigl) return;
    const layer = model.layer;
    const key = srigl.layers.map((l) => l.name).join('\n');
    if (key !== this.layersShown) {
      this.layersShown = key;
      this.select.replaceChildren(
        ...srigl.layers.map((l) =>
          h('vscode-option', {
            attrs: { value: l.name, ...(l.name === layer?.name ? { selected: true } : {}) },
            text: `${l.label} · ${count(l.rows)} × ${count(l.cols)}`,
          }),
        ),
      );
    }
    if (layer && this.select.value !== layer.name) this.select.value = layer.name;
    this.status.textContent = model.maskStatusText();
    this.kLine.textContent =
      `k per layer: ${model.kText()}` + (srigl.dense.length ? `; left dense by the plan: ${srigl.dense.join(', ')}` : '');
    this.drawMask();
    this.drawChart();
  }

  private drawMask(): void {
    const model = this.model;
    const layer = model?.layer;
    if (!model || !layer || this.element.hidden) return;
    const held = model.masks;
    const bits = held?.masks.get(layer.name);
    const available = Math.floor(this.maskBox.clientWidth);
    if (available <= 0) return;
    const key = `${layer.name}|${model.masksVersion}|${available}|${window.devicePixelRatio}`;
    if (key === this.drawn) return;
    this.drawn = key;
    const figures = model.layerFigures(layer.name);
    const k = figures?.k ?? layer.k;
    if (!bits || bits.length !== layer.rows * packedRowBytes(layer.cols)) {
      this.maskCanvas.hidden = true;
      this.layerFigures.textContent =
        held && bits === null
          ? `${layer.label} has ${count(layer.rows * layer.cols)} weights: too many to draw live. k = ${count(k)} of ${count(layer.cols)}.`
          : 'Waiting for the masks…';
      this.note.textContent = '';
      return;
    }
    this.maskCanvas.hidden = false;
    const fanIns = rowFanIns(bits, layer.rows, layer.cols);
    const f = fanInFigures(fanIns);
    const { width, height } = maskLayout(layer.rows, layer.cols, { ...MASK_LAYOUT, width: available });
    this.paint(layer, bits, fanIns, width, height, k);
    const when = held!.update === 0 ? 'as the run started' : `after update ${count(held!.update)} (step ${count(held!.step)})`;
    const fanIn = f.constant
      ? `every active neuron has fan-in ${count(f.min)}`
      : f.activeRows
        ? `fan-in ${count(f.min)}–${count(f.max)} per active neuron`
        : 'no active neuron';
    this.layerFigures.textContent =
      `${layer.label} ${when}: ${fanIn} of ${count(layer.cols)} inputs · ${count(f.activeRows)} of ${count(layer.rows)} neurons active` +
      (f.emptyRows ? `, ${count(f.emptyRows)} ablated` : '') +
      ` · ${count(f.total)} weights (${percent(f.total / (layer.rows * layer.cols))})`;
    this.note.textContent =
      `Rows are neurons, columns their inputs; the bar beside each row is its fan-in` +
      (layer.ablatable ? ', none for an ablated neuron (marked at the left of the bar).' : '. The last layer is never ablated.');
    this.maskCanvas.setAttribute('aria-label', `Mask of ${layer.label}: ${this.layerFigures.textContent}`);
  }

  /** The mask downsampled to the canvas's pixels, the fan-in strip beside it, the axes' labels under them. */
  private paint(layer: TrainingSriglLayer, bits: Uint8Array, fanIns: Uint32Array, width: number, height: number, k: number): void {
    const theme = this.theme;
    const dpr = window.devicePixelRatio || 1;
    const strip = MASK_LAYOUT.strip - STRIP_GAP;
    const cssWidth = width + STRIP_GAP + strip;
    const cssHeight = height + LABEL_SPACE;
    const canvas = this.maskCanvas;
    canvas.width = Math.round(cssWidth * dpr);
    canvas.height = Math.round(cssHeight * dpr);
    canvas.style.width = `${cssWidth}px`;
    canvas.style.height = `${cssHeight}px`;
    const ctx = canvas.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.imageSmoothingEnabled = false;
    // The section's own background around the mask: only the mask has the editor's.
    ctx.clearRect(0, 0, cssWidth, cssHeight);

    // The mask: each cell the share of its positions active, on the heatmap's density ramp.
    const outRows = Math.max(1, Math.min(layer.rows, Math.round(height * dpr)));
    const outCols = Math.max(1, Math.min(layer.cols, Math.round(width * dpr)));
    const cells = maskCells(bits, layer.rows, layer.cols, outRows, outCols);
    const image = document.createElement('canvas');
    image.width = outCols;
    image.height = outRows;
    const pixels = image.getContext('2d')!.createImageData(outCols, outRows);
    const lut = ramp(theme.rgba.background, theme.rgba.blue);
    const bg = theme.rgba.background;
    for (let i = 0; i < cells.length; i++) {
      const v = cells[i];
      const o = i * 4;
      const at = v > 0 ? Math.min(255, Math.max(1, Math.round(v * 255))) * 4 : -1;
      pixels.data[o] = at < 0 ? bg[0] : lut[at];
      pixels.data[o + 1] = at < 0 ? bg[1] : lut[at + 1];
      pixels.data[o + 2] = at < 0 ? bg[2] : lut[at + 2];
      pixels.data[o + 3] = 255;
    }
    image.getContext('2d')!.putImageData(pixels, 0, 0);
    ctx.drawImage(image, 0, 0, width, height);
    ctx.strokeStyle = theme.grid;
    ctx.lineWidth = 1;
    ctx.strokeRect(0.5, 0.5, width - 1, height - 1);

    // The fan-in strip: per group of rows a bar to its least fan-in (to its most, lighter).
    const x0 = width + STRIP_GAP;
    const groups = fanInGroups(fanIns, Math.max(1, Math.min(layer.rows, Math.round(height))));
    const n = groups.min.length;
    const f = fanInFigures(fanIns);
    const scale = (0.78 * strip) / Math.max(1, f.max, k);
    const rowH = height / n;
    const light = css(mix(theme.rgba.background, theme.rgba.blue, 0.45));
    for (let g = 0; g < n; g++) {
      // Whole pixels, so that neighbouring bars do not blend: a constant fan-in is one flat edge.
      const y = Math.round(g * rowH);
      const barH = Math.max(1, Math.round((g + 1) * rowH) - y - (rowH >= 4 ? 1 : 0));
      if (groups.max[g] > groups.min[g]) {
        ctx.fillStyle = light;
        ctx.fillRect(x0, y, groups.max[g] * scale, barH);
      }
      if (groups.min[g] > 0) {
        ctx.fillStyle = theme.blue;
        ctx.fillRect(x0, y, groups.min[g] * scale, barH);
      }
      if (groups.empty[g] > 0) {
        // An ablated neuron: no bar, a mark where it would start.
        ctx.fillStyle = theme.orange;
        ctx.fillRect(x0 - 4, y, 3, barH);
      }
    }
    // Where k is: the bars of a constant fan-in end on this line.
    const kx = Math.round(x0 + k * scale) + 0.5;
    ctx.strokeStyle = theme.muted;
    ctx.setLineDash([2, 2]);
    ctx.beginPath();
    ctx.moveTo(kx, 0);
    ctx.lineTo(kx, height);
    ctx.stroke();
    ctx.setLineDash([]);

    // Labels: under the mask its columns, under the strip k.
    ctx.fillStyle = theme.muted;
    ctx.font = `${Math.max(10, theme.fontSize - 2)}px ${theme.fontFamily}`;
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left';
    ctx.fillText(`${count(layer.rows)} neurons × ${count(layer.cols)} inputs`, 0, height + 4, width);
    ctx.fillText(`k = ${count(k)}`, x0, height + 4, strip);
  }

  private drawChart(): void {
    const model = this.model!;
    const srigl = model.srigl!;
    const updates = model.maskUpdates;
    const planned = plannedCurve(srigl.schedule);
    const drops = updates.map((u) => ({ x: u.step, y: u.dropFraction }));
    const moved = updates.map((u) => ({ x: u.step, y: movedShare(u) }));
    if (!this.chart) {
      this.chart = new Chart(this.dropCanvas, this.config(planned, drops, moved));
      return;
    }
    const [a, b, c] = this.chart.data.datasets;
    a.data = planned;
    b.data = drops;
    c.data = moved;
    b.pointRadius = c.pointRadius = updates.length > 80 ? 1.5 : 3;
    this.chart.update('none');
  }

  private config(planned: XY[], drops: XY[], moved: XY[]): ChartConfiguration<'line', XY[]> {
    const theme = this.theme;
    const model = this.model!;
    const srigl = model.srigl!;
    const font = { family: theme.fontFamily, size: Math.max(10, theme.fontSize - 2) };
    const tick = { color: theme.muted, font };
    const radius = drops.length > 80 ? 1.5 : 3;
    return {
      type: 'line',
      plugins: [Legend],
      data: {
        datasets: [
          {
            label: 'planned f(t)',
            data: planned,
            borderColor: theme.muted,
            backgroundColor: theme.muted,
            borderDash: [4, 3],
            borderWidth: 1,
            pointStyle: 'line',
            pointRadius: 0,
            pointHitRadius: 0,
            order: 3,
          },
          {
            label: 'dropped',
            data: drops,
            showLine: false,
            borderColor: theme.blue,
            backgroundColor: theme.blue,
            pointRadius: radius,
            pointHoverRadius: 5,
            order: 2,
          },
          {
            label: 'moved',
            data: moved,
            showLine: false,
            borderColor: theme.orange,
            backgroundColor: theme.orange,
            pointStyle: 'rectRot',
            pointRadius: radius,
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
        layout: { padding: { top: 2, right: 6 } },
        scales: {
          x: {
            type: 'linear',
            min: 0,
            max: Math.max(1, sriglTEnd(srigl.schedule)),
            ticks: { ...tick, maxTicksLimit: 6, precision: 0 },
            grid: { color: theme.grid },
            border: { color: theme.grid },
            title: { display: true, text: `step (updates until T_end = ${count(sriglTEnd(srigl.schedule))})`, color: theme.muted, font },
          },
          y: {
            type: 'linear',
            min: 0,
            suggestedMax: srigl.schedule.alpha,
            ticks: { ...tick, maxTicksLimit: 5, callback: (v) => `${+(Number(v) * 100).toFixed(1)}%` },
            grid: { color: theme.grid },
            border: { display: false },
            title: { display: true, text: 'share of active weights', color: theme.muted, font },
          },
        },
        plugins: {
          legend: {
            position: 'top',
            align: 'end',
            labels: {
              color: theme.foreground,
              font,
              // Each entry drawn as its marks are: a line, dots, diamonds.
              usePointStyle: true,
              boxWidth: 8,
              boxHeight: 8,
              padding: 10,
              sort: (a, b) => (a.datasetIndex ?? 0) - (b.datasetIndex ?? 0),
            },
          },
          tooltip: {
            ...tooltipStyle(theme),
            filter: (item: TooltipItem<'line'>) => item.datasetIndex !== 0,
            callbacks: {
              title: (items: TooltipItem<'line'>[]) => {
                const u = model.maskUpdates[items[0]?.dataIndex ?? -1];
                return u ? `update ${u.index} of ${u.of}, step ${count(u.step)}` : '';
              },
              label: (item: TooltipItem<'line'>) => {
                const u = model.maskUpdates[item.dataIndex];
                if (!u) return '';
                return item.datasetIndex === 1
                  ? `dropped ${percent(u.dropFraction)} of each layer’s active weights`
                  : `moved ${count(u.moved)} weights (${percent(movedShare(u))})`;
              },
            },
          },
        },
      },
    };
  }
}

/** The weights an update moved, as a share of those active after it. */
function movedShare(u: MaskUpdateRecord): number {
  return u.active > 0 ? u.moved / u.active : 0;
}

/** f(t) from 0 to T_end, sampled finely enough to look smooth. */
function plannedCurve(schedule: Parameters<typeof dropFraction>[0]): XY[] {
  const tEnd = sriglTEnd(schedule);
  if (tEnd <= 0) return [];
  const n = 64;
  return Array.from({ length: n + 1 }, (_, i) => {
    const t = (i * tEnd) / n;
    return { x: t, y: dropFraction(schedule, t) };
  });
}
