import { availableParallelism } from 'node:os';
import type { JobKernels, JobSession, JobType } from '../jobKernels';
import type { Kernels } from '../kernels';
import { nativeCondensedKernels } from './bindings/condensed';
import { nativeMaskKernels } from './bindings/masks';
import { nativeScanKernels } from './bindings/scan';
import type { NativeAddon } from './nativeAddon';
import { WorkerProcess } from './workerProcess';

/** How long a cancelled job may take to reach its next step boundary before its worker is killed. */
const JOB_CANCEL_GRACE_MS = 5000;

export interface NativeKernels extends Kernels {
  /** The worker that runs addon calls (scans, heatmaps, masks). */
  readonly worker: WorkerProcess;
  /** The worker that runs long jobs, apart from the addon calls. */
  readonly jobWorker: WorkerProcess;
  /** Test only: makes the kernel worker abort. */
  crashForTest(): Promise<void>;
}

/** Jobs in a worker process of their own: a session is a handle there. */
function workerJobs(worker: WorkerProcess, graceMs: number): JobKernels {
  return {
    async openJob(kind, spec) {
      const { handle } = await worker.cooperative('openJob', { kind, spec }, { graceMs });
      const session: JobSession<JobType> = {
        run: (options = {}) =>
          worker.cooperative(
            'runJob',
            { handle, ...(options.maxSteps !== undefined ? { maxSteps: options.maxSteps } : {}) },
            {
              graceMs,
              signal: options.signal,
              onProgress: options.onProgress,
            },
          ),
        read: () => worker.cooperative('readJob', { handle }, { graceMs }),
        close: async () => {
          await worker.cooperative('closeJob', { handle }, { graceMs });
        },
      };
      return session as never;
    },
  };
}

/** The C++ kernels, run in worker processes; every call crosses the process boundary once. */
export function createNativeKernels(workerScript: string, addonPath: string, graceMs = JOB_CANCEL_GRACE_MS): NativeKernels {
  const worker = new WorkerProcess(workerScript, addonPath);
  const jobWorker = new WorkerProcess(workerScript, addonPath);
  const threads = Math.max(1, availableParallelism());
  const call = <Op extends keyof NativeAddon & string>(op: Op, args: Parameters<NativeAddon[Op]>, signal?: AbortSignal) =>
    worker.call(op, args, signal) as Promise<ReturnType<NativeAddon[Op]>>;
  return {
    name: 'native',
    worker,
    jobWorker,
    ...nativeScanKernels(call, threads),
    ...nativeMaskKernels(call, threads),
    ...nativeCondensedKernels(call, threads),
    ...workerJobs(jobWorker, graceMs),
    crashForTest: () => call('crashForTest', []),
    async dispose() {
      worker.dispose();
      jobWorker.dispose();
    },
  };
}
