/** Every kind of job, with what it takes, reports after each step, and holds. */
export interface JobTypes {
  readonly synthetic: SyntheticJobType;
}

export type JobKind = keyof JobTypes;

/** A job that only counts (see syntheticJob.ts): the test of the job machinery. */
export interface SyntheticJobType {
  readonly spec: { readonly steps: number; readonly stepMs: number; readonly crashAtStep?: number };
  readonly progress: { readonly step: number; readonly of: number };
  readonly state: { readonly stepsDone: number; readonly checksum: number };
}
