/**
 * The mask heatmap of one weight: rows = output neurons, columns = fan-in positions. The webview
 * never holds the matrix: it asks the host for the visible window downsampled to at most as many
 * cells as the canvas has pixels (and settings.maxHeatmapCells), and, once zoomed in far enough,
 * for the weights themselves, drawn one by one with the N:M group grid and violating groups.
 *
 * Interaction: wheel zooms around the cursor, drag pans, double-click zooms in; with the canvas
 * focused, arrows pan, + / − zoom, 0 fits. Requests to the host go through heatmap/requests.ts.
 */
import type { NmPattern } from '../../../src/core/analysis/nmPattern';
import type { FromWebview, HeatmapWindow, ToWebview } from '../../../src/protocol';
import { h, codicon } from '../dom';
import { count, percent, range, weight as formatWeight } from '../format';
import type { ColourMode, SavedView } from '../host';
import type { Geometry, Layer } from '../model';
import { groupBlock, groupColumns, groupOfColumn, partialGroupStart, violatingGroups } from '../nmGeometry';
import { css, mix, type Rgba, type Theme } from '../theme';
import { HeatmapRequests, HostError, type Tiles } from './requests';
import { cellBudget, cellOf, contains, GUTTER, MAX_CELL, sameWindow, valuesRequestWindow, Viewport, within, type Cell } from './viewport';

const DEBOUNCE_MS = 80;

interface Tile {
  readonly window: HeatmapWindow;
  readonly rows: number;
  readonly cols: number;
  readonly density: Float32Array;
  readonly meanAbs: Float32Array;
  readonly maxMean: number;
  image: HTMLCanvasElement | null;
  imageStamp: string;
}

interface ValuesTile {
  readonly window: HeatmapWindow;
  readonly values: Float32Array;
  readonly maxAbs: number;
  image: HTMLCanvasElement | null;
  imageStamp: string;
}

export interface HeatmapOptions {
  readonly post: (message: FromWebview) => void;
  readonly onViewChange: (layer: string, view: SavedView) => void;
  readonly onModeChange: (mode: ColourMode) => void;
}

export class HeatmapView {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private readonly wrap: HTMLElement;
  private readonly tooltip: HTMLElement;
  private readonly status: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly legend: HTMLElement;
  private readonly loading: HTMLElement;
  private readonly modeGroup: HTMLElement;

  private theme: Theme;
  private themeStamp = 0;
  private layer: Layer | null = null;
  private geo: Geometry | null = null;
  private nm: NmPattern = { n: 2, m: 4 };
  private maxCells = 1 << 18;
  private zeroThreshold = 0;
  private mode: ColourMode = 'density';

  private readonly viewport = new Viewport();
  /** A saved window to show once the canvas has a size. */
  private pendingView: SavedView | undefined;
  private needsInitialView = false;

  private overview: Tile | null = null;
  private detail: Tile | null = null;
  private values: ValuesTile | null = null;
  private readonly requests: HeatmapRequests;
  private requestTimer = 0;
  private frame = 0;
  private error = '';

  private hover: { x: number; y: number } | null = null;
  private drag: { pointer: number; x: number; y: number; x0: number; y0: number; moved: boolean } | null = null;

  constructor(theme: Theme, private readonly options: HeatmapOptions) {
    this.theme = theme;
    this.requests = new HeatmapRequests(options.post);
    this.canvas = h('canvas', {
      class: 'heatmap-canvas',
      attrs: { tabindex: 0, role: 'img', 'aria-roledescription': 'zoomable mask heatmap' },
    });
    this.ctx = this.canvas.getContext('2d', { alpha: false })!;
    this.tooltip = h('div', { class: 'heatmap-tooltip', attrs: { role: 'tooltip', 'aria-hidden': 'true' } });
    this.tooltip.hidden = true;
    this.empty = h('div', { class: 'heatmap-empty' });
    this.wrap = h('div', { class: 'heatmap-wrap' }, this.canvas, this.tooltip, this.empty);
    this.status = h('div', { class: 'heatmap-status', id: 'heatmap-status', attrs: { 'aria-live': 'polite' } });
    this.loading = h('vscode-progress-ring', { class: 'heatmap-loading', attrs: { 'aria-label': 'Loading' } });
    this.loading.hidden = true;
    this.legend = h('div', { class: 'heatmap-legend', attrs: { 'aria-hidden': 'true' } });
    this.canvas.setAttribute('aria-describedby', 'heatmap-status');

    const button = (icon: string, label: string, onClick: () => void): HTMLElement =>
      h('vscode-toolbar-button', { attrs: { icon, label, title: label }, on: { click: onClick } });
    const radio = (value: ColourMode, label: string): HTMLElement =>
      h('vscode-radio', { attrs: { name: 'heatmap-mode', value, label, checked: value === this.mode }, text: label });
    this.modeGroup = h('vscode-radio-group', { class: 'mode-group', attrs: { 'aria-label': 'Colour cells by' } },
      radio('density', 'Density'), radio('magnitude', 'Mean |w|'));
    this.modeGroup.addEventListener('change', (ev) => {
      const target = ev.target as HTMLElement & { value?: string; checked?: boolean };
      if (target.tagName.toLowerCase() === 'vscode-radio' && target.checked) this.setMode(target.value as ColourMode, true);
    });
    const toolbar = h(
      'div',
      { class: 'heatmap-toolbar', attrs: { role: 'toolbar', 'aria-label': 'Heatmap' } },
      h('span', { class: 'toolbar-label', text: 'Colour' }),
      this.modeGroup,
      h('span', { class: 'toolbar-spacer' }),
      this.loading,
      h(
        'vscode-toolbar-container',
        {},
        button('zoom-in', 'Zoom in (+)', () => this.zoomAtCenter(2)),
        button('zoom-out', 'Zoom out (−)', () => this.zoomAtCenter(0.5)),
        button('symbol-numeric', 'Zoom to single weights', () => this.zoomToWeights()),
        button('screen-full', 'Zoom to fit (0)', () => this.fit()),
      ),
    );
    const axes = h(
      'div',
      { class: 'heatmap-axes', attrs: { 'aria-hidden': 'true' } },
      h('span', { class: 'axis-gutter', text: 'fan-in' }),
      h('span', { class: 'axis-main' }, 'rows: output neurons ', codicon('arrow-down'), ' · columns: fan-in positions ', codicon('arrow-right')),
    );
    this.element = h('div', { class: 'heatmap' }, toolbar, axes, this.wrap, h('div', { class: 'heatmap-footer' }, this.status, this.legend));

    this.installInput();
    new ResizeObserver(() => this.onResize()).observe(this.wrap);
  }

