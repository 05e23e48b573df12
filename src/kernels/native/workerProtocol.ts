/**
 * The messages between the extension (or CLI) and a kernel worker process, carried by the
 * request/reply handler of src/rpc. One worker process opens checkpoints and runs addon calls
 * (scans, heatmaps, masks); another of the same script runs long jobs, so neither waits for the other.
 */
import type { ChangeTiles, CheckpointDiff } from '../../core/analysis/diff';
import type {
  ChangeTilesRequest,
  FindViolationRequest,
  DiffRequest,
  AnalyseProgress,
  AnalyseRequest,
  CheckpointKey,
  FileAnalysis,
  SalientCountsRequest,
  TensorHeatmapRequest,
  TensorWindowRequest,
} from '../checkpointKernels';
import type { PruneProgress, PruneRequest, PruneResult } from '../../core/prune/pruneCheckpoint';
import type { CondenseProgress, CondenseRequest, CondenseResult } from '../../core/prune/condense';
import type { JobOutcome } from '../jobKernels';
import type { HeatmapTiles } from '../scanKernels';
import type { JobKind } from '../jobs/jobTypes';
import type { CallableAddon } from './nativeAddon';

/** Each addon function is a method whose parameters are its arguments. */
export type AddonMethods = {
  readonly [Op in keyof CallableAddon]: { readonly params: Parameters<CallableAddon[Op]>; readonly result: ReturnType<CallableAddon[Op]> };
};

/** A job session: open → handle; run (progress each step, cancel at a step boundary); read; close. */
export type JobMethods = {
  readonly openJob: { readonly params: { readonly kind: JobKind; readonly spec: unknown }; readonly result: { readonly handle: number } };
  readonly runJob: {
    readonly params: { readonly handle: number; readonly maxSteps?: number };
    readonly result: JobOutcome<unknown>;
    readonly progress: unknown;
  };
  readonly readJob: { readonly params: { readonly handle: number }; readonly result: unknown };
  readonly closeJob: { readonly params: { readonly handle: number }; readonly result: null };
};

/** Checkpoints opened and analysed in the worker: the caller gets reports and tiles, never tensor bytes. */
export type CheckpointMethods = {
  readonly analyseFile: { readonly params: AnalyseRequest; readonly result: FileAnalysis; readonly progress: AnalyseProgress };
  readonly tensorHeatmap: { readonly params: TensorHeatmapRequest; readonly result: HeatmapTiles };
  readonly tensorWeightWindow: { readonly params: TensorWindowRequest; readonly result: Float32Array };
  readonly salientCounts: { readonly params: SalientCountsRequest; readonly result: Uint32Array };
  readonly diffFiles: { readonly params: DiffRequest; readonly result: CheckpointDiff };
  readonly changeTiles: { readonly params: ChangeTilesRequest; readonly result: ChangeTiles };
  readonly findViolation: { readonly params: FindViolationRequest; readonly result: { row: number; col: number } | null };
  readonly pruneFile: { readonly params: PruneRequest; readonly result: PruneResult; readonly progress: PruneProgress };
  readonly condenseFile: { readonly params: CondenseRequest; readonly result: CondenseResult; readonly progress: CondenseProgress };
  readonly closeCheckpoint: { readonly params: CheckpointKey; readonly result: null };
};

export type WorkerMethods = AddonMethods & JobMethods & CheckpointMethods;

/** What the worker says unasked: once at start, whether the addon loaded. */
export type WorkerNotifications = {
  readonly ready: { readonly native: true } | { readonly native: false; readonly reason: string };
};
