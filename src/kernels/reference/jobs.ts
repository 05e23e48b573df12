import type { JobKernels, JobSession, JobType } from '../jobKernels';
import { runSteps } from '../jobs/job';
import { openJobOfKind } from '../jobs/jobs';

/** Jobs run in this process, between awaits: the fallback, and the oracle of the worker's runs. */
export const referenceJobKernels: JobKernels = {
  async openJob(kind, spec) {
    const job = openJobOfKind(kind, spec, { addon: 'the TypeScript kernels do not train' });
    const session: JobSession<JobType> = {
      run: (options) => runSteps(job, options),
      read: async () => job.state(),
      close: async () => job.close(),
    };
    return session as never;
  },
};
