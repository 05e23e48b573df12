/**
 * The heatmap's view as plain numbers: which part of a [rows × cols] weight the plot shows and at
 * what scale. No DOM, no canvas, no messages.
 *
 * The canvas is `width` × `height` CSS px: the fan-in gutter (GUTTER px), a gap, then the plot.
 * The view is the weight coordinate (x0, y0) at the plot's top-left corner and the CSS px per
 * weight (sx, sy); cells need not be square. Zoom stops at MAX_CELL px per weight and at the
 * whole layer; pan stops at the layer's edges.
 */
import type { ViewWindow as HeatmapWindow } from '../../../src/core/neuronView';
import { MAX_VALUES_WINDOW } from '../../../src/webview/protocol';
import type { SavedView } from '../host';

/** Width of the fan-in bars left of the mask, CSS px. */
export const GUTTER = 56;
export const GAP = 6;
/** Largest cell when zoomed in, CSS px. */
export const MAX_CELL = 40;
/** Weights are drawn one by one from this cell size on. */
export const VALUE_CELL = 6;
/** Cells asked for when the setting is unusable. */
const DEFAULT_CELL_BUDGET = 1 << 18;

/** Rows and columns of the layer shown. */
export interface Extent {
  readonly rows: number;
  readonly cols: number;
}

/** A point on the canvas, CSS px from its top-left corner. */
export interface Point {
  readonly x: number;
  readonly y: number;
}

/** A weight's row and column; col −1 is the fan-in gutter of the row. */
export interface Hit {
  readonly row: number;
  readonly col: number;
}

export interface ScaleLimits {
  readonly minX: number;
  readonly maxX: number;
  readonly minY: number;
  readonly maxY: number;
}

export class Viewport {
  /** Weight coordinates at the plot's top-left corner. */
  x0 = 0;
  y0 = 0;
  /** CSS px per weight. */
  sx = 1;
  sy = 1;
  /** The whole layer is shown (a resize fits it again). */
  fitted = true;
  /** Canvas size in CSS px, and device px per CSS px. */
  width = 0;
  height = 0;
  dpr = 1;
  private extentOf: Extent | null = null;

  /** The layer shown; null for none. Call fit() or restore() after. */
  setExtent(extent: Extent | null): void {
    this.extentOf = extent ? { rows: extent.rows, cols: extent.cols } : null;
  }

  get extent(): Extent | null {
    return this.extentOf;
  }

  /** Sets the canvas size; false when nothing changed. */
  resize(width: number, height: number, dpr: number): boolean {
    if (width === this.width && height === this.height && dpr === this.dpr) return false;
    this.width = width;
    this.height = height;
    this.dpr = dpr;
    return true;
  }

  get plotX(): number {
    return GUTTER + GAP;
  }
  get plotW(): number {
    return Math.max(1, this.width - this.plotX);
  }
  get plotH(): number {
    return Math.max(1, this.height);
  }
  /** Weights across and down the plot (fractional). */
  get spanX(): number {
    return this.plotW / this.sx;
  }
  get spanY(): number {
    return this.plotH / this.sy;
  }

  /** From the whole layer stretched to the plot (but never above MAX_CELL) up to MAX_CELL. */
  scaleLimits(): ScaleLimits {
    const e = this.need();
    const minX = Math.min(this.plotW / e.cols, MAX_CELL);
    const minY = Math.min(this.plotH / e.rows, MAX_CELL);
    return { minX, maxX: Math.max(minX, MAX_CELL), minY, maxY: Math.max(minY, MAX_CELL) };
  }

  /** Brings the scale within its limits and the view within the layer. */
  clamp(): void {
    const e = this.need();
    const lim = this.scaleLimits();
    this.sx = Math.min(lim.maxX, Math.max(lim.minX, this.sx));
    this.sy = Math.min(lim.maxY, Math.max(lim.minY, this.sy));
    const spanX = this.spanX;
    const spanY = this.spanY;
    this.x0 = spanX >= e.cols ? 0 : Math.min(e.cols - spanX, Math.max(0, this.x0));
    this.y0 = spanY >= e.rows ? 0 : Math.min(e.rows - spanY, Math.max(0, this.y0));
  }

  /** The whole weights the plot shows, at least partly; never empty. */
  visibleWindow(): HeatmapWindow {
    const e = this.need();
    const eps = 1e-7;
    const colStart = Math.max(0, Math.min(e.cols - 1, Math.floor(this.x0 + eps)));
    const rowStart = Math.max(0, Math.min(e.rows - 1, Math.floor(this.y0 + eps)));
    const colEnd = Math.max(colStart + 1, Math.min(e.cols, Math.ceil(this.x0 + this.spanX - eps)));
    const rowEnd = Math.max(rowStart + 1, Math.min(e.rows, Math.ceil(this.y0 + this.spanY - eps)));
    return { rowStart, rowEnd, colStart, colEnd };
  }

