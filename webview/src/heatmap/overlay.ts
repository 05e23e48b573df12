/**
 * What is drawn over the mask: the N:M group grid and violating groups at single-weight zoom, the
 * hovered cell or group, the fan-in bars in the gutter, and the tooltip.
 */
import type { ViewWindow as HeatmapWindow } from '../../../src/core/neuronView';
import { h } from '../dom';
import { count, percent, range, weight as formatWeight } from '../format';
import type { Geometry } from '../model';
import { groupColumns, groupOfColumn, groupStarts, partialRanges, violatingGroups, type NmCounts } from '../nmGeometry';
import { css, type Theme } from '../theme';
import type { Tiles } from './requests';
import type { ValuesTile } from './render';
import { cellOf, GUTTER, within, type Cell, type Hit, type Viewport } from './viewport';

/**
 * Cell separators, N:M group boundaries, hatched partial groups, and violating groups tinted and
 * outlined in the error colour. Returns the number of violating groups in view.
 */
export function drawGroupGrid(
  ctx: CanvasRenderingContext2D,
  vp: Viewport,
  t: Theme,
  g: Geometry,
  nm: NmCounts,
  v: ValuesTile,
  win: HeatmapWindow,
  isZero: (v: number) => boolean,
  /** False for a dense layer: nobody pruned it, so its groups are not violations. */
  markViolations = true,
): number {
  const m = nm.m;
  const x = (c: number): number => Math.round(vp.toX(c));
  const y = (r: number): number => Math.round(vp.toY(r));
  const top = y(win.rowStart);
  const bottom = y(win.rowEnd);
  const left = x(win.colStart);
  const right = x(win.colEnd);
  // Separators in the background colour make each weight a tile.
  if (vp.sx >= 8 || vp.sy >= 8) {
    ctx.fillStyle = t.background;
    if (vp.sx >= 8) for (let c = win.colStart; c <= win.colEnd; c++) ctx.fillRect(x(c), top, 1, bottom - top);
    if (vp.sy >= 8) for (let r = win.rowStart; r <= win.rowEnd; r++) ctx.fillRect(left, y(r), right - left, 1);
  }
  // Group starts, then (conv) the start of each kernel position's channels, stronger.
  const fg = t.rgba.foreground;
  ctx.fillStyle = css(fg, 0.45);
  for (const c of groupStarts(g, m, win.colStart, win.colEnd + 1)) ctx.fillRect(x(c) - 1, top, 2, bottom - top);
  if (g.K > 1) {
    ctx.fillStyle = css(fg, 0.8);
    for (let c = Math.ceil(win.colStart / g.inDim) * g.inDim; c <= win.colEnd; c += g.inDim) ctx.fillRect(x(c) - 1, top, 3, bottom - top);
  }
  // Trailing channels that do not fill a group: hatched, they are not checked.
  for (const [from, to] of partialRanges(g, m, win.colStart, win.colEnd)) {
    ctx.save();
    ctx.beginPath();
    const px0 = Math.max(left, x(from));
    const px1 = Math.min(right, x(to));
    ctx.rect(px0, top, px1 - px0, bottom - top);
    ctx.clip();
    ctx.strokeStyle = css(fg, 0.16);
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let d = px0 - (bottom - top); d < px1; d += 6) {
      ctx.moveTo(d, bottom);
      ctx.lineTo(d + (bottom - top), top);
    }
    ctx.stroke();
    ctx.restore();
  }

  // Violations: groups fully inside the values window with more than N non-zeros, M adjacent columns each.
  const bad = markViolations ? violatingGroups(g, nm, v.values, v.window, win, isZero) : [];
  ctx.strokeStyle = t.red;
  ctx.lineWidth = Math.min(3, Math.max(1.5, Math.min(vp.sx, vp.sy) / 6));
  const lw = ctx.lineWidth;
  // Tint first, outlines on top, so neighbouring groups never hide each other's outline.
  ctx.fillStyle = css(t.rgba.red, 0.22);
  for (const { row: r, first } of bad) ctx.fillRect(x(first), y(r), x(first + m) - x(first), y(r + 1) - y(r));
  for (const { row: r, first } of bad) ctx.strokeRect(x(first) + lw / 2, y(r) + lw / 2, x(first + m) - x(first) - lw, y(r + 1) - y(r) - lw);
  return bad.length;
}

/** The cell of the detail tile, else of the overview, that holds weight (row, col). */
export function cellUnder(tiles: readonly (Tiles | null)[], row: number, col: number): { tile: Tiles; cell: Cell } | null {
  for (const tile of tiles) {
    if (!tile) continue;
    const cell = cellOf(tile, row, col);
    if (cell) return { tile, cell };
  }
  return null;
}

