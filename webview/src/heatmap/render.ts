/**
 * Painting the mask: each tile (the cells of a heatmap reply, or single weights) becomes an image
 * of one pixel per cell, kept until the colours change, and is drawn scaled to its window.
 */
import type { ViewWindow as HeatmapWindow } from '../../../src/core/neuronView';
import type { ColourMode } from '../host';
import { mix, type Rgba, type Theme } from '../theme';
import type { Extent, Viewport } from './viewport';
import type { Tiles } from './requests';

/** The weights of a window, row-major. */
export interface ValuesTile {
  readonly window: HeatmapWindow;
  readonly values: Float32Array;
}

/** How tiles are coloured; images are repainted when `stamp` changes. */
export interface Colouring {
  readonly theme: Theme;
  readonly mode: ColourMode;
  readonly isZero: (v: number) => boolean;
  readonly stamp: string;
}

interface Image {
  readonly canvas: HTMLCanvasElement;
  stamp: string;
}

/** The painted image of each tile, by tile. */
export class TileImages {
  private readonly images = new WeakMap<object, Image>();

  /** Cells coloured by density, or by mean |w| relative to the tile's largest (square-root scale), or by change. */
  cells(tile: Tiles, c: Colouring): HTMLCanvasElement {
    if (tile.changes) return this.changeCells(tile, tile.changes, c);
    return this.paint(tile, tile.cols, tile.rows, c.stamp, (px) => {
      const density = c.mode === 'density';
      let maxMean = 0;
      if (!density)
        for (let i = 0; i < tile.meanAbs.length; i++)
          if (tile.meanAbs[i] > maxMean && Number.isFinite(tile.meanAbs[i])) maxMean = tile.meanAbs[i];
      const lut = ramp(c.theme.rgba.background, density ? c.theme.rgba.blue : c.theme.rgba.purple);
      const bg = c.theme.rgba.background;
      const src = density ? tile.density : tile.meanAbs;
      const scale = density ? 1 : maxMean > 0 ? 1 / maxMean : 0;
      for (let i = 0; i < src.length; i++) {
        const v = src[i] * scale;
        const o = i * 4;
        if (!(v > 0)) {
          px[o] = bg[0];
          px[o + 1] = bg[1];
          px[o + 2] = bg[2];
        } else {
          const t = density ? v : Math.sqrt(v);
          const k = Math.min(255, Math.max(1, Math.round(t * 255))) * 4;
          px[o] = lut[k];
          px[o + 1] = lut[k + 1];
          px[o + 2] = lut[k + 2];
        }
        px[o + 3] = 255;
      }
    });
  }

  /**
   * What changed since the compared checkpoint: green where positions turned on, red where they
   * turned off (blended by their shares when a cell holds both), a faint grey for positions kept
   * non-zero, the background where both are zero. A cell with any change gets at least a clear tint.
   */
  private changeCells(tile: Tiles, changes: NonNullable<Tiles['changes']>, c: Colouring): HTMLCanvasElement {
    return this.paint(tile, tile.cols, tile.rows, c.stamp, (px) => {
      const { background: bg, green, red, foreground } = c.theme.rgba;
      const kept = mix(bg, foreground, 0.22);
      for (let i = 0; i < tile.rows * tile.cols; i++) {
        const on = changes.turnedOn[i];
        const off = changes.turnedOff[i];
        const both = changes.keptBoth[i];
        let colour: Rgba = bg;
        if (on + off > 0) {
          const hue = mix(red, green, on / (on + off));
          colour = mix(both > 0 ? kept : bg, hue, 0.45 + 0.55 * Math.sqrt(Math.min(1, (on + off) / (on + off + both))));
        } else if (both > 0) colour = mix(bg, kept, 0.5 + 0.5 * both);
        const o = i * 4;
        px[o] = colour[0];
        px[o + 1] = colour[1];
        px[o + 2] = colour[2];
        px[o + 3] = 255;
      }
    });
  }

