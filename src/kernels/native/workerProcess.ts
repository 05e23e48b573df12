import { fork, type ChildProcess } from 'node:child_process';
import { readProcFile } from '../../core/procFile';
import { MessageHandler, type ProgressOf, type RequestOptions } from '../../rpc/messageHandler';
import type { WorkerMethods, WorkerNotifications } from './workerProtocol';

/** The worker stopped while answering (a native crash); the next call starts a new one. */
export class KernelCrashError extends Error {
  constructor(op: string, code: number | null, signal: NodeJS.Signals | null) {
    super(
      `the native kernel "${op}" crashed (worker ${signal ? `killed by ${signal}` : `exited with code ${code}`}); the worker was restarted`,
    );
    this.name = 'KernelCrashError';
  }
}

/** The worker was stopped for using more memory than its limit. */
export class WorkerMemoryError extends Error {
  override readonly name = 'WorkerMemoryError';
  constructor(role: string, used: number, limit: number) {
    const mib = (n: number) => `${Math.round(n / 2 ** 20)} MiB`;
    super(`the ${role} worker used ${mib(used)}, over its memory limit of ${mib(limit)}, and was stopped`);
  }
}

/** How often a worker with a memory limit is measured. */
const MEMORY_POLL_MS = 100;

/** A process's resident set in bytes (Linux's /proc/PID/statm), or undefined where it cannot be read. */
async function residentBytes(pid: number): Promise<number | undefined> {
  const pages = Number((await readProcFile(`/proc/${pid}/statm`))?.split(' ')[1]);
  return Number.isFinite(pages) ? pages * 4096 : undefined;
}

/** The addon could not be loaded in the worker (no build for this platform, or a broken one). */
export class NativeUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`native kernels unavailable: ${reason}`);
    this.name = 'NativeUnavailableError';
  }
}

/** A job did not stop within the grace period after its cancel; its worker was killed. */
export class JobKilledError extends Error {
  constructor(graceMs: number) {
    super(`the job did not stop within ${graceMs} ms of the cancel; its worker was killed and its last state is lost`);
    this.name = 'JobKilledError';
  }
}

type Ready = WorkerNotifications['ready'];

interface Running {
  readonly child: ChildProcess;
  readonly channel: MessageHandler<Record<never, never>, WorkerMethods, WorkerNotifications>;
  readonly ready: Promise<Ready>;
  /** Set when this side kills the worker, to tell callers why it exited. */
  killedBecause?: Error;
}

/**
 * One kernel worker process (dist/kernelWorker.js) and the channel to it. It starts on first
 * use and again after a crash. Addon calls run one at a time; cancelling one kills the worker,
 * since a native loop cannot be interrupted from outside. Job runs are cancelled cooperatively.
 */
export class WorkerProcess {
  private running: Running | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** How many worker processes were started; tests read it to see restarts. */
  starts = 0;
  /** Why the last worker process ended (its kill reason, or the crash). */
  lastExit: Error | undefined;

  constructor(
    private readonly workerScript: string,
    private readonly addonPath: string,
    private readonly limits: { readonly memoryLimitBytes?: number; readonly role?: string } = {},
  ) {}

  /** The running worker's process id (tests measure its memory); undefined when none runs. */
  get pid(): number | undefined {
    return this.running?.child.pid;
  }

  /** Resolves to whether the addon loads, starting the worker if needed. */
  async available(): Promise<Ready> {
    return this.start().ready;
  }

  /** Calls addon function `op`, after the calls before it; an abort kills the worker. */
  call<Op extends keyof WorkerMethods & string>(
    op: Op,
    params: WorkerMethods[Op]['params'],
    signal?: AbortSignal,
  ): Promise<WorkerMethods[Op]['result']> {
    const run = async () => {
      signal?.throwIfAborted();
      const { channel } = await this.started();
      const onAbort = () => this.stop();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return await channel.request(op, params, { signal });
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * A request whose method stops by itself when cancelled (a job run): an abort sends `cancel`
   * and waits for the reply; only if none comes within `graceMs` is the worker killed.
   */
  async cooperative<M extends keyof WorkerMethods & string>(
    method: M,
    params: WorkerMethods[M]['params'],
    options: RequestOptions<ProgressOf<WorkerMethods[M]>> & { readonly graceMs: number },
  ): Promise<WorkerMethods[M]['result']> {
    const running = await this.started();
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      timer = setTimeout(() => {
        running.killedBecause = new JobKilledError(options.graceMs);
        running.child.kill('SIGKILL');
      }, options.graceMs);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await running.channel.request(method, params, { ...options, onAbort: 'await' });
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Kills the worker; the calls waiting on it reject with `reason`. */
  kill(reason: Error): void {
    if (!this.running) return;
    this.running.killedBecause = reason;
    this.stop();
  }

  dispose(): void {
    this.stop();
  }

  private async started(): Promise<Running> {
    const running = this.start();
    const status = await running.ready;
    if (!status.native) throw new NativeUnavailableError(status.reason);
    return running;
  }

  private start(): Running {
    if (this.running) return this.running;
    this.starts++;
    const child = fork(this.workerScript, [this.addonPath], {
      serialization: 'advanced', // typed arrays cross as typed arrays
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // Inside VS Code's Electron the executable must run as plain Node.
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      execArgv: [],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    let onReady: (ready: Ready) => void = () => undefined;
    const ready = new Promise<Ready>((resolve) => (onReady = resolve));
    const channel = new MessageHandler<Record<never, never>, WorkerMethods, WorkerNotifications>(
      (message) => {
        if (child.connected) child.send(message);
      },
      {},
      { ready: onReady },
    );
    const running: Running = { child, channel, ready };
    child.on('message', (message) => channel.receive(message));
    child.once('error', (e) => {
      // A worker that could not start is forgotten, so that the next call tries again.
      if (this.running === running) this.running = undefined;
      onReady({ native: false, reason: `the kernel worker could not start: ${e.message}` });
    });
    // The limit is on the work, measured from when the worker is ready.
    let watchdog: NodeJS.Timeout | undefined;
    const limit = this.limits.memoryLimitBytes;
    if (limit) void ready.then((r) => r.native && !running.killedBecause && (watchdog = this.watchMemory(running, limit)));
    child.once('exit', (code, signal) => {
      clearInterval(watchdog);
      if (this.running === running) this.running = undefined;
      onReady({ native: false, reason: `the kernel worker exited at start (${signal ?? code}) ${stderr.trim()}`.trim() });
      channel.rejectAll((method) => running.killedBecause ?? new KernelCrashError(method, code, signal));
      this.lastExit = running.killedBecause ?? new KernelCrashError('job', code, signal);
    });
    this.running = running;
    return running;
  }

  /** Polls the worker's resident memory; past `limit`, kills it so that its callers get a WorkerMemoryError. */
  private watchMemory(running: Running, limit: number): NodeJS.Timeout {
    const timer = setInterval(() => {
      const pid = running.child.pid;
      if (pid === undefined) return;
      void residentBytes(pid).then((bytes) => {
        if (bytes === undefined || bytes <= limit || running.killedBecause) return;
        running.killedBecause = new WorkerMemoryError(this.limits.role ?? 'kernel', bytes, limit);
        running.child.kill('SIGKILL');
      });
    }, MEMORY_POLL_MS);
    timer.unref();
    return timer;
  }

  private stop(): void {
    if (!this.running) return;
    this.running.killedBecause ??= new Error('the kernel worker was stopped');
    this.running.child.kill('SIGKILL');
    this.running = undefined;
  }
}
