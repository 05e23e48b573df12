/**
 * A kernel worker process: loads the native addon and answers its parent's requests (addon
 * calls and job sessions). It is a separate process so that a crash in native code, or a kill
 * after a cancel, never takes the extension host or the CLI down.
 */
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { OpenCheckpoints } from '../../core/session/openCheckpoints';
import type { Checkpoint } from '../../core/checkpoint';
import { openCheckpoint } from '../../core/formats/registry';
import { MessageHandler, type MethodImplementations } from '../../rpc/messageHandler';
import type { JobType } from '../jobKernels';
import type { Job } from '../jobs/job';
import { runSteps } from '../jobs/job';
import { openJobOfKind } from '../jobs/jobs';
import type { NativeAddon } from './nativeAddon';
import type { ScanKernels } from '../scanKernels';
import { referenceScanKernels } from '../reference/scan';
import { nativeScanKernels } from './bindings/scan';
import { nativeMaskKernels } from './bindings/masks';
import { referenceMaskKernels } from '../reference/masks';
import type { CheckpointMethods, JobMethods, WorkerMethods, WorkerNotifications } from './workerProtocol';

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
    jobs.set(handle, openJobOfKind(kind, spec as never, { addon }) as Job<JobType>);
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

/**
 * The addon's scans called in this process: tensor bytes read from files or derived here are
 * scanned where they are, never copied to another process. Each call first lets pending messages
 * in (a cancel, a tile request), since the addon's functions block until done.
 */
async function callInProcess(op: string, args: unknown[], signal?: AbortSignal): Promise<never> {
  await new Promise((resolve) => setImmediate(resolve));
  signal?.throwIfAborted();
  return callAddon(op, args) as never;
}
const threads = Math.max(1, availableParallelism());
const scanKernels = typeof addon === 'string' ? referenceScanKernels() : nativeScanKernels(callInProcess, threads);
const maskKernels = typeof addon === 'string' ? referenceMaskKernels : nativeMaskKernels(callInProcess, threads);

/**
 * Test only: with SPARSITY_LENS_TEST_SLOW_OPEN_MS set, opening a file named *.slow-open.* first
 * blocks this process that long, as a reader stuck in a loop would.
 */
function openForTest(path: string): Promise<Checkpoint> {
  const ms = Number(process.env.SPARSITY_LENS_TEST_SLOW_OPEN_MS ?? 0);
  if (ms > 0 && basename(path).includes('.slow-open.')) for (const until = Date.now() + ms; Date.now() < until;);
  return openCheckpoint(path);
}

/**
 * Test only: with SPARSITY_LENS_TEST_SLOW_SCAN_MS set, each batch of tensors of a file named
 * *.slow-scan.* takes that much longer, so a test can watch an analysis under way.
 */
const slowScanMs = Number(process.env.SPARSITY_LENS_TEST_SLOW_SCAN_MS ?? 0);
const scanForTest: ScanKernels =
  slowScanMs > 0
    ? {
        ...scanKernels,
        async scanMany(requests, signal) {
          if (requests.some((r) => r.source.kind === 'file' && basename(r.source.path).includes('.slow-scan.')))
            await new Promise((resolve) => setTimeout(resolve, slowScanMs));
          return scanKernels.scanMany(requests, signal);
        },
      }
    : scanKernels;

const checkpoints = new OpenCheckpoints({ ...scanForTest, ...maskKernels }, openForTest);

const checkpointMethods: MethodImplementations<CheckpointMethods> = {
  analyseFile: (request, { signal, progress }) => checkpoints.analyseFile(request, { signal, onProgress: progress }),
  tensorHeatmap: (request, { signal }) => checkpoints.tensorHeatmap(request, signal),
  tensorWeightWindow: (request, { signal }) => checkpoints.tensorWeightWindow(request, signal),
  salientCounts: (request, { signal }) => checkpoints.salientCounts(request, signal),
  diffFiles: (request, { signal }) => checkpoints.diffFiles(request, { signal }),
  changeTiles: (request, { signal }) => checkpoints.changeTiles(request, signal),
  findViolation: (request, { signal }) => checkpoints.findViolation(request, signal),
  pruneFile: (request, { signal, progress }) => checkpoints.pruneFile(request, { signal, onProgress: progress }),
  condenseFile: (request, { signal, progress }) => checkpoints.condenseFile(request, { signal, onProgress: progress }),
  async closeCheckpoint(key) {
    await checkpoints.closeCheckpoint(key);
    return null;
  },
};

const ownMethods = { ...jobMethods, ...checkpointMethods };

/** The job and checkpoint methods, and every other method name as the addon function of that name. */
const methods = new Proxy(ownMethods as MethodImplementations<WorkerMethods>, {
  get: (target, method: string) =>
    method in target ? target[method as keyof typeof ownMethods] : (args: unknown[]) => callAddon(method, args),
});

const channel = new MessageHandler<WorkerMethods, Record<never, never>, Record<never, never>, WorkerNotifications>(
  (message) => process.send?.(message),
  methods,
);
process.on('message', (message) => channel.receive(message));
process.on('disconnect', () => process.exit(0));
// Ctrl-C in a terminal reaches the whole process group: the parent decides what it means (the CLI
// stops a training job at its next step), and this process ends when the parent goes.
process.on('SIGINT', () => {});
channel.notify('ready', typeof addon === 'string' ? { native: false, reason: addon } : { native: true });
