import type { JobKind, JobTypes } from './jobs/jobTypes';

/**
 * Long jobs (training runs) as sessions of many short steps. They run apart from scans and
 * heatmaps, which never queue behind them; a cancel takes effect at the next step boundary and
 * leaves the job's last consistent state readable.
 */
export interface JobKernels {
  openJob<K extends JobKind>(kind: K, spec: JobTypes[K]['spec']): Promise<JobSession<JobTypes[K]>>;
}

/** What a kind of job takes, reports after each step, and holds. */
export interface JobType {
  readonly spec: unknown;
  readonly progress: unknown;
  readonly state: unknown;
}

export interface RunOptions<Progress> {
  /** Stops the job at its next step boundary; the run then resolves with status `cancelled`. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: Progress) => void;
  /** Stop after this many steps (status `paused`); the job can be run again. */
  readonly maxSteps?: number;
}

export interface JobOutcome<State> {
  readonly status: 'done' | 'cancelled' | 'paused';
  /** Steps run by this call. */
  readonly steps: number;
  /** The state after the last step that completed. */
  readonly state: State;
}

export interface JobSession<T extends JobType> {
  run(options?: RunOptions<T['progress']>): Promise<JobOutcome<T['state']>>;
  /** The state after the last completed step. */
  read(): Promise<T['state']>;
  close(): Promise<void>;
}
