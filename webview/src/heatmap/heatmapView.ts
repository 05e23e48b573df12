/**
 * The mask heatmap of one weight: rows = output neurons, columns = fan-in positions. The webview
 * never holds the matrix: it asks the host for the visible window downsampled to at most as many
 * cells as the canvas has pixels (and settings.maxHeatmapCells), and, once zoomed in far enough,
 * for the weights themselves, drawn one by one with the N:M group grid and violating groups.
 *
 * This file ties the parts together: the view model (viewport.ts), the host requests
 * (requests.ts), painting (render.ts), what is drawn over it (overlay.ts), the status line and
 * legend (status.ts) and input (input.ts).
 */
import type { NmPattern } from '../../../src/core/nmPattern';
import { codicon, h } from '../dom';
import { count } from '../format';
import type { ColourMode, SavedView } from '../host';
import type { Geometry, Layer } from '../model';
import { groupBlock } from '../nmGeometry';
import type { Theme } from '../theme';
import { HeatmapInput } from './input';
import { describeHit, drawFanIn, drawGroupGrid, drawHover, Tooltip } from './overlay';
import { clearCanvas, clipToLayer, drawTile, TileImages, type Colouring, type ValuesTile } from './render';
import { HeatmapRequests, RequestCancelled, type HeatmapTransport, type Tiles } from './requests';
import { Legend, statusText } from './status';
import { cellBudget, contains, MAX_CELL, sameWindow, valuesRequestWindow, Viewport, type Hit, type Point } from './viewport';

const DEBOUNCE_MS = 80;

export interface HeatmapOptions extends HeatmapTransport {
  /** The next (1) or previous (−1) violating N:M group of `layer` after (row, col), wrapping; null when none violates. */
  readonly findViolation: (layer: string, row: number, col: number, direction: 1 | -1) => Promise<{ row: number; col: number } | null>;
  readonly onViewChange: (layer: string, view: SavedView) => void;
  readonly onModeChange: (mode: ColourMode) => void;
}

export class HeatmapView {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly ctx: CanvasRenderingContext2D;
  private readonly wrap: HTMLElement;
  private readonly tooltip = new Tooltip();
  private readonly legend = new Legend();
  private readonly status: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly loading: HTMLElement;
  private readonly modeGroup: HTMLElement;
  /** What the columns are: inputs, or (conv) kernel positions, each with its input channels side by side. */
  private readonly columnsAxis = h('span', { text: 'inputs' });

  private readonly viewport = new Viewport();
  private readonly requests: HeatmapRequests;
  private readonly images = new TileImages();
  private readonly input: HeatmapInput;

  private theme: Theme;
  private themeStamp = 0;
  private layer: Layer | null = null;
  /** Ablation candidates per layer name, from the plan the editor shows. */
  private ablation: ReadonlyMap<string, ReadonlySet<number>> = new Map();
  private geo: Geometry | null = null;
  private nm: NmPattern = { n: 2, m: 4 };
  private maxCells = 1 << 18;
  private zeroThreshold = 0;
  private mode: ColourMode = 'density';
  /** The compared checkpoint: its label, and the layers with a counterpart of the same shape there. */
  private comparison: { readonly label: string; readonly layers: ReadonlySet<string> } | null = null;
  private readonly changesRadio: HTMLElement;

  /** A saved window to show once the canvas has a size. */
  private pendingView: SavedView | undefined;
  private needsInitialView = false;

  /** Cells of the whole layer, kept under the detail while it loads. */
  private overview: Tiles | null = null;
  /** Cells of the last window asked for. */
  private detail: Tiles | null = null;
  private values: ValuesTile | null = null;
  private requestTimer = 0;
  private loadingTimer = 0;
  private frame = 0;
  private error = '';
  private violationsInView = 0;