  // ---------------------------------------------------------------------------------------------
  // Public API

  setSettings(maxCells: number, zeroThreshold: number): void {
    this.maxCells = cellBudget(maxCells);
    if (zeroThreshold !== this.zeroThreshold) {
      this.zeroThreshold = zeroThreshold;
      this.themeStamp++; // repaint single weights with the new notion of zero
    }
  }

  /** A weight counts as zero as in the report: |w| ≤ the near-zero threshold (NaN never). */
  private isZero(v: number): boolean {
    return Math.abs(v) <= this.zeroThreshold;
  }

  setTheme(theme: Theme): void {
    this.theme = theme;
    this.themeStamp++;
    this.updateLegend();
    this.invalidate();
  }

  setMode(mode: ColourMode, fromUser = false): void {
    this.mode = mode;
    for (const radio of Array.from(this.modeGroup.querySelectorAll('vscode-radio'))) {
      (radio as HTMLElement & { checked: boolean }).checked = radio.getAttribute('value') === mode;
    }
    if (fromUser) this.options.onModeChange(mode);
    this.updateLegend();
    this.invalidate();
  }

  /** Shows `layer` (null: nothing selected); `view` restores a saved zoom window. */
  setLayer(layer: Layer | null, nm: NmPattern, view?: SavedView): void {
    const same = layer && this.layer && layer.report.name === this.layer.report.name && layer.geometry && this.geo &&
      layer.geometry.rows === this.geo.rows && layer.geometry.cols === this.geo.cols;
    this.layer = layer;
    this.geo = layer?.geometry ?? null;
    this.nm = nm;
    this.viewport.setExtent(this.geo);
    if (!same) {
      this.overview = this.detail = null;
      this.values = null;
      this.requests.cancelAll();
      this.error = '';
    }
    this.hideTooltip();
    if (!layer || !this.geo) {
      this.canvas.hidden = true;
      this.empty.hidden = false;
      this.empty.textContent = !layer
        ? 'Select a tensor in the table to see its mask.'
        : `${layer.report.name} is ${layer.report.role === 'other' ? `a ${layer.report.shape.length}-D tensor that is not a linear or conv weight` : 'not available as a mask view'}: no heatmap.`;
      this.status.textContent = '';
      this.element.classList.add('no-layer');
      return;
    }
    this.element.classList.remove('no-layer');
    this.canvas.hidden = false;
    this.empty.hidden = true;
    this.canvas.setAttribute(
      'aria-label',
      `Mask of ${layer.report.name}: ${count(this.geo.rows)} output neurons by ${count(this.geo.cols)} fan-in positions. ` +
        'Arrow keys pan, plus and minus zoom, 0 fits.',
    );
    this.updateLegend();
    if (!same) {
      // A layer with few rows gets a shorter canvas instead of a band of empty space.
      this.wrap.style.height = '';
      const natural = this.geo.rows * MAX_CELL;
      if (natural < this.wrap.clientHeight) this.wrap.style.height = `${Math.max(120, natural)}px`;
      this.measure();
      this.pendingView = view;
      this.needsInitialView = true;
      if (this.viewport.width > 0) this.applyInitialView();
    } else this.invalidate();
  }

  /** A heatmap or values reply, or an error, from the host. */
  onMessage(msg: ToWebview): void {
    this.requests.onMessage(msg);
  }

  focus(): void {
    if (!this.canvas.hidden) this.canvas.focus();
  }

  // ---------------------------------------------------------------------------------------------
  // View changes

  private applyInitialView(): void {
    const v = this.pendingView;
    this.pendingView = undefined;
    this.needsInitialView = false;
    this.viewport.restore(v);
    this.viewChanged(true);
  }

  /** Shows the whole layer, stretched to the canvas (cells need not be square). */
  fit(): void {
    if (!this.geo) return;
    this.viewport.fit();
    this.viewChanged(true);
  }

  private zoomAt(factor: number, px: number, py: number): void {
    if (!this.geo) return;
    if (this.viewport.zoomAt(factor, px, py)) this.viewChanged(false);
  }

