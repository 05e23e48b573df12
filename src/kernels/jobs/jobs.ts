import type { Job } from './job';
import type { JobKind, JobTypes } from './jobTypes';
import { openSyntheticJob } from './syntheticJob';

/** How each kind of job is opened where it runs (the job worker, or in process for the reference). */
const JOB_OPENERS: { readonly [K in JobKind]: (spec: JobTypes[K]['spec']) => Job<JobTypes[K]> } = {
  synthetic: openSyntheticJob,
};

export function openJobOfKind<K extends JobKind>(kind: K, spec: JobTypes[K]['spec']): Job<JobTypes[K]> {
  const open = JOB_OPENERS[kind] as ((spec: JobTypes[K]['spec']) => Job<JobTypes[K]>) | undefined;
  if (!open) throw new RangeError(`unknown job kind "${String(kind)}"`);
  return open(spec);
}