  /**
   * Whether single weights are drawn: the window is small enough to fetch whole and each weight
   * is at least VALUE_CELL px each way.
   */
  showsValues(win: HeatmapWindow = this.visibleWindow()): boolean {
    const n = (win.rowEnd - win.rowStart) * (win.colEnd - win.colStart);
    return n <= MAX_VALUES_WINDOW && this.sx >= VALUE_CELL && this.sy >= VALUE_CELL;
  }

  /** Shows the whole layer, stretched to the plot (cells need not be square). */
  fit(): void {
    const lim = this.scaleLimits();
    this.sx = lim.minX;
    this.sy = lim.minY;
    this.x0 = this.y0 = 0;
    this.fitted = true;
    this.clamp();
  }

  /**
   * Shows a saved window when it is a valid part of the layer (not all of it); else fits. True
   * when the saved window was used.
   */
  restore(v: SavedView | undefined): boolean {
    const e = this.need();
    if (
      v &&
      v.x1 > v.x0 &&
      v.y1 > v.y0 &&
      v.x1 <= e.cols + 1e-6 &&
      v.y1 <= e.rows + 1e-6 &&
      !(v.x0 <= 0 && v.y0 <= 0 && v.x1 >= e.cols && v.y1 >= e.rows)
    ) {
      this.sx = this.plotW / (v.x1 - v.x0);
      this.sy = this.plotH / (v.y1 - v.y0);
      this.x0 = v.x0;
      this.y0 = v.y0;
      this.fitted = false;
      this.clamp();
      return true;
    }
    this.fit();
    return false;
  }

  /** The window shown, to restore later. */
  saved(): SavedView {
    const e = this.need();
    return { x0: this.x0, y0: this.y0, x1: Math.min(e.cols, this.x0 + this.spanX), y1: Math.min(e.rows, this.y0 + this.spanY) };
  }

  /** Zooms by `factor` keeping the weight under canvas point (px, py) in place; false when the scale is already at its limit. */
  zoomAt(factor: number, px: number, py: number): boolean {
    const c = this.x0 + (px - this.plotX) / this.sx;
    const r = this.y0 + py / this.sy;
    const lim = this.scaleLimits();
    const sx = Math.min(lim.maxX, Math.max(lim.minX, this.sx * factor));
    const sy = Math.min(lim.maxY, Math.max(lim.minY, this.sy * factor));
    if (sx === this.sx && sy === this.sy) return false;
    this.sx = sx;
    this.sy = sy;
    this.x0 = c - (px - this.plotX) / sx;
    this.y0 = r - py / sy;
    this.fitted = sx === lim.minX && sy === lim.minY;
    this.clamp();
    return true;
  }

  zoomAtCenter(factor: number): boolean {
    return this.zoomAt(factor, this.plotX + this.plotW / 2, this.plotH / 2);
  }

  /** Zooms so single weights are drawn (16 px each, within the limits) around the centre. */
  zoomToWeights(): void {
    const { col, row } = this.centre();
    const lim = this.scaleLimits();
    this.sx = Math.min(lim.maxX, Math.max(lim.minX, 16));
    this.sy = Math.min(lim.maxY, Math.max(lim.minY, 16));
    this.x0 = col - this.spanX / 2;
    this.y0 = row - this.spanY / 2;
    this.fitted = false;
    this.clamp();
  }

  /** Zooms to single weights (as zoomToWeights) with weight (row, col) in the middle. */
  showWeight(row: number, col: number): void {
    if (!this.showsValues()) this.zoomToWeights();
    this.x0 = col + 0.5 - this.spanX / 2;
    this.y0 = row + 0.5 - this.spanY / 2;
    this.fitted = false;
    this.clamp();
  }

  /** Moves the view by a number of weights. */
  pan(dxWeights: number, dyWeights: number): void {
    this.moveTo(this.x0 + dxWeights, this.y0 + dyWeights);
  }

  /** Puts weight coordinate (x0, y0) at the plot's top-left corner, within the layer. */
  moveTo(x0: number, y0: number): void {
    this.x0 = x0;
    this.y0 = y0;
    this.fitted = false;
    this.clamp();
  }

  /** The weight coordinate at the plot's centre. */
  centre(): { col: number; row: number } {
    return { col: this.x0 + this.spanX / 2, row: this.y0 + this.spanY / 2 };
  }

  /** Puts `centre` (from centre(), before a resize) back at the centre, within the layer. */
  recentre(centre: { col: number; row: number } | null): void {
    if (centre) {
      this.x0 = centre.col - this.spanX / 2;
      this.y0 = centre.row - this.spanY / 2;
    }
    this.clamp();
  }

  /** Canvas x (CSS px) of the left edge of column `col`. */
  toX(col: number): number {
    return this.plotX + (col - this.x0) * this.sx;
  }
  /** Canvas y (CSS px) of the top edge of row `row`. */
  toY(row: number): number {
    return (row - this.y0) * this.sy;
  }

  /** Row and column under a canvas point (col −1 in the fan-in gutter), or null outside the layer. */
  hitTest(x: number, y: number): Hit | null {
    const e = this.extentOf;
    if (!e) return null;
    const row = Math.floor(this.y0 + y / this.sy);
    if (row < 0 || row >= e.rows || y < 0 || y >= this.plotH) return null;
    if (x < this.plotX) return x < GUTTER ? { row, col: -1 } : null;
    const col = Math.floor(this.x0 + (x - this.plotX) / this.sx);
    if (col < 0 || col >= e.cols) return null;
    return { row, col };
  }

