import { fork, type ChildProcess } from 'node:child_process';
import type { KernelOp, WorkerMessage, WorkerRequest } from '../../protocol';
import type { NativeAddon } from '../nativeAddon';

/** The worker stopped while running a kernel (a native crash); the next call starts a new one. */
export class KernelCrashError extends Error {
  constructor(op: string, code: number | null, signal: NodeJS.Signals | null) {
    super(`the native kernel "${op}" crashed (worker ${signal ? `killed by ${signal}` : `exited with code ${code}`}); the worker was restarted`);
    this.name = 'KernelCrashError';
  }
}

/** The addon could not be loaded in the worker (no build for this platform, or a broken one). */
export class NativeUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`native kernels unavailable: ${reason}`);
    this.name = 'NativeUnavailableError';
  }
}

type Ready = { readonly native: true } | { readonly native: false; readonly reason: string };

/**
 * Runs addon calls in a child process, one at a time. Cancelling a running call kills the
 * worker (native loops cannot be interrupted from outside); a later call starts a fresh one.
 */
export class KernelWorkerClient {
  private child: ChildProcess | undefined;
  private ready: Promise<Ready> | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 0;
  /** How many worker processes were started; tests read it to see restarts. */
  starts = 0;

  constructor(
    private readonly workerScript: string,
    private readonly addonPath: string,
  ) {}

  call<Op extends KernelOp>(op: Op, args: Parameters<NativeAddon[Op]>, signal?: AbortSignal): Promise<ReturnType<NativeAddon[Op]>> {
    const run = () => this.run(op, args, signal);
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Resolves to whether the addon loads, starting the worker if needed. */
  async available(): Promise<Ready> {
    return this.start().ready;
  }

  dispose(): void {
    this.stop();
  }

  private start(): { child: ChildProcess; ready: Promise<Ready> } {
    if (this.child && this.ready && this.child.exitCode === null && this.child.signalCode === null) {
      return { child: this.child, ready: this.ready };
    }
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
    const ready = new Promise<Ready>((resolve) => {
      const onMessage = (m: WorkerMessage) => {
        if (m.kind !== 'ready') return;
        child.off('exit', onExit);
        child.off('message', onMessage);
        resolve(m.native ? { native: true } : { native: false, reason: m.reason });
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null) =>
        resolve({ native: false, reason: `the kernel worker exited at start (${sig ?? code}) ${stderr.trim()}`.trim() });
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.once('error', (e) => resolve({ native: false, reason: `the kernel worker could not start: ${e.message}` }));
    });
    this.child = child;
    this.ready = ready;
    return { child, ready };
  }

  private stop(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
    this.ready = undefined;
  }

  private async run<Op extends KernelOp>(op: Op, args: Parameters<NativeAddon[Op]>, signal?: AbortSignal): Promise<ReturnType<NativeAddon[Op]>> {
    signal?.throwIfAborted();
    const { child, ready } = this.start();
    const status = await ready;
    if (!status.native) throw new NativeUnavailableError(status.reason);
    signal?.throwIfAborted();
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        child.off('message', onMessage);
        child.off('exit', onExit);
        signal?.removeEventListener('abort', onAbort);
      };
      const onMessage = (m: WorkerMessage) => {
        if (m.kind === 'ready' || m.id !== id) return;
        cleanup();
        if (m.kind === 'result') resolve(m.result as ReturnType<NativeAddon[Op]>);
        else reject(new Error(m.message));
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
        cleanup();
        if (this.child === child) this.stop();
        reject(new KernelCrashError(op, code, sig));
      };
      const onAbort = () => {
        cleanup();
        this.stop();
        reject(signal?.reason ?? new DOMException('The operation was aborted', 'AbortError'));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      signal?.addEventListener('abort', onAbort, { once: true });
      child.send({ id, op, args } as WorkerRequest);
    });
  }
}
