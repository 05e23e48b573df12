/**
 * The messages between the extension and the checkpoint editor's webview, carried by the
 * request/reply handler of src/rpc. The webview asks for heatmap cells and weight windows; the
 * extension tells it what to draw.
 */
import type { CheckpointPlan } from '../core/analysis/checkpointPlan';
import type { ChangeTiles, CheckpointDiff } from '../core/analysis/diff';
import type { Distribution } from '../core/analysis/plan';
import type { TargetKind } from '../core/analysis/target';
import type { LayerNeurons, LayerReport, SparsityReport } from '../core/analysis/report';
import type { ColumnOrder, ViewWindow } from '../core/neuronView';
import type { SriglSchedule } from '../core/train/sriglSchedule';
import type { HeatmapTiles } from '../kernels/scanKernels';

/** A window of a layer's view to downsample to at most width × height cells, its columns in `order`. */
type TileParams = {
  readonly layer: string;
  readonly window: ViewWindow;
  readonly width: number;
  readonly height: number;
  readonly order?: ColumnOrder;
};

/** What the extension answers. */
export type HostMethods = {
  /** A window of a weight downsampled to at most width × height cells (the extension caps the budget). */
  readonly heatmap: {
    readonly params: TileParams;
    readonly result: HeatmapTiles;
  };
  /** The signed weights of a small window (high zoom), row-major; at most MAX_VALUES_WINDOW of them. */
  readonly weightWindow: {
    readonly params: { readonly layer: string; readonly window: ViewWindow; readonly order?: ColumnOrder };
    readonly result: Float32Array;
  };
  /** Where a weight changed from this checkpoint to the compared one, downsampled like `heatmap`. */
  readonly changeTiles: {
    readonly params: TileParams;
    readonly result: ChangeTiles;
  };
  /** The next (1) or previous (−1) N:M group of the target's pattern that violates, after (row, col), wrapping. */
  readonly findViolation: {
    readonly params: { readonly layer: string; readonly row: number; readonly col: number; readonly direction: 1 | -1 };
    readonly result: { readonly row: number; readonly col: number } | null;
  };
  /** A density plan of the checkpoint (as `sparsity-lens plan`), or why it cannot be made. */
  readonly plan: {
    readonly params: { readonly distribution: Distribution; readonly sparsity: string };
    readonly result: { readonly plan: CheckpointPlan } | { readonly error: string };
  };
};

/** What the extension tells the webview. */
export type ToWebview = {
  /** Everything to draw the editor; sent after `ready` and whenever the analysis is redone. */
  readonly init: {
    readonly report: SparsityReport;
    /** Per-neuron figures of each linear and conv weight, by name. */
    readonly neurons: readonly LayerNeurons[];
    readonly settings: { readonly maxHeatmapCells: number; readonly zeroThreshold: number };
    /** The structure to check for (the N:M pattern is the report's). */
    readonly target: TargetKind;
    /** Layer to select first (by name), e.g. from the tree view. */
    readonly select?: string;
  };
  readonly select: { readonly layer: string };
  /** Another target was chosen (here, in another editor, or by Check N:M with the same pattern). */
  readonly target: { readonly kind: TargetKind };
  /** Show a comparison of this checkpoint (A) with another (B); `fileA` and `fileB` are labels. */
  readonly compare: { readonly diff: CheckpointDiff };
  /** How far the analysis is: the share of the tensor bytes scanned, a line saying so, and the rows just scanned. */
  readonly progress: { readonly fraction: number; readonly message: string; readonly layers: readonly LayerReport[] };
  /** The analysis failed or was cancelled: one sentence for the user (the details are in the log). */
  readonly failed: { readonly message: string };
  /**
   * A fine-tune of this checkpoint ("Fine-tune…") began: the Fine-tuning section shows it. Sent
   * again, followed by the steps so far, to an editor that opens (or reloads) during or after the run;
   * the same `run` id is the same run.
   */
  readonly trainingStarted: TrainingStarted;
  /** Steps done since the last message (a few per message: the host batches them), and the run's time so far. */
  readonly trainingProgress: { readonly run: string; readonly points: readonly TrainingPoint[]; readonly seconds: number };
  /** The run ended (or what became of its weights changed: saved or discarded after a cancel). */
  readonly trainingFinished: TrainingFinished;
};

export interface TrainingStarted {
  readonly run: string;
  /** Labels: the data file and the file to be written (relative to the workspace). */
  readonly data: string;
  readonly output: string;
  /** "Prune to 2:4, then fine-tune", "Dense", "Keep zeros fixed", "SRigL 90 % (ERK)": what the user picked. */
  readonly method: string;
  readonly steps: number;
  readonly epochs: number;
  readonly batch: number;
  readonly trainSamples: number;
  /** Whether the data has a labelled test set (then each epoch ends with its accuracy). */
  readonly tested: boolean;
  /** SRigL runs ("Fine-tune with SRigL…"): the layers whose masks move, the schedule, the masks before any update. */
  readonly srigl?: TrainingSrigl;
}

