import type { JobOutcome, JobType, RunOptions } from '../jobKernels';

/** A job where it runs: one short synchronous step at a time. */
export interface Job<T extends JobType> {
  readonly done: boolean;
  /** Runs one step and returns its progress; the state is consistent again when it returns. */
  step(): T['progress'];
  state(): T['state'];
  close(): void;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Runs steps until the job is done, `maxSteps` ran, or the signal aborts. It yields to the event
 * loop between steps, which is where a cancel message is seen: cancel is honoured at a step
 * boundary, never inside a step.
 */
export async function runSteps<T extends JobType>(job: Job<T>, options: RunOptions<T['progress']> = {}): Promise<JobOutcome<T['state']>> {
  let steps = 0;
  for (;;) {
    if (job.done) return { status: 'done', steps, state: job.state() };
    if (options.signal?.aborted) return { status: 'cancelled', steps, state: job.state() };
    if (options.maxSteps !== undefined && steps >= options.maxSteps) return { status: 'paused', steps, state: job.state() };
    const progress = job.step(); // not inside `onProgress?.(…)`: that skips its argument when there is no listener
    steps++;
    options.onProgress?.(progress);
    await nextTurn();
  }
}
