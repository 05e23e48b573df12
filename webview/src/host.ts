/** The link to the extension host: messages out, persisted state in and out. */

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export type SortKey =
  'status' | 'name' | 'shape' | 'dtype' | 'role' | 'sparsity' | 'fanMin' | 'fanMean' | 'fanMax' | 'constant' | 'nm' | 'storage';
/** How heatmap cells are coloured; 'changes' only while a comparison is shown. */
export type ColourMode = 'density' | 'magnitude' | 'changes';

import type { SavedTraining } from './trainingModel';

/** A zoom window in weight coordinates (fractional: the view need not start on a weight). */
export interface SavedView {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/** What survives the tab being hidden (VS Code keeps it with the webview). */
export interface PersistedState {
  readonly version: 1;
  selected?: string;
  sort?: { key: SortKey; dir: 1 | -1 };
  mode?: ColourMode;
  filter?: string;
  weightsOnly?: boolean;
  byModule?: boolean;
  overviewOpen?: boolean;
  planOpen?: boolean;
  /** Zoom window per layer, most recent last (a few kept). */
  views?: Record<string, SavedView>;
  /** The Fine-tuning section's run (its chart thinned to a bounded size); null once closed. */
  training?: SavedTraining | null;
}

const api: VsCodeApi =
  typeof acquireVsCodeApi === 'function'
    ? acquireVsCodeApi()
    : { postMessage: () => undefined, getState: () => undefined, setState: () => undefined };

/** Sends one message to the extension (the request/reply channel's transport). */
export function post(message: unknown): void {
  api.postMessage(message);
}

let state: PersistedState = loadState();
let saveTimer = 0;

function loadState(): PersistedState {
  const raw = api.getState() as Partial<PersistedState> | undefined;
  return raw && raw.version === 1 ? { ...raw, version: 1 } : { version: 1 };
}

export function getState(): Readonly<PersistedState> {
  return state;
}

/** Merges `patch` into the state; writes it to VS Code shortly after (coalesced). */
export function updateState(patch: Partial<PersistedState>): void {
  state = { ...state, ...patch, version: 1 };
  if (!saveTimer) {
    saveTimer = window.setTimeout(() => {
      saveTimer = 0;
      api.setState(state);
    }, 100);
  }
}

const MAX_SAVED_VIEWS = 16;

export function saveView(layer: string, view: SavedView): void {
  const views = { ...(state.views ?? {}) };
  delete views[layer];
  views[layer] = view;
  const names = Object.keys(views);
  for (const name of names.slice(0, Math.max(0, names.length - MAX_SAVED_VIEWS))) delete views[name];
  updateState({ views });
}
