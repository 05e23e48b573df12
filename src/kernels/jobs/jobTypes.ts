import type { LearningRateSchedule } from '../../core/train/learningRate';
import type { SriglLayer, SriglLayerFigures } from '../../core/train/sriglRun';
import type { SriglSchedule } from '../../core/train/sriglSchedule';
import type { OptimizerSettings, TrainingProgram } from '../trainingKernels';

/** Every kind of job, with what it takes, reports after each step, and holds. */
export interface JobTypes {
  readonly synthetic: SyntheticJobType;
  readonly train: TrainJobType;
}

export type JobKind = keyof JobTypes;

/** A job that only counts (see syntheticJob.ts): the test of the job machinery. */
export interface SyntheticJobType {
  readonly spec: { readonly steps: number; readonly stepMs: number; readonly crashAtStep?: number };
  readonly progress: { readonly step: number; readonly of: number };
  readonly state: { readonly stepsDone: number; readonly checksum: number };
}

/** Samples [count, ...sampleShape] as float32, with integer class labels when there are any. */
export interface Samples {
  readonly x: Float32Array;
  readonly count: number;
  readonly sampleShape: readonly number[];
  readonly y?: Int32Array;
}

/** A training run (trainJob.ts): one optimizer update per step. */
export interface TrainSpec {
  readonly program: TrainingProgram;
  /** Distillation: the teacher's program (the input model) and the softmax temperature; then labels are not used. */
  readonly teacher?: { readonly program: TrainingProgram; readonly temperature: number };
  readonly optimizer: OptimizerSettings;
  readonly schedule: LearningRateSchedule;
  readonly train: Samples;
  readonly test?: Samples;
  readonly batch: number;
  /** Updates in all. */
  readonly steps: number;
  /** Steps already taken (a run resumed from its checkpoint): the run goes on from there, same batches, same schedule. */
  readonly startStep?: number;
  readonly seed: number;
  readonly threads: number;
  /** SRigL's mask updates of the masked layers (absent: the masks stay fixed). */
  readonly srigl?: SriglJobSpec;
}

/** SRigL in a training job (spec §3.1): when to update, which layers, how the dense gradient is averaged. */
export interface SriglJobSpec {
  readonly schedule: SriglSchedule;
  readonly layers: readonly SriglLayer[];
  /** n_acc: the dense gradient of an update is the mean over this many batches before it. */
  readonly gradAccumulation: number;
  /** Newly active weights start with zero AdamW moments (Google RigL); else they continue (the SRigL reference). */
  readonly resetOptimizerState: boolean;
  /** Each update's progress carries every layer's new mask (for a live view; megabytes per update on big layers). */
  readonly liveMasks: boolean;
}

/** One mask update of a SRigL run. */
export interface MaskUpdateFigures {
  /** The step count after which it ran. */
  readonly step: number;
  /** 1-based, of `of` updates in the run. */
  readonly index: number;
  readonly of: number;
  readonly dropFraction: number;
  readonly layers: readonly SriglLayerFigures[];
}

export interface TestAccuracy {
  readonly correct: number;
  readonly total: number;
}

export interface EpochFigures {
  readonly epoch: number;
  /** Updates done when the epoch ended. */
  readonly step: number;
  /** The mean loss of the epoch's batches, weighted by their sizes. */
  readonly trainLoss: number;
  readonly testAccuracy?: TestAccuracy;
}

export interface TrainProgress {
  /** Updates done. */
  readonly step: number;
  readonly of: number;
  readonly epoch: number;
  readonly epochs: number;
  /** The loss of this step's batch, before its update. */
  readonly loss: number;
  readonly lr: number;
  /** Set on the step that ends an epoch. */
  readonly epochEnd?: EpochFigures;
  /** Set on the first step: the test accuracy of the model as it came in (as TrainState's), for live charts. */
  readonly initialTestAccuracy?: TestAccuracy;
  /** Set on a step that updated the masks (SRigL): the figures, and every layer's new mask for live views. */
  readonly maskUpdate?: MaskUpdateFigures & { readonly masks?: Readonly<Record<string, Uint8Array>> };
}

export interface TrainState {
  readonly step: number;
  readonly history: readonly EpochFigures[];
  /** Test accuracy of the model as it came in. */
  readonly initialTestAccuracy?: TestAccuracy;
  /** Every trained tensor by initializer name, dense. */
  readonly parameters: Readonly<Record<string, Float32Array>>;
  /** How each trained tensor ran in the engine ("dense", "masked d=0.50", "sparse d=0.10"). */
  readonly engine: Readonly<Record<string, string>>;
  /** The masks now, by initializer name (they move in a SRigL run). */
  readonly masks: Readonly<Record<string, Uint8Array>>;
  /** Every SRigL mask update so far. */
  readonly maskUpdates: readonly MaskUpdateFigures[];
}

export interface TrainJobType {
  readonly spec: TrainSpec;
  readonly progress: TrainProgress;
  readonly state: TrainState;
}
