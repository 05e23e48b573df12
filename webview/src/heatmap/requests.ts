/**
 * What the heatmap asks the extension host for: downsampled cells of a window, or the weights
 * themselves of a small one. Only this file knows the messages (`requestHeatmap`, `requestValues`,
 * their replies and request ids).
 *
 * Each kind has one request that matters at a time: a newer one supersedes the one in flight,
 * whose promise rejects with RequestCancelled; its reply, should it still come, is dropped.
 */
import type { FromWebview, HeatmapWindow, ToWebview } from '../../../src/protocol';
import { toFloat32 } from '../model';
import { sameWindow } from './viewport';

/** Downsampled cells of a window: `rows` × `cols`, row-major. */
export interface Tiles {
  readonly window: HeatmapWindow;
  readonly rows: number;
  readonly cols: number;
  /** Non-zero fraction per cell. */
  readonly density: Float32Array;
  /** Mean |w| per cell. */
  readonly meanAbs: Float32Array;
}

/** The request was superseded or cancelled, or its reply was unusable: nothing to show for it. */
export class RequestCancelled extends Error {
  constructor(reason = 'superseded') {
    super(reason);
    this.name = 'RequestCancelled';
  }
}

/** The host could not answer (its message is for the user). */
export class HostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostError';
  }
}

interface Pending<T> {
  readonly id: number;
  readonly layer: string;
  readonly window: HeatmapWindow;
  /** Cells asked for (tiles only). */
  readonly width?: number;
  readonly height?: number;
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
}

export class HeatmapRequests {
  private nextId = 1;
  private tiles: Pending<Tiles> | null = null;
  private values: Pending<Float32Array> | null = null;

  constructor(private readonly post: (message: FromWebview) => void) {}

  /** Cells of `window` of `layer`, about `width` × `height` of them (the host may send fewer). */
  fetchTiles(layer: string, window: HeatmapWindow, width: number, height: number): Promise<Tiles> {
    this.cancelTiles();
    return new Promise<Tiles>((resolve, reject) => {
      const requestId = this.nextId++;
      this.tiles = { id: requestId, layer, window: { ...window }, width, height, resolve, reject };
      this.post({ type: 'requestHeatmap', requestId, layer, width, height, ...window });
    });
  }

  /** The weights of `window` of `layer`, row-major. */
  fetchValues(layer: string, window: HeatmapWindow): Promise<Float32Array> {
    this.cancelValues();
    return new Promise<Float32Array>((resolve, reject) => {
      const requestId = this.nextId++;
      this.values = { id: requestId, layer, window: { ...window }, resolve, reject };
      this.post({ type: 'requestValues', requestId, layer, ...window });
    });
  }

  /** Whether exactly these cells are being fetched. */
  fetchingTiles(layer: string, window: HeatmapWindow, width: number, height: number): boolean {
    const p = this.tiles;
    return !!p && p.layer === layer && sameWindow(p.window, window) && p.width === width && p.height === height;
  }

  /** Whether exactly these weights are being fetched. */
  fetchingValues(layer: string, window: HeatmapWindow): boolean {
    const p = this.values;
    return !!p && p.layer === layer && sameWindow(p.window, window);
  }

  cancelTiles(): void {
    const p = this.tiles;
    this.tiles = null;
    p?.reject(new RequestCancelled());
  }

  cancelValues(): void {
    const p = this.values;
    this.values = null;
    p?.reject(new RequestCancelled());
  }

  cancelAll(): void {
    this.cancelTiles();
    this.cancelValues();
  }

  /** Settles the request `msg` answers, if it is one in flight; false for any other message. */
  onMessage(msg: ToWebview): boolean {
    if (msg.type === 'heatmap') {
      const p = this.tiles;
      if (!p || msg.requestId !== p.id || msg.layer !== p.layer) return false;
      this.tiles = null;
      const density = toFloat32(msg.density);
      const meanAbs = toFloat32(msg.meanAbs);
      if (density.length !== msg.rows * msg.cols) p.reject(new RequestCancelled(`${density.length} cells for ${msg.rows} × ${msg.cols}`));
      else p.resolve({ window: { ...msg.window }, rows: msg.rows, cols: msg.cols, density, meanAbs });
      return true;
    }
    if (msg.type === 'values') {
      const p = this.values;
      if (!p || msg.requestId !== p.id || msg.layer !== p.layer) return false;
      this.values = null;
      const values = toFloat32(msg.values);
      const w = p.window;
      if (!sameWindow(msg.window, w) || values.length !== (w.rowEnd - w.rowStart) * (w.colEnd - w.colStart)) {
        p.reject(new RequestCancelled('the weights do not fill the window asked for'));
      } else p.resolve(values);
      return true;
    }
    if (msg.type === 'error' && msg.requestId !== undefined) {
      for (const p of [this.tiles, this.values]) {
        if (p && msg.requestId === p.id) {
          if (p === this.tiles) this.tiles = null;
          else this.values = null;
          p.reject(new HostError(msg.message));
          return true;
        }
      }
    }
    return false;
  }
}
