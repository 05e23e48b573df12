import type { Job } from './job';
import type { SyntheticJobType } from './jobTypes';

/**
 * A job that only counts: each step spins for `stepMs` (as a native training step would hold
 * its thread) and adds the step number to a checksum. It exists to test the job machinery:
 * progress, cancel at a step boundary, and isolation of a crash (`crashAtStep` aborts the
 * process running it, so run it in the job worker only).
 */
export function openSyntheticJob(spec: SyntheticJobType['spec']): Job<SyntheticJobType> {
  if (!(Number.isInteger(spec.steps) && spec.steps >= 0 && spec.stepMs >= 0))
    throw new RangeError('a synthetic job needs steps >= 0 and stepMs >= 0');
  let stepsDone = 0;
  let checksum = 0;
  return {
    get done() {
      return stepsDone >= spec.steps;
    },
    step() {
      if (spec.crashAtStep === stepsDone) process.abort();
      const until = performance.now() + spec.stepMs;
      while (performance.now() < until);
      stepsDone++;
      checksum += stepsDone;
      return { step: stepsDone, of: spec.steps };
    },
    state: () => ({ stepsDone, checksum }),
    close() {},
  };
}