/** Outlines the hovered weight and its N:M group (single weights), or the hovered cell. */
export function drawHover(
  ctx: CanvasRenderingContext2D,
  vp: Viewport,
  t: Theme,
  g: Geometry,
  m: number,
  hit: Hit | null,
  singleWeights: boolean,
  tiles: readonly (Tiles | null)[],
): void {
  if (!hit || hit.col < 0) return;
  ctx.strokeStyle = t.focus;
  ctx.lineWidth = 2;
  if (singleWeights) {
    const cols = groupColumns(g, m, hit.col);
    ctx.setLineDash([3, 2]);
    for (const c of cols) ctx.strokeRect(vp.toX(c) + 1, vp.toY(hit.row) + 1, vp.sx - 2, vp.sy - 2);
    ctx.setLineDash([]);
    ctx.strokeRect(vp.toX(hit.col) - 1, vp.toY(hit.row) - 1, vp.sx + 2, vp.sy + 2);
  } else {
    const cell = cellUnder(tiles, hit.row, hit.col)?.cell;
    if (cell) {
      const x0 = vp.toX(cell.c0);
      const y0 = vp.toY(cell.r0);
      ctx.strokeRect(x0 - 1, y0 - 1, Math.max(2, (cell.c1 - cell.c0) * vp.sx) + 2, Math.max(2, (cell.r1 - cell.r0) * vp.sy) + 2);
    }
  }
}

/**
 * Bars of fan-in / dense per visible row in the gutter, the hovered row in orange, dead neurons
 * in red; several rows per pixel show their range (min solid, max light). Rows a plan would
 * ablate (`candidates`) get a yellow tick at the gutter's right edge.
 */
