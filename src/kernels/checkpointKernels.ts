import type { ChangeTiles, CheckpointDiff } from '../core/analysis/diff';
import type { CheckpointAnalysis, ScanProgress } from '../core/analysis/report';
import type { ColumnOrder, ViewWindow } from '../core/neuronView';
import type { NmPattern } from '../core/nmPattern';
import type { PruneOptions, PruneRequest, PruneResult } from '../core/prune/pruneCheckpoint';
import type { CondenseOptions, CondenseRequest, CondenseResult } from '../core/prune/condense';
import type { RoleOverrides } from '../core/roles/roleOverrides';
import type { HeatmapTiles } from './scanKernels';

/** A checkpoint as the user asked to read it: the file and the role overrides applied to it. */
export interface CheckpointKey {
  readonly file: string;
  readonly roles: RoleOverrides;
}

export interface AnalyseRequest extends CheckpointKey {
  readonly nm: NmPattern;
  readonly zeroThreshold: number;
}

/** An analysis, and the override patterns that matched no tensor (for a warning). */
export interface FileAnalysis extends CheckpointAnalysis {
  readonly unusedRoles: readonly string[];
}

/** Where an analysis is: reading the file's headers, then scanning its tensors. */
export type AnalyseProgress = { readonly phase: 'opened'; readonly tensors: number } | ({ readonly phase: 'scanned' } & ScanProgress);

export interface AnalyseOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: AnalyseProgress) => void;
}

/** Two checkpoints to compare: tensors matched by name, or A name → B name by `renames`. */
export interface DiffRequest {
  readonly a: CheckpointKey;
  readonly b: CheckpointKey;
  readonly renames: readonly (readonly [string, string])[];
  /** The N:M pattern each side's compliance is given for. */
  readonly nm: NmPattern;
}

export type TensorHeatmapRequest = CheckpointKey &
  ViewWindow & {
    readonly tensor: string;
    readonly width: number;
    readonly height: number;
    readonly zeroThreshold: number;
    readonly order?: ColumnOrder;
  };
export type TensorWindowRequest = CheckpointKey & ViewWindow & { readonly tensor: string; readonly order?: ColumnOrder };
/** Where a weight of A changed in B (tensors of one shape and layout), downsampled like a heatmap. */
export type ChangeTilesRequest = ViewWindow & {
  readonly a: CheckpointKey & { readonly tensor: string };
  readonly b: CheckpointKey & { readonly tensor: string };
  readonly width: number;
  readonly height: number;
  readonly order?: ColumnOrder;
};
/** The next N:M group with more than N non-zeros after (or before) a position of a weight, as the editor orders it. */
export type FindViolationRequest = CheckpointKey & {
  readonly tensor: string;
  readonly nm: NmPattern;
  readonly row: number;
  readonly col: number;
  readonly direction: 1 | -1;
  readonly zeroThreshold: number;
};
/** The top-`n` |w| of a weight, counted per output neuron (SRigL's salient weights). */
export type SalientCountsRequest = CheckpointKey & { readonly tensor: string; readonly n: number };

/**
 * Checkpoints opened where the kernels run, so that the caller (the extension host) never parses a
 * file nor holds its tensors' bytes: it gets reports, and tiles of a tensor it names. Analyses
 * and tile requests are by file and role overrides; a checkpoint closed or lost (a restarted
 * worker) is opened again when next asked for.
 */
export interface CheckpointKernels {
  analyseFile(request: AnalyseRequest, options?: AnalyseOptions): Promise<FileAnalysis>;
  tensorHeatmap(request: TensorHeatmapRequest, signal?: AbortSignal): Promise<HeatmapTiles>;
  tensorWeightWindow(request: TensorWindowRequest, signal?: AbortSignal): Promise<Float32Array>;
  salientCounts(request: SalientCountsRequest, signal?: AbortSignal): Promise<Uint32Array>;
  diffFiles(request: DiffRequest, options?: { signal?: AbortSignal }): Promise<CheckpointDiff>;
  changeTiles(request: ChangeTilesRequest, signal?: AbortSignal): Promise<ChangeTiles>;
  findViolation(request: FindViolationRequest, signal?: AbortSignal): Promise<{ row: number; col: number } | null>;
  /**
   * Prunes a checkpoint's layers and writes it, in its own format, to `request.output`: staged,
   * re-opened and verified before it appears (see pruneCheckpoint).
   */
  pruneFile(request: PruneRequest, options?: PruneOptions): Promise<PruneResult>;
  /**
   * Writes a checkpoint as safetensors with its constant fan-in weights condensed (SRigL's layout)
   * to `request.output`: staged, re-opened and verified before it appears (see condenseCheckpoint).
   */
  condenseFile(request: CondenseRequest, options?: CondenseOptions): Promise<CondenseResult>;
  /** Lets go of a checkpoint no view shows any more. */
  closeCheckpoint(key: CheckpointKey): Promise<void>;
}