  constructor(
    theme: Theme,
    private readonly options: HeatmapOptions,
  ) {
    this.theme = theme;
    this.requests = new HeatmapRequests(options);
    this.canvas = h('canvas', {
      class: 'heatmap-canvas',
      attrs: { tabindex: 0, role: 'img', 'aria-roledescription': 'zoomable mask heatmap' },
    });
    this.ctx = this.canvas.getContext('2d', { alpha: false })!;
    this.empty = h('div', { class: 'heatmap-empty' });
    this.wrap = h('div', { class: 'heatmap-wrap' }, this.canvas, this.tooltip.element, this.empty);
    this.status = h('div', { class: 'heatmap-status', id: 'heatmap-status', attrs: { 'aria-live': 'polite' } });
    this.loading = h('vscode-progress-ring', { class: 'heatmap-loading', attrs: { 'aria-label': 'Loading' } });
    this.loading.hidden = true;
    this.canvas.setAttribute('aria-describedby', 'heatmap-status');

    const button = (icon: string, label: string, onClick: () => void): HTMLElement =>
      h('vscode-toolbar-button', { attrs: { icon, label, title: label }, on: { click: onClick } });
    const radio = (value: ColourMode, label: string): HTMLElement =>
      h('vscode-radio', { attrs: { name: 'heatmap-mode', value, label, checked: value === this.mode }, text: label });
    this.changesRadio = radio('changes', 'Changes');
    this.changesRadio.hidden = true;
    this.modeGroup = h(
      'vscode-radio-group',
      { class: 'mode-group', attrs: { 'aria-label': 'Colour cells by' } },
      radio('density', 'Density'),
      radio('magnitude', 'Mean |w|'),
      this.changesRadio,
    );
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
        button('arrow-left', 'Previous violating group (Shift+N)', () => this.findViolation(-1)),
        button('arrow-right', 'Next violating group (N)', () => this.findViolation(1)),
        button('circle-slash', 'Next dead row (D, Shift+D: previous)', () => this.findDeadRow(1)),
        button('screen-full', 'Zoom to fit (0)', () => this.fit()),
      ),
    );
    const axes = h(
      'div',
      { class: 'heatmap-axes', attrs: { 'aria-hidden': 'true' } },
      h('span', { class: 'axis-gutter', text: 'fan-in' }),
      h(
        'span',
        { class: 'axis-main' },
        'rows: output neurons ',
        codicon('arrow-down'),
        ' · columns: ',
        this.columnsAxis,
        ' ',
        codicon('arrow-right'),
      ),
    );
    this.element = h(
      'div',
      { class: 'heatmap' },
      toolbar,
      axes,
      this.wrap,
      h('div', { class: 'heatmap-footer' }, this.status, this.legend.element),
    );

    this.input = new HeatmapInput(this.canvas, {
      viewport: this.viewport,
      hasLayer: () => !!this.geo,
      zoomAt: (factor, px, py) => this.zoomAt(factor, px, py),
      zoomAtCenter: (factor) => this.zoomAtCenter(factor),
      pan: (dx, dy) => this.pan(dx, dy),
      moveTo: (x0, y0) => this.moveTo(x0, y0),
      fit: () => this.fit(),
      findViolation: (direction) => this.findViolation(direction),
      findDeadRow: (direction) => this.findDeadRow(direction),
      showTooltip: (p) => this.showTooltip(p),
      hideTooltip: () => this.tooltip.hide(),
      invalidate: () => this.invalidate(),
    });
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

  setTheme(theme: Theme): void {
    this.theme = theme;
    this.themeStamp++;
    this.updateLegend();
    this.invalidate();
  }

  setMode(mode: ColourMode, fromUser = false): void {
    if (mode === 'changes' && !this.comparison) mode = 'density';
    const switchesData = (mode === 'changes') !== (this.mode === 'changes');
    this.mode = mode;
    for (const radio of Array.from(this.modeGroup.querySelectorAll('vscode-radio'))) {
      (radio as HTMLElement & { checked: boolean }).checked = radio.getAttribute('value') === mode;
    }
    if (fromUser) this.options.onModeChange(mode);
    this.updateLegend();
    if (switchesData) this.dropTiles();
    this.invalidate();
  }

  /**
   * Offers the "Changes" colouring: what changed from this checkpoint to the compared one (`label`),
   * for the layers that have a counterpart of the same shape there; null takes it away.
   */
  setComparison(comparison: { readonly label: string; readonly layers: ReadonlySet<string> } | null, show = false): void {
    this.comparison = comparison;
    this.changesRadio.hidden = !comparison;
    if (comparison && show) this.setMode('changes', true);
    else if (!comparison && this.mode === 'changes') this.setMode('density', true);
    else if (this.mode === 'changes') this.dropTiles();
  }

  /** Forgets the cells in hand and asks again (the data they show changed). */
  private dropTiles(): void {
    this.overview = this.detail = null;
    this.values = null;
    this.requests.cancelAll();
    this.error = '';
    this.scheduleRequest(true);
  }

  private showsChanges(): boolean {
    return this.mode === 'changes';
  }

  /** Shows `layer` (null: nothing selected); `view` restores a saved zoom window. */
  /** Marks the rows a plan would ablate, per layer name (an empty map clears them). */
  setAblation(byLayer: ReadonlyMap<string, ReadonlySet<number>>): void {
    this.ablation = byLayer;
    this.invalidate();
  }

  private candidates(): ReadonlySet<number> | undefined {
    return this.layer ? this.ablation.get(this.layer.report.name) : undefined;
  }

  setLayer(layer: Layer | null, nm: NmPattern, view?: SavedView): void {
    const same =
      layer &&
      this.layer &&
      layer.report.name === this.layer.report.name &&
      layer.geometry &&
      this.geo &&
      layer.geometry.rows === this.geo.rows &&
      layer.geometry.cols === this.geo.cols;
    this.layer = layer;
    this.geo = layer?.geometry ?? null;
    this.nm = nm;
    this.viewport.setExtent(this.geo);
    if (!same) {
      this.foundNote = '';
      this.overview = this.detail = null;
      this.values = null;
      this.requests.cancelAll();
      this.error = '';
    }
    this.tooltip.hide();
    if (!layer || !this.geo) {
      this.canvas.hidden = true;
      this.empty.hidden = false;
      this.empty.textContent = !layer
        ? 'Select a tensor in the table to see its mask.'
        : `${layer.label} is ${layer.report.role === 'other' ? `a ${layer.report.shape.length}-D tensor that is not a linear or conv weight` : 'not available as a mask view'}: no heatmap.`;
      this.status.textContent = '';
      this.element.classList.add('no-layer');
      return;
    }
    this.element.classList.remove('no-layer');
    this.columnsAxis.textContent =
      this.geo.K > 1 ? `${count(this.geo.K)} kernel positions × ${count(this.geo.inDim)} input channels (channels side by side)` : 'inputs';
    this.canvas.hidden = false;
    this.empty.hidden = true;
    this.canvas.setAttribute(
      'aria-label',
      `Mask of ${layer.label}: ${count(this.geo.rows)} output neurons by ${count(this.geo.cols)} fan-in positions. ` +
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

  focus(): void {
    if (!this.canvas.hidden) this.canvas.focus();
  }

  /** Shows the whole layer, stretched to the canvas (cells need not be square). */
  fit(): void {
    if (!this.geo) return;
    this.viewport.fit();
    this.viewChanged(true);
  }

  /** Where the last found problem was: the next search starts after it. */
  private found: { layer: string; row: number; col: number } | null = null;
  /** A sentence about the last search, shown in the status line until the view moves on. */
  private foundNote = '';

  private async findViolation(direction: 1 | -1): Promise<void> {
    const layer = this.layer;
    if (!layer || !this.geo) return;
    const name = layer.report.name;
    const from = this.found?.layer === name ? this.found : { row: 0, col: direction === 1 ? -1 : 0 };
    this.setLoading(true);
    try {
      const hit = await this.options.findViolation(name, from.row, from.col, direction);
      if (this.layer?.report.name !== name) return;
      if (!hit) {
        this.foundNote = `No ${this.nm.n}:${this.nm.m} group violates in this tensor.`;
        this.updateStatus();
        return;
      }
      this.found = { layer: name, ...hit };
      this.foundNote = `Violating group: row ${count(hit.row)}, columns ${count(hit.col)}–${count(hit.col + this.nm.m - 1)}.`;
      this.viewport.showWeight(hit.row, hit.col + this.nm.m / 2 - 0.5);
      this.viewChanged(true);
    } catch (e) {
      this.onFailure(e);
    } finally {
      this.setLoading(false);
    }
  }

  private findDeadRow(direction: 1 | -1): void {
    const layer = this.layer;
    const fanIn = this.geo?.fanIn;
    if (!layer || !this.geo || !fanIn) return;
    const name = layer.report.name;
    const rows = this.geo.rows;
    const start = this.found?.layer === name ? this.found.row : direction === 1 ? -1 : rows;
    for (let k = 1; k <= rows; k++) {
      const row = (((start + direction * k) % rows) + rows) % rows;
      if (fanIn[row] === 0) {
        this.found = { layer: name, row, col: this.found?.col ?? 0 };
        this.foundNote = `Dead neuron: row ${count(row)} has no non-zero weight.`;
        this.viewport.showWeight(row, this.viewport.centre().col);
        this.viewChanged(true);
        return;
      }
    }
    this.foundNote = 'No dead neuron in this tensor.';
    this.updateStatus();
  }

  // ---------------------------------------------------------------------------------------------
  // View changes

  /** A weight counts as zero as in the report: |w| ≤ the near-zero threshold (NaN never). */
  private readonly isZero = (v: number): boolean => Math.abs(v) <= this.zeroThreshold;

  private applyInitialView(): void {
    const v = this.pendingView;
    this.pendingView = undefined;
    this.needsInitialView = false;
    this.viewport.restore(v);
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

  /** Asks for what the view needs and does not have: single weights, or cells of the window. */
  private request(): void {
    const vp = this.viewport;
    if (!this.layer || !this.geo || vp.width === 0) return;
    const g = this.geo;
    const name = this.layer.report.name;
    const win = vp.visibleWindow();
    this.error = '';
    const changes = this.showsChanges();
    if (changes && !this.comparison?.layers.has(name)) {
      this.setLoading(false);
      this.updateStatus();
      return;
    }
    if (!changes && vp.showsValues(win)) {
      this.requests.cancelTiles(); // cells still in flight are not wanted any more
      if (this.values && contains(this.values.window, win)) {
        this.setLoading(false);
        this.updateStatus();
        return;
      }
      const wanted = valuesRequestWindow(win, g, groupBlock(g, this.nm.m));
      if (this.requests.fetchingValues(name, wanted)) return;
      this.requests.fetchValues(name, wanted).then(
        (values) => this.onValues(name, { window: wanted, values }),
        (e: unknown) => this.onFailure(e),
      );
    } else {
      this.requests.cancelValues();
      const { width, height } = vp.cellRequest(win, this.maxCells);
      const d = this.detail;
      if (d && !!d.changes === changes && sameWindow(d.window, win) && d.cols === width && d.rows === height) {
        this.setLoading(false);
        this.updateStatus();
        return;
      }
      if (this.requests.fetchingTiles(name, win, width, height, changes)) return;
      this.requests.fetchTiles(name, win, width, height, changes).then(
        (tiles) => this.onTiles(name, tiles),
        (e: unknown) => this.onFailure(e),
      );
    }
    this.setLoading(true);
    this.updateStatus();
  }

  private onTiles(layer: string, tiles: Tiles): void {
    if (!this.layer || !this.geo || layer !== this.layer.report.name || !!tiles.changes !== this.showsChanges()) return;
    const g = this.geo;
    const w = tiles.window;
    if (w.rowStart === 0 && w.colStart === 0 && w.rowEnd === g.rows && w.colEnd === g.cols) this.overview = tiles;
    this.detail = tiles;
    this.setLoading(false);
    this.updateStatus();
    this.invalidate();
  }

  private onValues(layer: string, values: ValuesTile): void {
    if (!this.layer || layer !== this.layer.report.name) return;
    this.values = values;
    this.setLoading(false);
    this.updateStatus();
    this.invalidate();
  }

  /** The host could not answer: say so, and drop whatever else is in flight. Cancelled requests need nothing. */
  private onFailure(e: unknown): void {
    if (e instanceof RequestCancelled) return;
    this.error = e instanceof Error ? e.message : String(e);
    this.requests.cancelAll();
    this.setLoading(false);
    this.updateStatus();
  }

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

  private colouring(): Colouring {
    return { theme: this.theme, mode: this.mode, isZero: this.isZero, stamp: `${this.themeStamp}:${this.mode}` };
  }

  /** The weight under the pointer, unless a drag is under way. */
  private hoverHit(): Hit | null {
    const p = this.input.hoverPoint;
    return p ? this.viewport.hitTest(p.x, p.y) : null;
  }

  private draw(): void {
    const ctx = this.ctx;
    const vp = this.viewport;
    const t = this.theme;
    clearCanvas(ctx, vp, t);
    const g = this.geo;
    if (!g || !this.layer) return;

    // The mask area: the whole layer's extent, clipped to the plot.
    ctx.save();
    clipToLayer(ctx, vp, t, g);
    const win = vp.visibleWindow();
    const valuesMode = vp.showsValues(win) && !this.showsChanges();
    const colouring = this.colouring();
    if (this.overview) drawTile(ctx, vp, this.images.cells(this.overview, colouring), this.overview.window);
    if (this.detail && this.detail !== this.overview) drawTile(ctx, vp, this.images.cells(this.detail, colouring), this.detail.window);
    if (valuesMode && this.values) {
      drawTile(ctx, vp, this.images.values(this.values, colouring), this.values.window);
      const violations = drawGroupGrid(ctx, vp, t, g, this.nm, this.values, win, this.isZero, this.layer.verdict?.state !== 'dense');
      if (violations !== this.violationsInView) {
        this.violationsInView = violations;
        this.updateStatus();
      }
    }
    const hit = this.hoverHit();
    drawHover(ctx, vp, t, g, this.nm.m, hit, valuesMode && !!this.values, [this.detail, this.overview]);
    ctx.restore();
    drawFanIn(ctx, vp, t, g, hit?.row ?? -1, this.candidates());
    this.legend.sync(t, this.mode, this.nm, this.singleWeights(), this.comparison?.label);
  }

  // ---------------------------------------------------------------------------------------------
  // Status, legend, tooltip

  /** Whether single weights are drawn in the view (false before the canvas has a size). */
  private singleWeights(): boolean {
    return !!this.geo && this.viewport.width > 0 && this.viewport.showsValues() && !this.showsChanges();
  }

  private updateStatus(): void {
    if (!this.geo || !this.layer) return;
    if (this.error) {
      this.status.textContent = `Could not load the view: ${this.error}`;
      this.status.classList.add('error');
      return;
    }
    this.status.classList.remove('error');
    const win = this.viewport.visibleWindow();
    if (this.showsChanges() && !this.comparison?.layers.has(this.layer.report.name)) {
      this.status.textContent = `No changes to show: ${this.comparison?.label ?? 'the compared checkpoint'} has no tensor of this name and shape.`;
      return;
    }
    this.status.textContent =
      statusText({
        geometry: this.geo,
        nm: this.nm,
        window: win,
        singleWeights: this.viewport.showsValues(win) && !this.showsChanges(),
        valuesShown: !!this.values && contains(this.values.window, win),
        violationsInView: this.violationsInView,
        detail: this.detail,
      }) + (this.foundNote ? ` · ${this.foundNote}` : '');
  }

  private updateLegend(): void {
    this.legend.update(this.theme, this.mode, this.nm, this.singleWeights(), this.comparison?.label);
  }

  private showTooltip(p: Point): void {
    const vp = this.viewport;
    const hit = vp.hitTest(p.x, p.y);
    const g = this.geo;
    if (!hit || !g || !this.layer) return this.tooltip.hide();
    const content = describeHit(hit, {
      geometry: g,
      nm: this.nm,
      values: vp.showsValues() && !this.showsChanges() ? this.values : null,
      tiles: [this.detail, this.overview],
      isZero: this.isZero,
      candidates: this.candidates(),
    });
    this.tooltip.show(p.x, p.y, content, { width: vp.width, height: vp.height });
  }
}