export function drawFanIn(
  ctx: CanvasRenderingContext2D,
  vp: Viewport,
  t: Theme,
  g: Geometry,
  hoverRow: number,
  candidates?: ReadonlySet<number>,
): void {
  const width = GUTTER - 4;
  const x0 = 2;
  ctx.fillStyle = css(t.rgba.foreground, 0.06);
  const yTop = Math.max(0, vp.toY(0));
  const yBottom = Math.min(vp.plotH, vp.toY(g.rows));
  ctx.fillRect(x0, yTop, width, yBottom - yTop);
  const fanIn = g.fanIn;
  if (!fanIn) return;
  const dense = g.cols || 1;
  const blue = t.blue;
  const light = css(t.rgba.blue, 0.4);
  if (vp.sy >= 3) {
    const r0 = Math.max(0, Math.floor(vp.y0));
    const r1 = Math.min(g.rows, Math.ceil(vp.y0 + vp.plotH / vp.sy));
    const gap = vp.sy >= 6 ? 1 : 0;
    for (let r = r0; r < r1; r++) {
      const y = Math.round(vp.toY(r));
      const hgt = Math.round(vp.toY(r + 1)) - y - gap;
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
    const rowsPerPx = 1 / vp.sy;
    const pyStart = Math.max(0, Math.floor(yTop));
    for (let py = pyStart; py < Math.min(vp.plotH, yBottom); py++) {
      const a = Math.max(0, Math.floor(vp.y0 + py * rowsPerPx));
      const b = Math.min(g.rows, Math.max(a + 1, Math.floor(vp.y0 + (py + 1) * rowsPerPx)));
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
  if (candidates?.size) {
    ctx.fillStyle = t.yellow;
    for (const r of candidates) {
      const y = vp.toY(r);
      if (y + vp.sy < yTop || y > yBottom) continue;
      // At least 2 px tall, so a candidate among many rows per pixel still shows.
      ctx.fillRect(x0 + width - 7, Math.floor(y), 7, Math.max(2, Math.round(vp.sy)));
    }
  }
  if (hoverRow >= 0 && vp.sy < 3) {
    ctx.fillStyle = t.orange;
    ctx.fillRect(x0, vp.toY(hoverRow), width, 1);
  }
}

/** A tooltip line: key, value, and a class for the value (muted, good, bad). */
type TipLine = readonly [string, string, string?];

/** What the tooltip says about a hovered weight or gutter row. */
export interface TipContext {
  readonly geometry: Geometry;
  readonly nm: NmCounts;
  /** Single weights are drawn and `values` holds them. */
  readonly values: ValuesTile | null;
  readonly tiles: readonly (Tiles | null)[];
  readonly isZero: (v: number) => boolean;
  /** Rows the shown plan would ablate, when a plan is shown. */
  readonly candidates?: ReadonlySet<number>;
}

/** The hovered point's description: a title and key/value lines. */
export function describeHit(hit: Hit, c: TipContext): { title: string; lines: TipLine[] } {
  const g = c.geometry;
  const { n, m } = c.nm;
  const lines: TipLine[] = [];
  const fanIn = g.fanIn ? g.fanIn[hit.row] : undefined;
  const fanText =
    fanIn === undefined
      ? 'unknown'
      : `${count(fanIn)} of ${count(g.cols)} (${percent(fanIn / g.cols)})${fanIn === 0 ? ' — dead neuron' : ''}`;
  if (hit.col < 0) {
    lines.push(['fan-in', fanText, fanIn === 0 ? 'bad' : undefined]);
    if (c.candidates?.has(hit.row)) lines.push(['plan', 'ablation candidate (few salient weights)', 'bad']);
    return { title: `Neuron ${count(hit.row)}`, lines };
  }
  const grp = groupOfColumn(g, m, hit.col);
  if (g.K > 1) lines.push(['input', `channel ${grp.channel}, kernel position ${grp.position}`]);
  const v = c.values;
  if (v && within(v.window, hit.row, hit.col)) {
    const vCols = v.window.colEnd - v.window.colStart;
    const value = v.values[(hit.row - v.window.rowStart) * vCols + hit.col - v.window.colStart];
    lines.push(['weight', formatWeight(value), c.isZero(value) ? 'muted' : undefined]);
    const cols = groupColumns(g, m, hit.col);
    if (grp.partial) {
      lines.push([`${n}:${m}`, `partial group (${cols.length} channels), not checked`, 'muted']);
    } else if (cols.every((col) => col >= v.window.colStart && col < v.window.colEnd)) {
      const base = (hit.row - v.window.rowStart) * vCols - v.window.colStart;
      const nnz = cols.reduce((s, col) => s + (c.isZero(v.values[base + col]) ? 0 : 1), 0);
      const ok = nnz <= n;
      lines.push([`${n}:${m} group`, `${nnz} of ${m} non-zero — ${ok ? 'complies' : 'violates'}`, ok ? 'good' : 'bad']);
    }
  } else {
    const under = cellUnder(c.tiles, hit.row, hit.col);
    if (under) {
      const { cell, tile } = under;
      const k = cell.i * tile.cols + cell.j;
      const weights = (cell.r1 - cell.r0) * (cell.c1 - cell.c0);
      if (weights > 1)
        lines.push(['cell', `rows ${range(cell.r0, cell.r1)}, cols ${range(cell.c0, cell.c1)} (${count(weights)} weights)`, 'muted']);
      if (tile.changes) lines.push(...changeLines(tile.changes, k, weights));
      else {
        lines.push(['density', percent(tile.density[k])]);
        lines.push(['mean |w|', formatWeight(tile.meanAbs[k])]);
      }
    } else {
      lines.push(['', 'loading…', 'muted']);
    }
  }
  lines.push(['row fan-in', fanText, fanIn === 0 ? 'bad' : undefined]);
  return { title: `Row ${count(hit.row)} · col ${count(hit.col)}`, lines };
}

/** What changed at a cell of `weights` positions: counts of each kind, or the one position's change. */
function changeLines(changes: NonNullable<Tiles['changes']>, k: number, weights: number): TipLine[] {
  const on = Math.round(changes.turnedOn[k] * weights);
  const off = Math.round(changes.turnedOff[k] * weights);
  const kept = Math.round(changes.keptBoth[k] * weights);
  if (weights === 1) {
    if (on) return [['change', 'turned on (zero before, non-zero now)', 'good']];
    if (off) return [['change', 'turned off (non-zero before, zero now)', 'bad']];
    return [['change', kept ? 'kept (non-zero in both)' : 'none (zero in both)', 'muted']];
  }
  return [
    ['turned on', count(on), on ? 'good' : 'muted'],
    ['turned off', count(off), off ? 'bad' : 'muted'],
    ['kept', count(kept), 'muted'],
  ];
}

/** The tooltip box, placed beside the pointer and kept inside the canvas. */
export class Tooltip {
  readonly element: HTMLElement;

  constructor() {
    this.element = h('div', { class: 'heatmap-tooltip', attrs: { role: 'tooltip', 'aria-hidden': 'true' } });
    this.element.hidden = true;
  }

  show(x: number, y: number, content: { title: string; lines: readonly TipLine[] }, bounds: { width: number; height: number }): void {
    const tip = this.element;
    while (tip.firstChild) tip.removeChild(tip.firstChild);
    tip.appendChild(h('div', { class: 'tip-title', text: content.title }));
    const table = h('div', { class: 'tip-grid' });
    for (const [k, val, cls] of content.lines) {
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
    if (left + tw > bounds.width) left = Math.max(0, x - pad - tw);
    if (top + th > bounds.height) top = Math.max(0, y - pad - th);
    tip.style.left = `${left}px`;
    tip.style.top = `${top}px`;
  }

  hide(): void {
    this.element.hidden = true;
  }
}
