/**
 * What the heatmap asks the extension host for: downsampled cells of a window, or the weights
 * themselves of a small one.
 *
 * HeatmapRequests keeps one request that matters per kind: a newer one supersedes the one in
 * flight, whose promise then rejects with RequestCancelled and whose answer, should it still
 * come, is dropped. It reaches the host through a HeatmapTransport; MessageTransport, below, is
 * the one that knows the messages (`requestHeatmap`, `requestValues`, their replies and ids), and
 * the only part to change for another way of asking.
 */
import type { FromWebview, HeatmapWindow, ToWebview } from '../../../src/protocol';
import { toFloat32 } from '../model';
import { sameWindow } from './viewport';

/** Cells as the host sends them: `rows` × `cols`, row-major. */
export interface TileCells {
  readonly rows: number;
  readonly cols: number;
  /** Non-zero fraction per cell. */
  readonly density: Float32Array;
  /** Mean |w| per cell. */
  readonly meanAbs: Float32Array;
}

/** Downsampled cells of a window. */
export interface Tiles extends TileCells {
  readonly window: HeatmapWindow;
}

/** How requests reach the host. */
export interface HeatmapTransport {
  /** Cells of `window` of `layer`, about `width` × `height` of them (the host may send fewer). */
  fetchTiles(layer: string, window: HeatmapWindow, width: number, height: number): Promise<TileCells>;
  /** The weights of `window` of `layer`, row-major. */
  fetchValues(layer: string, window: HeatmapWindow): Promise<Float32Array>;
}

/** The request was superseded or cancelled, or its answer was unusable: nothing to show for it. */
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

/** A request in flight: what it asked for, and how to settle the promise its caller holds. */
interface InFlight<T> {
  readonly layer: string;
  readonly window: HeatmapWindow;
  readonly width?: number;
  readonly height?: number;
  readonly reject: (error: Error) => void;
  readonly settle: (outcome: { value: T } | { error: unknown }) => void;
}

export class HeatmapRequests {
  private tiles: InFlight<TileCells> | null = null;
  private values: InFlight<Float32Array> | null = null;

  constructor(private readonly transport: HeatmapTransport) {}

  /** Cells of `window` of `layer`, about `width` × `height` of them; supersedes the cells in flight. */
  fetchTiles(layer: string, window: HeatmapWindow, width: number, height: number): Promise<Tiles> {
    this.cancelTiles();
    const asked = { ...window };
    return new Promise<Tiles>((resolve, reject) => {
      const request: InFlight<TileCells> = {
        layer,
        window: asked,
        width,
        height,
        reject,
        settle: (outcome) => {
          if (this.tiles !== request) return; // superseded or cancelled meanwhile
          this.tiles = null;
          if ('error' in outcome) return reject(outcome.error);
          const density = toFloat32(outcome.value.density);
          const meanAbs = toFloat32(outcome.value.meanAbs);
          const { rows, cols } = outcome.value;
          if (density.length !== rows * cols) reject(new RequestCancelled(`${density.length} cells for ${rows} × ${cols}`));
          else resolve({ window: asked, rows, cols, density, meanAbs });
        },
      };
      this.tiles = request;
      settleWith(request, () => this.transport.fetchTiles(layer, asked, width, height));
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
          if (values.length !== (asked.rowEnd - asked.rowStart) * (asked.colEnd - asked.colStart)) reject(new RequestCancelled('the weights do not fill the window asked for'));
          else resolve(values);
        },
      };
      this.values = request;
      settleWith(request, () => this.transport.fetchValues(layer, asked));
    });
  }

  /** Whether exactly these cells are being fetched. */
  fetchingTiles(layer: string, window: HeatmapWindow, width: number, height: number): boolean {
    const r = this.tiles;
    return !!r && r.layer === layer && sameWindow(r.window, window) && r.width === width && r.height === height;
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

/**
 * Requests as `requestHeatmap` / `requestValues` messages with an id each; `heatmap`, `values` and
 * `error` messages with that id answer them. Answers to ids it does not know are not its own.
 */
export class MessageTransport implements HeatmapTransport {
  private nextId = 1;
  private readonly pending = new Map<number, { readonly kind: 'heatmap' | 'values'; readonly layer: string; readonly window: HeatmapWindow; resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(private readonly post: (message: FromWebview) => void) {}

  fetchTiles(layer: string, window: HeatmapWindow, width: number, height: number): Promise<TileCells> {
    return new Promise<TileCells>((resolve, reject) => {
      const requestId = this.nextId++;
      this.pending.set(requestId, { kind: 'heatmap', layer, window, resolve: resolve as (v: unknown) => void, reject });
      this.post({ type: 'requestHeatmap', requestId, layer, width, height, ...window });
    });
  }

  fetchValues(layer: string, window: HeatmapWindow): Promise<Float32Array> {
    return new Promise<Float32Array>((resolve, reject) => {
      const requestId = this.nextId++;
      this.pending.set(requestId, { kind: 'values', layer, window, resolve: resolve as (v: unknown) => void, reject });
      this.post({ type: 'requestValues', requestId, layer, ...window });
    });
  }

  /** Settles the request `msg` answers; false when it answers none of ours. */
  onMessage(msg: ToWebview): boolean {
    if (msg.type !== 'heatmap' && msg.type !== 'values' && msg.type !== 'error') return false;
    if (msg.requestId === undefined) return false;
    const p = this.pending.get(msg.requestId);
    if (!p) return false;
    if (msg.type === 'error') {
      this.pending.delete(msg.requestId);
      p.reject(new HostError(msg.message));
      return true;
    }
    if (msg.type !== p.kind || msg.layer !== p.layer) return false;
    this.pending.delete(msg.requestId);
    if (!sameWindow(msg.window, p.window)) p.reject(new RequestCancelled('the answer is for another window'));
    else if (msg.type === 'heatmap') p.resolve({ rows: msg.rows, cols: msg.cols, density: msg.density, meanAbs: msg.meanAbs });
    else p.resolve(msg.values);
    return true;
  }
}
