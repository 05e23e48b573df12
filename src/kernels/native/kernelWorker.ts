/**
 * A kernel worker process: loads the native addon and answers its parent's requests (addon
 * calls and job sessions). It is a separate process so that a crash in native code, or a kill
 * after a cancel, never takes the extension host or the CLI down.
 */
import { MessageHandler, type MethodImplementations } from '../../rpc/messageHandler';
import type { JobType } from '../jobKernels';
import type { Job } from '../jobs/job';
import { runSteps } from '../jobs/job';
import { openJobOfKind } from '../jobs/jobs';
import type { NativeAddon } from './nativeAddon';
import type { JobMethods, WorkerMethods, WorkerNotifications } from './workerProtocol';

function loadAddon(path: string | undefined): NativeAddon | string {
  if (!path) return 'no addon path given';
  try {
    // A runtime require: the addon is a .node file outside the bundle.
    return require(path) as NativeAddon;
  } catch (e) {
    return String((e as Error).message ?? e).split('\n')[0]; // Node appends the require stack
  }
}

const addon = loadAddon(process.argv[2]);

/** Calls addon function `op`; without the addon, says why it is missing. */
function callAddon(op: string, args: unknown[]): unknown {
  if (typeof addon === 'string') throw new Error(`native kernels unavailable: ${addon}`);
  const fn = addon[op as keyof NativeAddon] as ((...a: unknown[]) => unknown) | undefined;
  if (typeof fn !== 'function') throw new Error(`the native addon has no function "${op}"`);
  return fn.apply(addon, args);
}

const jobs = new Map<number, Job<JobType>>();
let nextHandle = 0;

function jobOf(handle: number): Job<JobType> {
  const job = jobs.get(handle);
  if (!job) throw new Error(`no open job ${handle}`);
  return job;
}

const jobMethods: MethodImplementations<JobMethods> = {
  openJob({ kind, spec }) {
    const handle = ++nextHandle;
    jobs.set(handle, openJobOfKind(kind, spec as never) as Job<JobType>);
    return { handle };
  },
  runJob: ({ handle, maxSteps }, { signal, progress }) => runSteps(jobOf(handle), { signal, onProgress: progress, maxSteps }),
  readJob: ({ handle }) => jobOf(handle).state(),
  closeJob({ handle }) {
    jobs.get(handle)?.close();
    jobs.delete(handle);
    return null;
  },
};

/** The job methods, and every other method name as the addon function of that name. */
const methods = new Proxy(jobMethods as MethodImplementations<WorkerMethods>, {
  get: (target, method: string) => (method in target ? target[method as keyof JobMethods] : (args: unknown[]) => callAddon(method, args)),
});

const channel = new MessageHandler<WorkerMethods, Record<never, never>, Record<never, never>, WorkerNotifications>(
  (message) => process.send?.(message),
  methods,
);
process.on('message', (message) => channel.receive(message));
process.on('disconnect', () => process.exit(0));
channel.notify('ready', typeof addon === 'string' ? { native: false, reason: addon } : { native: true });