export interface TrainingSrigl {
  /** The global sparsity and distribution picked ("ERK"). */
  readonly sparsity: number;
  readonly distribution: string;
  /** When the masks are updated and how much each update drops (f(t) = α/2 · (1 + cos(π t / T_end))). */
  readonly schedule: SriglSchedule;
  /** Mask updates the run makes. */
  readonly updates: number;
  /** The masked layers, in graph order. */
  readonly layers: readonly TrainingSriglLayer[];
  /** Weight layers the plan leaves dense (labels). */
  readonly dense: readonly string[];
  /** Each layer's mask before the first update, by name (see PackedMask). */
  readonly initialMasks: Readonly<Record<string, PackedMask | null>>;
}

export interface TrainingSriglLayer {
  /** The initializer's name: the key of masks and figures. */
  readonly name: string;
  /** The name a user knows (an ONNX exporter's made-up names replaced). */
  readonly label: string;
  /** The [neurons, fan-in] view: output neurons, and weights per neuron when dense. */
  readonly rows: number;
  readonly cols: number;
  /** The plan's sparsity and constant fan-in k of the layer. */
  readonly sparsity: number;
  readonly k: number;
  /** Whether its neurons may be ablated (not the last layer's). */
  readonly ablatable: boolean;
}

/**
 * A mask in its [neurons, fan-in] view, 8 positions a byte, each row starting on a byte: position
 * (r, c) is bit 7 − (c mod 8) of byte r · ⌈cols / 8⌉ + ⌊c / 8⌋ (numpy's packbits per row); 1 =
 * active. null: the layer is too large to be sent live (MAX_LIVE_MASK_WEIGHTS).
 */
export type PackedMask = Uint8Array;

/** Layers with more weights than this have no live mask (the figures still come). */
export const MAX_LIVE_MASK_WEIGHTS = 1 << 25;

/** One SRigL mask update (on the step it followed). */
export interface TrainingMaskUpdate {
  /** 1-based, of `of` in the run. */
  readonly index: number;
  readonly of: number;
  /** The share of each layer's active weights it dropped (before regrowing). */
  readonly dropFraction: number;
  readonly layers: readonly TrainingMaskLayer[];
  /**
   * Every layer's mask after the update, by name. The host sends them with the latest update of
   * a message only (an earlier one in the same message is superseded), so a fast run stays cheap.
   */
  readonly masks?: Readonly<Record<string, PackedMask | null>>;
}

export interface TrainingMaskLayer {
  readonly name: string;
  /** The constant fan-in of every active neuron after the update. */
  readonly k: number;
  /** Neurons ablated (their rows are empty). */
  readonly ablated: number;
  /** Weights that became active (as many stopped being, beside those of ablated rows). */
  readonly grown: number;
  readonly dropped: number;
  /** Active weights after the update. */
  readonly active: number;
}

/** One optimizer step (the engine's TrainProgress, accuracy as a share). */
export interface TrainingPoint {
  readonly step: number;
  readonly epoch: number;
  /** Loss of the step's batch, before its update. */
  readonly loss: number;
  readonly lr: number;
  /** Set on the step that ends an epoch. */
  readonly epochEnd?: { readonly epoch: number; readonly trainLoss: number; readonly testAccuracy: number | null };
  /** On the first step: the test accuracy (a share) right before training, after pruning for the 2:4 recipe. */
  readonly initialTestAccuracy?: number;
  /** On a step after which SRigL updated the masks. */
  readonly maskUpdate?: TrainingMaskUpdate;
}

export interface TrainingFinished {
  readonly run: string;
  /** done: all steps; cancelled: stopped at a step boundary; failed: an error (in `message`). */
  readonly status: 'done' | 'cancelled' | 'failed';
  readonly step: number;
  readonly testAccuracy: number | null;
  /** The file written (relative to the workspace); null while a cancelled run's weights are neither saved nor discarded, or when nothing was written. */
  readonly output: string | null;
  /** One sentence for the status line. */
  readonly message: string;
}

/** What the webview tells the extension. */
export type FromWebview = {
  readonly ready: null;
  /** The user selected a layer in the webview (the tree follows). */
  readonly selected: { readonly layer: string };
  /** The user chose a target; `nm` ("2:4") for an N:M pattern. */
  readonly setTarget: { readonly kind: TargetKind; readonly nm?: string };
  /** After a failure: analyse the file again, or show the log with the details. */
  readonly reopen: null;
  readonly showLog: null;
  /** The user closed the comparison. */
  readonly closeComparison: null;
  /** The user closed the Fine-tuning section: a finished run is not shown again. */
  readonly closeTraining: null;
};

/** Most weights a `weightWindow` reply carries; larger windows get heatmap cells. */
export const MAX_VALUES_WINDOW = 128 * 512;
