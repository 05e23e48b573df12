import { availableParallelism } from 'node:os';
import { CheckpointError } from '../../core/errors';
import { RoleOverrideError } from '../../core/roles/roleOverrides';
import { WriteError } from '../../core/outputFiles';
import { PruneError } from '../../core/prune/pruneSelection';
import { RemoteError } from '../../rpc/messageHandler';
import type { CheckpointKernels } from '../checkpointKernels';
import type { JobKernels, JobSession, JobType } from '../jobKernels';
import type { Kernels } from '../kernels';
import { nativeCondensedKernels } from './bindings/condensed';
import { nativeMaskKernels } from './bindings/masks';
import { nativeScanKernels } from './bindings/scan';
import type { CallableAddon } from './nativeAddon';
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

/** How long opening a checkpoint (reading its headers) may take before the worker is killed. */
export const OPEN_DEADLINE_MS = 60_000;

/**
 * How long a cancelled analysis or tile may take to stop before the worker is killed (the scan of
 * one large tensor cannot stop on its own): half a second leaves time for the kill and the
 * worker's exit (up to ~200 ms on a loaded machine), so that a cancel ends within 1 s.
 */
const CHECKPOINT_CANCEL_GRACE_MS = 500;

/** Errors the worker threw for bad input or bad overrides, as the types callers check for. */
function revived(e: unknown): unknown {
  if (!(e instanceof RemoteError)) return e;
  const f = e.fields;
  if (e.name === 'CheckpointError')
    return new CheckpointError(
      String(f.file),
      f.problem as CheckpointError['problem'],
      String(f.detail),
      f.offset as number | undefined,
      typeof f.fileSize === 'number' && typeof f.neededBytes === 'number'
        ? { fileSize: f.fileSize, needed: f.neededBytes, what: String(f.neededBy ?? 'data') }
        : undefined,
    );
  if (e.name === 'RoleOverrideError') return new RoleOverrideError(undefined, undefined, e.message);
  if (e.name === 'PruneError') return new PruneError(e.message);
  if (e.name === 'WriteError') return new WriteError(String(f.file), String(f.code), String(f.detail));
  return e;
}

/**
 * Checkpoints opened and analysed in the worker, so a reader never runs in the caller's process:
 * a reader stuck past the opening deadline, or not stopping within a grace period of a cancel,
 * costs a killed worker, never a frozen caller.
 */
function workerCheckpoints(worker: WorkerProcess, openDeadlineMs: number): CheckpointKernels {
  const options = (signal?: AbortSignal) => ({ graceMs: CHECKPOINT_CANCEL_GRACE_MS, signal });
  const rethrow = (e: unknown) => {
    throw revived(e);
  };
  return {
    async analyseFile(request, { signal, onProgress } = {}) {
      const deadline = setTimeout(() => {
        const seconds = Math.round(openDeadlineMs / 1000);
        worker.kill(
          new CheckpointError(request.file, 'timeout', `reading the file's structure took longer than ${seconds} s; it was stopped`),
        );
      }, openDeadlineMs);
      try {
        return await worker.cooperative('analyseFile', request, {
          ...options(signal),
          onProgress: (progress) => {
            if (progress.phase === 'opened') clearTimeout(deadline);
            onProgress?.(progress);
          },
        });
      } catch (e) {
        return rethrow(e);
      } finally {
        clearTimeout(deadline);
      }
    },
    tensorHeatmap: (request, signal) => worker.cooperative('tensorHeatmap', request, options(signal)).catch(rethrow),
    tensorWeightWindow: (request, signal) => worker.cooperative('tensorWeightWindow', request, options(signal)).catch(rethrow),
    salientCounts: (request, signal) => worker.cooperative('salientCounts', request, options(signal)).catch(rethrow),
    diffFiles: (request, { signal } = {}) => worker.cooperative('diffFiles', request, options(signal)).catch(rethrow),
    changeTiles: (request, signal) => worker.cooperative('changeTiles', request, options(signal)).catch(rethrow),
    findViolation: (request, signal) => worker.cooperative('findViolation', request, options(signal)).catch(rethrow),
    // A longer grace: the writer stops at its next chunk and removes what it staged.
    pruneFile: (request, { signal, onProgress } = {}) =>
      worker.cooperative('pruneFile', request, { graceMs: JOB_CANCEL_GRACE_MS, signal, onProgress }).catch(rethrow),
    condenseFile: (request, { signal, onProgress } = {}) =>
      worker.cooperative('condenseFile', request, { graceMs: JOB_CANCEL_GRACE_MS, signal, onProgress }).catch(rethrow),
    async closeCheckpoint(key) {
      await worker.cooperative('closeCheckpoint', key, options());
    },
  };
}

/** Jobs in a worker process of their own: a session is a handle there. */
function workerJobs(worker: WorkerProcess, graceMs: number): JobKernels {
  return {
    async openJob(kind, spec) {
      const { handle } = await worker.cooperative('openJob', { kind, spec }, { graceMs });
      // A job lives in one worker process: once that one is gone (a crash, a kill between runs), so is the job.
      const generation = worker.starts;
      const alive = () => worker.starts === generation && worker.pid !== undefined;
      const inItsWorker = <T>(call: () => Promise<T>): Promise<T> =>
        alive() ? call() : Promise.reject(worker.lastExit ?? new Error('the job worker stopped'));
      const session: JobSession<JobType> = {
        run: (options = {}) =>
          inItsWorker(() =>
            worker.cooperative(
              'runJob',
              { handle, ...(options.maxSteps !== undefined ? { maxSteps: options.maxSteps } : {}) },
              { graceMs, signal: options.signal, onProgress: options.onProgress },
            ),
          ),
        read: () => inItsWorker(() => worker.cooperative('readJob', { handle }, { graceMs })),
        close: async () => {
          if (alive()) await worker.cooperative('closeJob', { handle }, { graceMs });
        },
      };
      return session as never;
    },
  };
}

/** The C++ kernels, run in worker processes; every call crosses the process boundary once. */
export function createNativeKernels(
  workerScript: string,
  addonPath: string,
  graceMs = JOB_CANCEL_GRACE_MS,
  openDeadlineMs = OPEN_DEADLINE_MS,
  /** The job worker is stopped when its resident memory passes this (a training run that would take the machine down). */
  jobMemoryLimitBytes?: number,
): NativeKernels {
  const worker = new WorkerProcess(workerScript, addonPath);
  const jobWorker = new WorkerProcess(workerScript, addonPath, { memoryLimitBytes: jobMemoryLimitBytes, role: 'training' });
  const threads = Math.max(1, availableParallelism());
  const call = <Op extends keyof CallableAddon & string>(op: Op, args: Parameters<CallableAddon[Op]>, signal?: AbortSignal) =>
    worker.call(op, args, signal) as Promise<ReturnType<CallableAddon[Op]>>;
  return {
    name: 'native',
    worker,
    jobWorker,
    ...nativeScanKernels(call, threads),
    ...nativeMaskKernels(call, threads, true),
    ...nativeCondensedKernels(call, threads),
    ...workerJobs(jobWorker, graceMs),
    ...workerCheckpoints(worker, openDeadlineMs),
    crashForTest: () => call('crashForTest', []),
    async dispose() {
      worker.dispose();
      jobWorker.dispose();
    },
  };
}