  private zoomAtCenter(factor: number): void {
    if (!this.geo) return;
    if (this.viewport.zoomAtCenter(factor)) this.viewChanged(false);
  }

  /** Zooms so single weights are drawn (about 16 px each) around the centre. */
  private zoomToWeights(): void {
    if (!this.geo) return;
    this.viewport.zoomToWeights();
    this.viewChanged(true);
  }

  /** Moves the view by a number of weights (arrow keys). */
  private pan(dxWeights: number, dyWeights: number): void {
    if (!this.geo) return;
    this.viewport.pan(dxWeights, dyWeights);
    this.viewChanged(false);
  }

  /** Puts weight coordinate (x0, y0) at the plot's top-left corner (dragging). */
  private moveTo(x0: number, y0: number): void {
    if (!this.geo) return;
    this.viewport.moveTo(x0, y0);
    this.viewChanged(false);
  }

  private viewChanged(immediate: boolean): void {
    this.invalidate();
    this.scheduleRequest(immediate);
    if (this.layer && this.geo) this.options.onViewChange(this.layer.report.name, this.viewport.saved());
  }

  /** Sizes the canvas to its box; false when nothing changed. */
  private measure(): boolean {
    const rect = this.wrap.getBoundingClientRect();
    const w = Math.floor(rect.width);
    const hgt = Math.floor(rect.height);
    const dpr = window.devicePixelRatio || 1;
    if (!this.viewport.resize(w, hgt, dpr)) return false;
    this.canvas.width = Math.max(1, Math.round(w * dpr));
    this.canvas.height = Math.max(1, Math.round(hgt * dpr));
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${hgt}px`;
    return true;
  }

  private onResize(): void {
    const vp = this.viewport;
    const centre = this.geo && vp.width > 0 ? vp.centre() : null;
    if (!this.measure() || !this.geo || vp.width === 0) return;
    if (this.needsInitialView) {
      this.applyInitialView();
    } else if (vp.fitted) {
      this.fit();
    } else {
      vp.recentre(centre);
      this.viewChanged(false);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Requests and replies

  private scheduleRequest(immediate: boolean): void {
    window.clearTimeout(this.requestTimer);
    this.requestTimer = 0;
    if (immediate) this.request();
    else this.requestTimer = window.setTimeout(() => this.request(), DEBOUNCE_MS);
  }

  private request(): void {
    if (!this.layer || !this.geo || this.viewport.width === 0) return;
    const g = this.geo;
    const name = this.layer.report.name;
    const win = this.viewport.visibleWindow();
    this.error = '';
    if (this.viewport.showsValues(win)) {
      this.requests.cancelTiles(); // cells still in flight are not wanted any more
      if (this.values && contains(this.values.window, win)) {
        this.setLoading(false);
        this.updateStatus();
        return;
      }
      const wanted = valuesRequestWindow(win, g, groupBlock(g, this.nm.m));
      if (this.requests.fetchingValues(name, wanted)) return;
      this.requests.fetchValues(name, wanted).then(
        (values) => this.onValues(name, wanted, values),
        (e: unknown) => this.onFailure(e),
      );
    } else {
      this.requests.cancelValues();
      const { width, height } = this.viewport.cellRequest(win, this.maxCells);
      if (this.detail && sameWindow(this.detail.window, win) && this.detail.cols === width && this.detail.rows === height) {
        this.setLoading(false);
        this.updateStatus();
        return;
      }
      if (this.requests.fetchingTiles(name, win, width, height)) return;
      this.requests.fetchTiles(name, win, width, height).then(
        (tiles) => this.onTiles(name, tiles),
        (e: unknown) => this.onFailure(e),
      );
    }
    this.setLoading(true);
    this.updateStatus();
  }

  private onTiles(layer: string, tiles: Tiles): void {
    if (!this.layer || !this.geo || layer !== this.layer.report.name) return;
    let maxMean = 0;
    const meanAbs = tiles.meanAbs;
    for (let i = 0; i < meanAbs.length; i++) if (meanAbs[i] > maxMean && Number.isFinite(meanAbs[i])) maxMean = meanAbs[i];
    const tile: Tile = { ...tiles, maxMean, image: null, imageStamp: '' };
    const g = this.geo;
    const w = tile.window;
    if (w.rowStart === 0 && w.colStart === 0 && w.rowEnd === g.rows && w.colEnd === g.cols) this.overview = tile;
    this.detail = tile;
    this.setLoading(false);
    this.updateStatus();
    this.invalidate();
  }

  private onValues(layer: string, window: HeatmapWindow, values: Float32Array): void {
    if (!this.layer || layer !== this.layer.report.name) return;
    let maxAbs = 0;
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(values[i]);
      if (a > maxAbs && Number.isFinite(a)) maxAbs = a;
    }
    this.values = { window, values, maxAbs, image: null, imageStamp: '' };
    this.setLoading(false);
    this.updateStatus();
    this.invalidate();
  }

  /** The host could not answer: say so, and drop whatever else is in flight. Cancelled requests need nothing. */
  private onFailure(e: unknown): void {
    if (!(e instanceof HostError)) return;
    this.error = e.message;
    this.requests.cancelAll();
    this.setLoading(false);
    this.updateStatus();
  }

  private loadingTimer = 0;
  private setLoading(on: boolean): void {
    window.clearTimeout(this.loadingTimer);
    // Only show the spinner for requests that take a noticeable time.
    if (on) this.loadingTimer = window.setTimeout(() => (this.loading.hidden = false), 250);
    else this.loading.hidden = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Drawing

  private invalidate(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private stamp(): string {
    return `${this.themeStamp}:${this.mode}`;
  }

  private tileImage(tile: Tile): HTMLCanvasElement {
    const stamp = this.stamp();
    if (tile.image && tile.imageStamp === stamp) return tile.image;
    return this.paint(tile, tile.cols, tile.rows, stamp, (px) => {
      const lut = this.ramp(this.mode === 'density' ? this.theme.rgba.blue : this.theme.rgba.purple);
      const bg = this.theme.rgba.background;
      const src = this.mode === 'density' ? tile.density : tile.meanAbs;
      const scale = this.mode === 'density' ? 1 : tile.maxMean > 0 ? 1 / tile.maxMean : 0;
      for (let i = 0; i < src.length; i++) {
        const v = src[i] * scale;
        const o = i * 4;
        if (!(v > 0)) {
          px[o] = bg[0]; px[o + 1] = bg[1]; px[o + 2] = bg[2];
        } else {
          const t = this.mode === 'density' ? v : Math.sqrt(v);
          const k = Math.min(255, Math.max(1, Math.round(t * 255))) * 4;
          px[o] = lut[k]; px[o + 1] = lut[k + 1]; px[o + 2] = lut[k + 2];
        }
        px[o + 3] = 255;
      }
    });
  }

  /** Draws `fill`'s pixels into the tile's own canvas, kept as its image until the stamp changes. */
  private paint(
    tile: { image: HTMLCanvasElement | null; imageStamp: string },
    cols: number,
    rows: number,
    stamp: string,
    fill: (px: Uint8ClampedArray) => void,
  ): HTMLCanvasElement {
    const canvas = tile.image ?? document.createElement('canvas');
    canvas.width = cols;
    canvas.height = rows;
    const ctx = canvas.getContext('2d')!;
    const image = ctx.createImageData(cols, rows);
    fill(image.data);
    ctx.putImageData(image, 0, 0);
    tile.image = canvas;
    tile.imageStamp = stamp;
    return canvas;
  }

  /**
   * 256-step ramp from the background to `strong`. Index 0 is exactly the background (nothing
   * there); any non-zero value gets at least a clear tint so "almost empty" ≠ "empty".
   */
  private ramp(strong: Rgba): Uint8ClampedArray {
    const lut = new Uint8ClampedArray(256 * 4);
    const bg = this.theme.rgba.background;
    for (let i = 0; i < 256; i++) {
      const t = i === 0 ? 0 : 0.14 + 0.86 * (i / 255);
      const c = mix(bg, strong, t);
      lut.set([c[0], c[1], c[2], 255], i * 4);
    }
    return lut;
  }

  private valuesImage(tile: ValuesTile): HTMLCanvasElement {
    const stamp = this.stamp();
    if (tile.image && tile.imageStamp === stamp) return tile.image;
    const w = tile.window;
    const cols = w.colEnd - w.colStart;
    const rows = w.rowEnd - w.rowStart;
    return this.paint(tile, cols, rows, stamp, (px) => {
      const pos = this.ramp(this.theme.rgba.blue);
      const neg = this.ramp(this.theme.rgba.orange);
      const bg = this.theme.rgba.background;
      const red = this.theme.rgba.red;
      const inv = tile.maxAbs > 0 ? 1 / tile.maxAbs : 0;
      for (let i = 0; i < tile.values.length; i++) {
        const v = tile.values[i];
        const o = i * 4;
        if (this.isZero(v)) {
          px[o] = bg[0]; px[o + 1] = bg[1]; px[o + 2] = bg[2];
        } else if (!Number.isFinite(v)) {
          px[o] = red[0]; px[o + 1] = red[1]; px[o + 2] = red[2];
        } else {
          const lut = v > 0 ? pos : neg;
          // Magnitude on a square-root scale from 40% up: small weights stay visible.
          const k = Math.round((0.4 + 0.6 * Math.sqrt(Math.abs(v) * inv)) * 255) * 4;
          px[o] = lut[k]; px[o + 1] = lut[k + 1]; px[o + 2] = lut[k + 2];
        }
        px[o + 3] = 255;
      }
    });
  }

  private drawTile(ctx: CanvasRenderingContext2D, image: HTMLCanvasElement, w: HeatmapWindow): void {
    ctx.drawImage(image, this.viewport.toX(w.colStart), this.viewport.toY(w.rowStart), (w.colEnd - w.colStart) * this.viewport.sx, (w.rowEnd - w.rowStart) * this.viewport.sy);
  }

  private draw(): void {
    const ctx = this.ctx;
    const t = this.theme;
    ctx.setTransform(this.viewport.dpr, 0, 0, this.viewport.dpr, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = t.background;
    ctx.fillRect(0, 0, this.viewport.width, this.viewport.height);
    const g = this.geo;
    if (!g || !this.layer) return;

    // The mask area: the whole layer's extent, clipped to the plot.
    const left = this.viewport.toX(0);
    const top = this.viewport.toY(0);
    const right = Math.min(this.viewport.plotX + this.viewport.plotW, this.viewport.toX(g.cols));
    const bottom = Math.min(this.viewport.plotH, this.viewport.toY(g.rows));
    ctx.save();
    ctx.beginPath();
    ctx.rect(this.viewport.plotX, 0, this.viewport.plotW, this.viewport.plotH);
    ctx.clip();
    // Frame of the layer, so an all-zero region still shows where the matrix is.
    ctx.strokeStyle = t.grid;
    ctx.lineWidth = 1;
    ctx.strokeRect(Math.max(this.viewport.plotX, left) - 0.5, Math.max(0, top) - 0.5, right - Math.max(this.viewport.plotX, left) + 1, bottom - Math.max(0, top) + 1);

    const win = this.viewport.visibleWindow();
    const valuesMode = this.viewport.showsValues(win);
    if (this.overview) this.drawTile(ctx, this.tileImage(this.overview), this.overview.window);
    if (this.detail && this.detail !== this.overview) this.drawTile(ctx, this.tileImage(this.detail), this.detail.window);
    if (valuesMode && this.values) {
      this.drawTile(ctx, this.valuesImage(this.values), this.values.window);
      this.drawGrid(ctx, win, g);
    }
    this.drawHover(ctx, g, valuesMode);
    ctx.restore();
    this.drawFanIn(ctx, g);
    this.syncLegend();
  }

  /** Cell separators, N:M group boundaries, and violating groups outlined in the error colour. */
  private drawGrid(ctx: CanvasRenderingContext2D, win: HeatmapWindow, g: Geometry): void {
    const t = this.theme;
    const v = this.values!;
    const m = this.nm.m;
    const block = groupBlock(g, m);
    const x = (c: number): number => Math.round(this.viewport.toX(c));
    const y = (r: number): number => Math.round(this.viewport.toY(r));
    const top = y(win.rowStart);
    const bottom = y(win.rowEnd);
    const left = x(win.colStart);
    const right = x(win.colEnd);
    // Separators in the background colour make each weight a tile.
    if (this.viewport.sx >= 8 || this.viewport.sy >= 8) {
      ctx.fillStyle = t.background;
      if (this.viewport.sx >= 8) for (let c = win.colStart; c <= win.colEnd; c++) ctx.fillRect(x(c), top, 1, bottom - top);
      if (this.viewport.sy >= 8) for (let r = win.rowStart; r <= win.rowEnd; r++) ctx.fillRect(left, y(r), right - left, 1);
    }
    // Channel boundaries (conv: K kernel positions per channel), then group blocks.
    const fg = t.rgba.foreground;
    if (g.K > 1 && this.viewport.sx * g.K >= 12) {
      ctx.fillStyle = css(fg, 0.16);
      for (let c = Math.ceil(win.colStart / g.K) * g.K; c <= win.colEnd; c += g.K) ctx.fillRect(x(c), top, 1, bottom - top);
    }
    const partialFrom = partialGroupStart(g, m);
    ctx.fillStyle = css(fg, 0.45);
    for (let c = Math.ceil(win.colStart / block) * block; c <= Math.min(win.colEnd, partialFrom); c += block) ctx.fillRect(x(c) - 1, top, 2, bottom - top);
    // Trailing channels that do not fill a group: hatched, they are not checked.
    if (partialFrom < win.colEnd) {
      ctx.save();
      ctx.beginPath();
      const px0 = Math.max(left, x(partialFrom));
      ctx.rect(px0, top, right - px0, bottom - top);
      ctx.clip();
      ctx.strokeStyle = css(fg, 0.16);
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let d = px0 - (bottom - top); d < right; d += 6) {
        ctx.moveTo(d, bottom);
        ctx.lineTo(d + (bottom - top), top);
      }
      ctx.stroke();
      ctx.restore();
    }

    // Violations: groups fully inside the values window with more than N non-zeros.
    const bad = violatingGroups(g, this.nm, v.values, v.window, win, (w) => this.isZero(w));
    ctx.strokeStyle = t.red;
    ctx.lineWidth = Math.min(3, Math.max(1.5, Math.min(this.viewport.sx, this.viewport.sy) / 6));
    const lw = ctx.lineWidth;
    // Tint first, outlines on top, so neighbouring groups never hide each other's outline.
    ctx.fillStyle = css(t.rgba.red, 0.22);
    for (const { row: r, first } of bad) {
      for (let j = 0; j < m; j++) {
        const c = first + j * g.K;
        ctx.fillRect(x(c), y(r), x(c + 1) - x(c), y(r + 1) - y(r));
      }
    }
    for (const { row: r, first } of bad) {
      if (g.K === 1) {
        ctx.strokeRect(x(first) + lw / 2, y(r) + lw / 2, x(first + m) - x(first) - lw, y(r + 1) - y(r) - lw);
      } else {
        // Members are K columns apart (one channel each): outline each (hover shows the group).
        for (let j = 0; j < m; j++) {
          const c = first + j * g.K;
          ctx.strokeRect(x(c) + lw / 2, y(r) + lw / 2, x(c + 1) - x(c) - lw, y(r + 1) - y(r) - lw);
        }
      }
    }
    if (bad.length !== this.violationsInView) {
      this.violationsInView = bad.length;
      this.updateStatus();
    }
  }

  private violationsInView = 0;

  private drawHover(ctx: CanvasRenderingContext2D, g: Geometry, valuesMode: boolean): void {
    const hit = this.hover && !this.drag ? this.viewport.hitTest(this.hover.x, this.hover.y) : null;
    if (!hit || hit.col < 0) return;
    ctx.strokeStyle = this.theme.focus;
    ctx.lineWidth = 2;
    if (valuesMode && this.values) {
      // The hovered weight's N:M group.
      const cols = groupColumns(g, this.nm.m, hit.col);
      ctx.setLineDash([3, 2]);
      for (const c of cols) ctx.strokeRect(this.viewport.toX(c) + 1, this.viewport.toY(hit.row) + 1, this.viewport.sx - 2, this.viewport.sy - 2);
      ctx.setLineDash([]);
      ctx.strokeRect(this.viewport.toX(hit.col) - 1, this.viewport.toY(hit.row) - 1, this.viewport.sx + 2, this.viewport.sy + 2);
    } else {
      const cell = this.cellAt(hit.row, hit.col)?.cell;
      if (cell) {
        const x0 = this.viewport.toX(cell.c0);
        const y0 = this.viewport.toY(cell.r0);
        ctx.strokeRect(x0 - 1, y0 - 1, Math.max(2, (cell.c1 - cell.c0) * this.viewport.sx) + 2, Math.max(2, (cell.r1 - cell.r0) * this.viewport.sy) + 2);
      }
    }
  }

  /** Bars of fan-in / dense per visible row; several rows per pixel show their range (min solid, max light). */
  private drawFanIn(ctx: CanvasRenderingContext2D, g: Geometry): void {
    const t = this.theme;
    const width = GUTTER - 4;
    const x0 = 2;
    ctx.fillStyle = css(t.rgba.foreground, 0.06);
    const yTop = Math.max(0, this.viewport.toY(0));
    const yBottom = Math.min(this.viewport.plotH, this.viewport.toY(g.rows));
    ctx.fillRect(x0, yTop, width, yBottom - yTop);
    const fanIn = g.fanIn;
    if (!fanIn) return;
    const dense = g.dense || 1;
    const blue = t.blue;
    const light = css(t.rgba.blue, 0.4);
    const hoverRow = this.hover && !this.drag ? this.viewport.hitTest(this.hover.x, this.hover.y)?.row ?? -1 : -1;
    if (this.viewport.sy >= 3) {
      const r0 = Math.max(0, Math.floor(this.viewport.y0));
      const r1 = Math.min(g.rows, Math.ceil(this.viewport.y0 + this.viewport.plotH / this.viewport.sy));
      const gap = this.viewport.sy >= 6 ? 1 : 0;
      for (let r = r0; r < r1; r++) {
        const y = Math.round(this.viewport.toY(r));
        const hgt = Math.round(this.viewport.toY(r + 1)) - y - gap;
        const f = fanIn[r];
        if (f === 0) {
          // Dead neuron: a red mark across the whole gutter.
          ctx.fillStyle = css(t.rgba.red, 0.35);
          ctx.fillRect(x0, y, width, hgt);
          ctx.fillStyle = t.red;
          ctx.fillRect(x0, y, 4, hgt);
          continue;
        }
        ctx.fillStyle = r === hoverRow ? t.orange : blue;
        ctx.fillRect(x0, y, Math.max(1, (f / dense) * width), hgt);
      }
    } else {
      // Several rows per pixel row: min solid, up to max light; any dead row marks the pixel red.
      const rowsPerPx = 1 / this.viewport.sy;
      const pyStart = Math.max(0, Math.floor(yTop));
      for (let py = pyStart; py < Math.min(this.viewport.plotH, yBottom); py++) {
        const a = Math.max(0, Math.floor(this.viewport.y0 + py * rowsPerPx));
        const b = Math.min(g.rows, Math.max(a + 1, Math.floor(this.viewport.y0 + (py + 1) * rowsPerPx)));
        let min = Infinity;
        let max = 0;
        let dead = false;
        for (let r = a; r < b; r++) {
          const f = fanIn[r];
          if (f === 0) dead = true;
          else if (f < min) min = f;
          if (f > max) max = f;
        }
        if (min === Infinity) min = 0;
        if (max > min) {
          ctx.fillStyle = light;
          ctx.fillRect(x0, py, (max / dense) * width, 1);
        }
        if (min > 0) {
          ctx.fillStyle = blue;
          ctx.fillRect(x0, py, Math.max(1, (min / dense) * width), 1);
        }
        if (dead) {
          ctx.fillStyle = t.red;
          ctx.fillRect(x0, py, width, 1);
        }
      }
    }
    if (hoverRow >= 0 && this.viewport.sy < 3) {
      ctx.fillStyle = t.orange;
      ctx.fillRect(x0, this.viewport.toY(hoverRow), width, 1);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Status, legend, tooltip

  private updateStatus(): void {
    if (!this.geo || !this.layer) return;
    if (this.error) {
      this.status.textContent = `Could not load the view: ${this.error}`;
      this.status.classList.add('error');
      return;
    }
    this.status.classList.remove('error');
    const g = this.geo;
    const win = this.viewport.visibleWindow();
    const parts = [
      `rows ${range(win.rowStart, win.rowEnd)} of ${count(g.rows)}`,
      `cols ${range(win.colStart, win.colEnd)} of ${count(g.cols)}`,
    ];
    if (this.viewport.showsValues(win)) {
      if (this.values && contains(this.values.window, win)) {
        parts.push(`single weights · ${this.nm.n}:${this.nm.m} groups${g.K > 1 ? ` of input channels at each of ${g.K} kernel positions` : ''}`);
        if (this.violationsInView) parts.push(`${count(this.violationsInView)} violating group${this.violationsInView === 1 ? '' : 's'} in view`);
      } else parts.push('loading weights…');
    } else if (this.detail) {
      const rpc = (this.detail.window.rowEnd - this.detail.window.rowStart) / this.detail.rows;
      const cpc = (this.detail.window.colEnd - this.detail.window.colStart) / this.detail.cols;
      parts.push(rpc <= 1 && cpc <= 1 ? '1 cell = 1 weight' : `1 cell ≈ ${fmtRatio(rpc)} × ${fmtRatio(cpc)} weights`);
    }
    this.status.textContent = parts.join(' · ');
  }

  private updateLegend(): void {
    const t = this.theme;
    const legend = this.legend;
    while (legend.firstChild) legend.removeChild(legend.firstChild);
    const swatch = (color: string, label: string, outline = false): HTMLElement => {
      const s = h('span', { class: `swatch${outline ? ' swatch-outline' : ''}` });
      if (outline) s.style.borderColor = color;
      else s.style.backgroundColor = color;
      return h('span', { class: 'legend-item' }, s, label);
    };
    const win = this.geo && this.viewport.width ? this.viewport.visibleWindow() : null;
    if (win && this.viewport.showsValues(win)) {
      legend.append(
        swatch(t.blue, 'w > 0'),
        swatch(t.orange, 'w < 0'),
        swatch(t.background, 'zero'),
        swatch(t.red, `> ${this.nm.n} of ${this.nm.m}`, true),
      );
    } else {
      const strong = this.mode === 'density' ? t.rgba.blue : t.rgba.purple;
      const bar = h('span', { class: 'ramp' });
      bar.style.backgroundImage = `linear-gradient(to right, ${css(mix(t.rgba.background, strong, 0.14))}, ${css(strong)})`;
      legend.append(
        swatch(t.background, this.mode === 'density' ? 'empty' : '0'),
        h('span', { class: 'legend-item' }, this.mode === 'density' ? '>0' : '', bar, this.mode === 'density' ? 'dense' : 'max mean |w|'),
      );
    }
  }

  private legendValuesMode: boolean | null = null;

  /** The heatmap cell of the detail tile (or the overview) that holds (row, col). */
  private cellAt(row: number, col: number): { tile: Tile; cell: Cell } | null {
    for (const tile of [this.detail, this.overview]) {
      if (!tile) continue;
      const cell = cellOf(tile, row, col);
      if (cell) return { tile, cell };
    }
    return null;
  }

  private showTooltip(x: number, y: number): void {
    const hit = this.viewport.hitTest(x, y);
    const g = this.geo;
    if (!hit || !g || !this.layer) return this.hideTooltip();
    const lines: [string, string, string?][] = [];
    const fanIn = g.fanIn ? g.fanIn[hit.row] : undefined;
    const fanText = fanIn === undefined ? 'unknown' : `${count(fanIn)} of ${count(g.dense)} (${percent(fanIn / g.dense)})${fanIn === 0 ? ' — dead neuron' : ''}`;
    let title: string;
    if (hit.col < 0) {
      title = `Neuron ${count(hit.row)}`;
      lines.push(['fan-in', fanText, fanIn === 0 ? 'bad' : undefined]);
    } else {
      const grp = groupOfColumn(g, this.nm.m, hit.col);
      title = `Row ${count(hit.row)} · col ${count(hit.col)}`;
      if (g.K > 1) lines.push(['input', `channel ${grp.channel}, kernel position ${grp.position}`]);
      const win = this.viewport.visibleWindow();
      const v = this.values;
      if (this.viewport.showsValues(win) && v && within(v.window, hit.row, hit.col)) {
        const vCols = v.window.colEnd - v.window.colStart;
        const value = v.values[(hit.row - v.window.rowStart) * vCols + hit.col - v.window.colStart];
        lines.push(['weight', formatWeight(value), this.isZero(value) ? 'muted' : undefined]);
        const cols = groupColumns(g, this.nm.m, hit.col);
        if (grp.partial) {
          lines.push([`${this.nm.n}:${this.nm.m}`, `partial group (${cols.length} channels), not checked`, 'muted']);
        } else if (cols.every((c) => c >= v.window.colStart && c < v.window.colEnd)) {
          const base = (hit.row - v.window.rowStart) * vCols - v.window.colStart;
          const nnz = cols.reduce((s, c) => s + (this.isZero(v.values[base + c]) ? 0 : 1), 0);
          const ok = nnz <= this.nm.n;
          lines.push([`${this.nm.n}:${this.nm.m} group`, `${nnz} of ${this.nm.m} non-zero — ${ok ? 'complies' : 'violates'}`, ok ? 'good' : 'bad']);
        }
      } else {
        const under = this.cellAt(hit.row, hit.col);
        if (under) {
          const { cell, tile } = under;
          const k = cell.i * tile.cols + cell.j;
          const weights = (cell.r1 - cell.r0) * (cell.c1 - cell.c0);
          if (weights > 1) lines.push(['cell', `rows ${range(cell.r0, cell.r1)}, cols ${range(cell.c0, cell.c1)} (${count(weights)} weights)`, 'muted']);
          lines.push(['density', percent(tile.density[k])]);
          lines.push(['mean |w|', formatWeight(tile.meanAbs[k])]);
        } else {
          lines.push(['', 'loading…', 'muted']);
        }
      }
      lines.push(['row fan-in', fanText, fanIn === 0 ? 'bad' : undefined]);
    }
    const tip = this.tooltip;
    while (tip.firstChild) tip.removeChild(tip.firstChild);
    tip.appendChild(h('div', { class: 'tip-title', text: title }));
    const table = h('div', { class: 'tip-grid' });
    for (const [k, val, cls] of lines) {
      table.appendChild(h('span', { class: 'tip-key', text: k }));
      table.appendChild(h('span', { class: `tip-value${cls ? ' ' + cls : ''}`, text: val }));
    }
    tip.appendChild(table);
    tip.hidden = false;
    const pad = 14;
    const tw = tip.offsetWidth;
    const th = tip.offsetHeight;
    let left = x + pad;
    let top = y + pad;
    if (left + tw > this.viewport.width) left = Math.max(0, x - pad - tw);
    if (top + th > this.viewport.height) top = Math.max(0, y - pad - th);
    tip.style.left = `${left}px`;
    tip.style.top = `${top}px`;
  }

  private hideTooltip(): void {
    this.tooltip.hidden = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Input

  private installInput(): void {
    const c = this.canvas;
    const point = (ev: MouseEvent): { x: number; y: number } => {
      const rect = c.getBoundingClientRect();
      return { x: ev.clientX - rect.left, y: ev.clientY - rect.top };
    };
    c.addEventListener(
      'wheel',
      (ev) => {
        if (!this.geo) return;
        ev.preventDefault();
        const p = point(ev);
        const dy = ev.deltaMode === 1 ? ev.deltaY * 16 : ev.deltaMode === 2 ? ev.deltaY * 400 : ev.deltaY;
        this.zoomAt(Math.exp(-dy * (ev.ctrlKey ? 0.01 : 0.0025)), Math.max(this.viewport.plotX, p.x), p.y);
        this.hover = p;
        this.showTooltip(p.x, p.y);
      },
      { passive: false },
    );
    c.addEventListener('pointerdown', (ev) => {
      if (ev.button !== 0 || !this.geo) return;
      c.focus();
      c.setPointerCapture(ev.pointerId);
      const p = point(ev);
      this.drag = { pointer: ev.pointerId, x: p.x, y: p.y, x0: this.viewport.x0, y0: this.viewport.y0, moved: false };
      this.hideTooltip();
    });
    c.addEventListener('pointermove', (ev) => {
      const p = point(ev);
      if (this.drag && ev.pointerId === this.drag.pointer) {
        const dx = p.x - this.drag.x;
        const dy = p.y - this.drag.y;
        if (!this.drag.moved && Math.hypot(dx, dy) < 3) return;
        this.drag.moved = true;
        c.classList.add('dragging');
        this.moveTo(this.drag.x0 - dx / this.viewport.sx, this.drag.y0 - dy / this.viewport.sy);
        return;
      }
      this.hover = p;
      this.showTooltip(p.x, p.y);
      this.invalidate();
    });
    const endDrag = (ev: PointerEvent): void => {
      if (!this.drag || ev.pointerId !== this.drag.pointer) return;
      this.drag = null;
      c.classList.remove('dragging');
      if (c.hasPointerCapture(ev.pointerId)) c.releasePointerCapture(ev.pointerId);
    };
    c.addEventListener('pointerup', endDrag);
    c.addEventListener('pointercancel', endDrag);
    c.addEventListener('pointerleave', () => {
      if (this.drag) return;
      this.hover = null;
      this.hideTooltip();
      this.invalidate();
    });
    c.addEventListener('dblclick', (ev) => {
      const p = point(ev);
      this.zoomAt(ev.shiftKey ? 0.5 : 2, Math.max(this.viewport.plotX, p.x), p.y);
    });
    c.addEventListener('keydown', (ev) => {
      if (!this.geo) return;
      const viewCols = this.viewport.spanX;
      const viewRows = this.viewport.spanY;
      const stepX = ev.shiftKey ? viewCols / 2 : Math.max(1, viewCols / 10);
      const stepY = ev.shiftKey ? viewRows / 2 : Math.max(1, viewRows / 10);
      switch (ev.key) {
        case 'ArrowLeft': this.pan(-stepX, 0); break;
        case 'ArrowRight': this.pan(stepX, 0); break;
        case 'ArrowUp': this.pan(0, -stepY); break;
        case 'ArrowDown': this.pan(0, stepY); break;
        case '+': case '=': this.zoomAtCenter(1.5); break;
        case '-': case '_': this.zoomAtCenter(1 / 1.5); break;
        case '0': case 'Home': this.fit(); break;
        default: return;
      }
      ev.preventDefault();
      this.hideTooltip();
    });
  }

  /** Keeps the legend in step with the drawing mode (values vs cells) without rebuilding per frame. */
  syncLegend(): void {
    const win = this.geo && this.viewport.width ? this.viewport.visibleWindow() : null;
    const valuesMode = !!win && this.viewport.showsValues(win);
    if (valuesMode !== this.legendValuesMode) {
      this.legendValuesMode = valuesMode;
      this.updateLegend();
    }
  }
}

function fmtRatio(x: number): string {
  return x >= 10 ? String(Math.round(x)) : x.toFixed(1).replace(/\.0$/, '');
}