  /** Single weights: positive blue, negative orange, zero the background, NaN and ±∞ red. */
  values(tile: ValuesTile, c: Colouring): HTMLCanvasElement {
    const w = tile.window;
    return this.paint(tile, w.colEnd - w.colStart, w.rowEnd - w.rowStart, c.stamp, (px) => {
      let maxAbs = 0;
      for (let i = 0; i < tile.values.length; i++) {
        const a = Math.abs(tile.values[i]);
        if (a > maxAbs && Number.isFinite(a)) maxAbs = a;
      }
      const bg = c.theme.rgba.background;
      const pos = ramp(bg, c.theme.rgba.blue);
      const neg = ramp(bg, c.theme.rgba.orange);
      const red = c.theme.rgba.red;
      const inv = maxAbs > 0 ? 1 / maxAbs : 0;
      for (let i = 0; i < tile.values.length; i++) {
        const v = tile.values[i];
        const o = i * 4;
        if (c.isZero(v)) {
          px[o] = bg[0];
          px[o + 1] = bg[1];
          px[o + 2] = bg[2];
        } else if (!Number.isFinite(v)) {
          px[o] = red[0];
          px[o + 1] = red[1];
          px[o + 2] = red[2];
        } else {
          const lut = v > 0 ? pos : neg;
          // Magnitude on a square-root scale from 40% up: small weights stay visible.
          const k = Math.round((0.4 + 0.6 * Math.sqrt(Math.abs(v) * inv)) * 255) * 4;
          px[o] = lut[k];
          px[o + 1] = lut[k + 1];
          px[o + 2] = lut[k + 2];
        }
        px[o + 3] = 255;
      }
    });
  }

  /** Draws `fill`'s pixels into the tile's own canvas, kept as its image until the stamp changes. */
  private paint(tile: object, cols: number, rows: number, stamp: string, fill: (px: Uint8ClampedArray) => void): HTMLCanvasElement {
    const image = this.images.get(tile);
    if (image && image.stamp === stamp) return image.canvas;
    const canvas = image?.canvas ?? document.createElement('canvas');
    canvas.width = cols;
    canvas.height = rows;
    const ctx = canvas.getContext('2d')!;
    const data = ctx.createImageData(cols, rows);
    fill(data.data);
    ctx.putImageData(data, 0, 0);
    this.images.set(tile, { canvas, stamp });
    return canvas;
  }
}

/**
 * 256-step ramp from the background to `strong`. Index 0 is exactly the background (nothing
 * there); any non-zero value gets at least a clear tint so "almost empty" ≠ "empty".
 */
export function ramp(background: Rgba, strong: Rgba): Uint8ClampedArray {
  const lut = new Uint8ClampedArray(256 * 4);
  for (let i = 0; i < 256; i++) {
    const t = i === 0 ? 0 : 0.14 + 0.86 * (i / 255);
    const c = mix(background, strong, t);
    lut.set([c[0], c[1], c[2], 255], i * 4);
  }
  return lut;
}

/** Fills the canvas with the background, in CSS px, without smoothing scaled images. */
export function clearCanvas(ctx: CanvasRenderingContext2D, vp: Viewport, theme: Theme): void {
  ctx.setTransform(vp.dpr, 0, 0, vp.dpr, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = theme.background;
  ctx.fillRect(0, 0, vp.width, vp.height);
}

/**
 * Clips to the plot (the caller saves and restores the context) and frames the layer's extent,
 * so an all-zero region still shows where the matrix is.
 */
export function clipToLayer(ctx: CanvasRenderingContext2D, vp: Viewport, theme: Theme, extent: Extent): void {
  const left = vp.toX(0);
  const top = vp.toY(0);
  const right = Math.min(vp.plotX + vp.plotW, vp.toX(extent.cols));
  const bottom = Math.min(vp.plotH, vp.toY(extent.rows));
  ctx.beginPath();
  ctx.rect(vp.plotX, 0, vp.plotW, vp.plotH);
  ctx.clip();
  ctx.strokeStyle = theme.grid;
  ctx.lineWidth = 1;
  ctx.strokeRect(
    Math.max(vp.plotX, left) - 0.5,
    Math.max(0, top) - 0.5,
    right - Math.max(vp.plotX, left) + 1,
    bottom - Math.max(0, top) + 1,
  );
}

/** Draws a tile's image over its window. */
export function drawTile(ctx: CanvasRenderingContext2D, vp: Viewport, image: HTMLCanvasElement, w: HeatmapWindow): void {
  ctx.drawImage(image, vp.toX(w.colStart), vp.toY(w.rowStart), (w.colEnd - w.colStart) * vp.sx, (w.rowEnd - w.rowStart) * vp.sy);
}
