import type { NativeTrainingAddon } from '../native/bindings/training';
import type { Job } from './job';
import type { JobKind, JobTypes } from './jobTypes';
import { openSyntheticJob } from './syntheticJob';
import { openTrainJob } from './trainJob';

/** What a job may use where it runs: the native addon, or why it is unavailable. */
export interface JobContext {
  readonly addon: NativeTrainingAddon | string;
}

/** How each kind of job is opened where it runs (the job worker, or in process for the reference). */
const JOB_OPENERS: { readonly [K in JobKind]: (spec: JobTypes[K]['spec'], context: JobContext) => Job<JobTypes[K]> } = {
  synthetic: openSyntheticJob,
  train: (spec, context) => openTrainJob(spec, context.addon),
};

export function openJobOfKind<K extends JobKind>(kind: K, spec: JobTypes[K]['spec'], context: JobContext): Job<JobTypes[K]> {
  const open = JOB_OPENERS[kind] as ((spec: JobTypes[K]['spec'], context: JobContext) => Job<JobTypes[K]>) | undefined;
  if (!open) throw new RangeError(`unknown job kind "${String(kind)}"`);
  return open(spec, context);
}
