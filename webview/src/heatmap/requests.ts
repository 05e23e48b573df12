/**
 * What the heatmap asks the extension host for: downsampled cells of a window (of the mask, or of
 * what changed since a compared checkpoint), or the weights themselves of a small one.
 *
 * HeatmapRequests keeps one request that matters per kind: a newer one supersedes the one in
 * flight, whose promise then rejects with RequestCancelled and whose answer, should it still
 * come, is dropped. It reaches the host through a HeatmapTransport: the request/reply channel of
 * src/rpc, which matches replies to requests by id.
 */
import type { ViewWindow as HeatmapWindow } from '../../../src/core/neuronView';
import type { ChangeTiles } from '../../../src/core/analysis/diff';
import type { HeatmapTiles } from '../../../src/kernels/scanKernels';
import { toFloat32 } from '../model';
import { sameWindow } from './viewport';

/** Cells as the host sends them: `rows` × `cols`, row-major. */
export type TileCells = HeatmapTiles;

/** Downsampled cells of a window; `changes` when they show what changed since checkpoint B. */
export interface Tiles extends TileCells {
  readonly window: HeatmapWindow;
  readonly changes?: Omit<ChangeTiles, 'rows' | 'cols'>;
}

/** How requests reach the host. */
export interface HeatmapTransport {
  /** Cells of `window` of `layer`, about `width` × `height` of them (the host may send fewer). */
  fetchTiles(layer: string, window: HeatmapWindow, width: number, height: number): Promise<TileCells>;
  /** The weights of `window` of `layer`, row-major. */
  fetchValues(layer: string, window: HeatmapWindow): Promise<Float32Array>;
  /** Change cells of `window` of `layer` against the compared checkpoint. */
  fetchChanges(layer: string, window: HeatmapWindow, width: number, height: number): Promise<ChangeTiles>;
}

/** The request was superseded or cancelled, or its answer was unusable: nothing to show for it. */
export class RequestCancelled extends Error {
  constructor(reason = 'superseded') {
    super(reason);
    this.name = 'RequestCancelled';
  }
}

/** A request in flight: what it asked for, and how to settle the promise its caller holds. */
interface InFlight<T> {
  readonly layer: string;
  readonly window: HeatmapWindow;
  readonly width?: number;
  readonly height?: number;
  readonly changes?: boolean;
  readonly reject: (error: Error) => void;
  readonly settle: (outcome: { value: T } | { error: unknown }) => void;
}

export class HeatmapRequests {
  private tiles: InFlight<TileCells | ChangeTiles> | null = null;
  private values: InFlight<Float32Array> | null = null;

  constructor(private readonly transport: HeatmapTransport) {}

  /**
   * Cells of `window` of `layer`, about `width` × `height` of them, of the mask or (`changes`) of
   * what changed since the compared checkpoint; supersedes the cells in flight.
   */
  fetchTiles(layer: string, window: HeatmapWindow, width: number, height: number, changes = false): Promise<Tiles> {
    this.cancelTiles();
    const asked = { ...window };
    return new Promise<Tiles>((resolve, reject) => {
      const request: InFlight<TileCells | ChangeTiles> = {
        layer,
        window: asked,
        width,
        height,
        changes,
        reject,
        settle: (outcome) => {
          if (this.tiles !== request) return; // superseded or cancelled meanwhile
          this.tiles = null;
          if ('error' in outcome) return reject(outcome.error);
          const tiles = 'density' in outcome.value ? maskTiles(asked, outcome.value) : changeTiles(asked, outcome.value);
          if (tiles.density.length !== tiles.rows * tiles.cols) {
            reject(new RequestCancelled(`${tiles.density.length} cells for ${tiles.rows} × ${tiles.cols}`));
          } else resolve(tiles);
        },
      };
      this.tiles = request;
      settleWith(request, () =>
        changes ? this.transport.fetchChanges(layer, asked, width, height) : this.transport.fetchTiles(layer, asked, width, height),
      );
    });
  }

  /** The weights of `window` of `layer`, row-major; supersedes the weights in flight. */
  fetchValues(layer: string, window: HeatmapWindow): Promise<Float32Array> {
    this.cancelValues();
    const asked = { ...window };
    return new Promise<Float32Array>((resolve, reject) => {
      const request: InFlight<Float32Array> = {
        layer,
        window: asked,
        reject,
        settle: (outcome) => {
          if (this.values !== request) return;
          this.values = null;
          if ('error' in outcome) return reject(outcome.error);
          const values = toFloat32(outcome.value);
          if (values.length !== (asked.rowEnd - asked.rowStart) * (asked.colEnd - asked.colStart))
            reject(new RequestCancelled('the weights do not fill the window asked for'));
          else resolve(values);
        },
      };
      this.values = request;
      settleWith(request, () => this.transport.fetchValues(layer, asked));
    });
  }

  /** Whether exactly these cells are being fetched. */
  fetchingTiles(layer: string, window: HeatmapWindow, width: number, height: number, changes = false): boolean {
    const r = this.tiles;
    return !!r && r.layer === layer && sameWindow(r.window, window) && r.width === width && r.height === height && r.changes === changes;
  }

  /** Whether exactly these weights are being fetched. */
  fetchingValues(layer: string, window: HeatmapWindow): boolean {
    const r = this.values;
    return !!r && r.layer === layer && sameWindow(r.window, window);
  }

  cancelTiles(): void {
    const r = this.tiles;
    this.tiles = null;
    r?.reject(new RequestCancelled());
  }

  cancelValues(): void {
    const r = this.values;
    this.values = null;
    r?.reject(new RequestCancelled());
  }

  cancelAll(): void {
    this.cancelTiles();
    this.cancelValues();
  }
}

function maskTiles(window: HeatmapWindow, cells: TileCells): Tiles {
  return { window, rows: cells.rows, cols: cells.cols, density: toFloat32(cells.density), meanAbs: toFloat32(cells.meanAbs) };
}

/** Change cells as tiles: `density` is B's (turned on + kept), for what reads it. */
function changeTiles(window: HeatmapWindow, cells: ChangeTiles): Tiles {
  const turnedOn = toFloat32(cells.turnedOn);
  const turnedOff = toFloat32(cells.turnedOff);
  const keptBoth = toFloat32(cells.keptBoth);
  const density = turnedOn.map((on, i) => on + keptBoth[i]);
  const sizes = turnedOff.length === density.length && keptBoth.length === density.length;
  return {
    window,
    rows: cells.rows,
    cols: cells.cols,
    density: sizes ? density : new Float32Array(0),
    meanAbs: new Float32Array(density.length),
    changes: { turnedOn, turnedOff, keptBoth },
  };
}

/** Settles `request` with the outcome of `fetch`, also when it throws at once. */
function settleWith<T>(request: InFlight<T>, fetch: () => Promise<T>): void {
  try {
    fetch().then(
      (value) => request.settle({ value }),
      (error: unknown) => request.settle({ error }),
    );
  } catch (error) {
    request.settle({ error });
  }
}
