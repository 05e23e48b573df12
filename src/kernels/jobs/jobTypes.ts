import type { LearningRateSchedule } from '../../core/train/learningRate';
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
  readonly seed: number;
  readonly threads: number;
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
}

export interface TrainJobType {
  readonly spec: TrainSpec;
  readonly progress: TrainProgress;
  readonly state: TrainState;
}
