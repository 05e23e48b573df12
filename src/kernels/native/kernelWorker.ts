/**
 * The kernel worker process: loads the native addon and runs one call at a time for its parent.
 * It is a separate process so that a crash in native code, or a cancel (the parent kills it),
 * never takes the extension host or the CLI down.
 */
import type { WorkerMessage, WorkerRequest } from '../../protocol';
import type { NativeAddon } from '../nativeAddon';

const send = (message: WorkerMessage) => process.send?.(message);

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
if (typeof addon === 'string') send({ kind: 'ready', native: false, reason: addon });
else send({ kind: 'ready', native: true });

process.on('message', (request: WorkerRequest) => {
  if (typeof addon === 'string') {
    send({ kind: 'error', id: request.id, message: `native kernels unavailable: ${addon}` });
    return;
  }
  try {
    const fn = addon[request.op] as (...args: unknown[]) => ReturnType<NativeAddon[typeof request.op]>;
    send({ kind: 'result', id: request.id, result: fn.apply(addon, request.args) });
  } catch (e) {
    send({ kind: 'error', id: request.id, message: (e as Error).message ?? String(e) });
  }
});
process.on('disconnect', () => process.exit(0));