  /**
   * Heatmap cells to ask for `win`: one per device pixel of the plot at most, never more than
   * the window has weights, and at most `budget` in all (shrunk keeping the aspect).
   */
  cellRequest(win: HeatmapWindow, budget: number): { width: number; height: number } {
    const winRows = win.rowEnd - win.rowStart;
    const winCols = win.colEnd - win.colStart;
    let width = Math.min(winCols, Math.max(1, Math.floor(this.plotW * this.dpr)));
    let height = Math.min(winRows, Math.max(1, Math.floor(this.plotH * this.dpr)));
    if (width * height > budget) {
      const f = Math.sqrt(budget / (width * height));
      width = Math.max(1, Math.floor(width * f));
      height = Math.max(1, Math.floor(height * f));
      while (width * height > budget) {
        if (width >= height) width--;
        else height--;
      }
    }
    return { width, height };
  }

  private need(): Extent {
    if (!this.extentOf) throw new Error('the viewport has no layer');
    return this.extentOf;
  }
}

/** The cell budget from the maxHeatmapCells setting: a whole number, at least 64. */
export function cellBudget(setting: number): number {
  return Math.max(64, Math.floor(setting) || DEFAULT_CELL_BUDGET);
}

/**
 * The window of single weights to fetch for visible window `win`: grown by up to half a view each
 * way (less when that would be more than a values reply carries), columns snapped to whole N:M
 * group blocks of `block` columns, within the layer.
 */
export function valuesRequestWindow(win: HeatmapWindow, extent: Extent, block: number): HeatmapWindow {
  for (const pad of [0.5, 0.25, 0.1, 0]) {
    const pr = Math.ceil((win.rowEnd - win.rowStart) * pad);
    const pc = Math.ceil((win.colEnd - win.colStart) * pad);
    const rowStart = Math.max(0, win.rowStart - pr);
    const rowEnd = Math.min(extent.rows, win.rowEnd + pr);
    const colStart = Math.max(0, Math.floor((win.colStart - pc) / block) * block);
    const colEnd = Math.min(extent.cols, Math.ceil((win.colEnd + pc) / block) * block);
    if ((rowEnd - rowStart) * (colEnd - colStart) <= MAX_VALUES_WINDOW) return { rowStart, rowEnd, colStart, colEnd };
  }
  return win;
}

/** A downsampled grid over a window: `rows` × `cols` cells. */
export interface CellGrid {
  readonly window: HeatmapWindow;
  readonly rows: number;
  readonly cols: number;
}

/** Cell (i, j) of a grid and the weights it covers: rows r0..r1, columns c0..c1 (ends exclusive). */
export interface Cell {
  readonly i: number;
  readonly j: number;
  readonly r0: number;
  readonly r1: number;
  readonly c0: number;
  readonly c1: number;
}

/**
 * The cell of `grid` holding weight (row, col), or null outside its window. Cell i of n over R
 * weights starts at ⌊i·R/n⌋, as the kernels split it.
 */
export function cellOf(grid: CellGrid, row: number, col: number): Cell | null {
  const w = grid.window;
  if (!within(w, row, col)) return null;
  const R = w.rowEnd - w.rowStart;
  const C = w.colEnd - w.colStart;
  const i = cellIndex(row - w.rowStart, R, grid.rows);
  const j = cellIndex(col - w.colStart, C, grid.cols);
  return {
    i,
    j,
    r0: w.rowStart + Math.floor((i * R) / grid.rows),
    r1: w.rowStart + Math.floor(((i + 1) * R) / grid.rows),
    c0: w.colStart + Math.floor((j * C) / grid.cols),
    c1: w.colStart + Math.floor(((j + 1) * C) / grid.cols),
  };
}

/** Index i of the cell holding offset x when R items are split into n cells at ⌊i·R/n⌋. */
function cellIndex(x: number, R: number, n: number): number {
  let i = Math.min(n - 1, Math.floor((x * n) / R));
  while (i > 0 && Math.floor((i * R) / n) > x) i--;
  while (i < n - 1 && Math.floor(((i + 1) * R) / n) <= x) i++;
  return i;
}

export function contains(outer: HeatmapWindow, inner: HeatmapWindow): boolean {
  return (
    outer.rowStart <= inner.rowStart && outer.rowEnd >= inner.rowEnd && outer.colStart <= inner.colStart && outer.colEnd >= inner.colEnd
  );
}

export function within(w: HeatmapWindow, row: number, col: number): boolean {
  return row >= w.rowStart && row < w.rowEnd && col >= w.colStart && col < w.colEnd;
}

export function sameWindow(a: HeatmapWindow, b: HeatmapWindow): boolean {
  return a.rowStart === b.rowStart && a.rowEnd === b.rowEnd && a.colStart === b.colStart && a.colEnd === b.colEnd;
}
