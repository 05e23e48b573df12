/**
 * Every message that crosses a process or frame boundary, as discriminated unions. For now: the
 * extension (or CLI) ⇄ kernel worker process.
 */
import type { NativeAddon } from './kernels/nativeAddon';

export type KernelOp = keyof NativeAddon;

/** A call of one addon function in the worker. */
export type WorkerRequest = { [Op in KernelOp]: { readonly id: number; readonly op: Op; readonly args: Parameters<NativeAddon[Op]> } }[KernelOp];

export type WorkerMessage =
  /** Sent once at start: whether the addon loaded. */
  | { readonly kind: 'ready'; readonly native: true }
  | { readonly kind: 'ready'; readonly native: false; readonly reason: string }
  | { readonly kind: 'result'; readonly id: number; readonly result: ReturnType<NativeAddon[KernelOp]> }
  | { readonly kind: 'error'; readonly id: number; readonly message: string };

// ---------------------------------------------------------------------------------------------
// Extension ⇄ checkpoint editor webview

/** What the webview needs of one tensor beyond the report row. */
export interface LayerView {
  /** Index into the report's `layers`. */
  readonly index: number;
  /** Rows and columns of the heatmap view: [neurons, fan-in positions]; absent for role other. */
  readonly rows?: number;
  readonly cols?: number;
  /** Size of the N:M axis: a view column c is input channel ⌊c / (cols / inDim)⌋. */
  readonly inDim?: number;
  /** Non-zeros per output neuron. */
  readonly fanIn?: Uint32Array;
}

/** A window of a weight's [neurons, fan-in positions] view. */
export type HeatmapWindow = import('./core/neuronView').ViewWindow;

export type ToWebview =
  /** Everything to draw the editor; sent after `ready` and whenever the analysis is redone. */
  | {
      readonly type: 'init';
      readonly report: import('./core/analysis/report').SparsityReport;
      readonly layers: readonly LayerView[];
      readonly settings: { readonly maxHeatmapCells: number; readonly zeroThreshold: number };
      /** Layer to select first (by name), e.g. from the tree view. */
      readonly select?: string;
    }
  /** Downsampled cells of a window: density and mean |w|, row-major [rows, cols]. */
  | {
      readonly type: 'heatmap';
      readonly requestId: number;
      readonly layer: string;
      readonly window: HeatmapWindow;
      readonly rows: number;
      readonly cols: number;
      readonly density: Float32Array;
      readonly meanAbs: Float32Array;
    }
  /** The weights themselves of a small window (high zoom), row-major, signed. */
  | {
      readonly type: 'values';
      readonly requestId: number;
      readonly layer: string;
      readonly window: HeatmapWindow;
      readonly values: Float32Array;
    }
  | { readonly type: 'select'; readonly layer: string }
  | { readonly type: 'error'; readonly requestId?: number; readonly message: string };

export type FromWebview =
  | { readonly type: 'ready' }
  | ({ readonly type: 'requestHeatmap'; readonly requestId: number; readonly layer: string; readonly width: number; readonly height: number } & HeatmapWindow)
  | ({ readonly type: 'requestValues'; readonly requestId: number; readonly layer: string } & HeatmapWindow)
  /** The user selected a layer in the webview (the tree follows). */
  | { readonly type: 'selected'; readonly layer: string };

/** Most weights a `values` reply carries; larger windows get heatmap cells. */
export const MAX_VALUES_WINDOW = 128 * 512;
