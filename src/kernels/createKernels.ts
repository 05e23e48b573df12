import * as path from 'node:path';
import type { Kernels } from './kernels';
import { createNativeKernels, type NativeKernels } from './native/nativeKernels';
import { createReferenceKernels } from './reference/referenceKernels';

export type KernelBackend = 'auto' | 'native' | 'reference';

export interface KernelOptions {
  readonly backend: KernelBackend;
  /** The folder holding dist/ and native/ (the extension's or the package's root). */
  readonly root: string;
  /** Told once when `auto` falls back to the TypeScript kernels. */
  readonly onWarning?: (message: string) => void;
  /** The most resident memory the job worker (training) may use before it is stopped. */
  readonly jobMemoryLimitBytes?: number;
}

export function nativePaths(root: string): { workerScript: string; addon: string } {
  return {
    workerScript: path.join(root, 'dist', 'kernelWorker.js'),
    addon: path.join(root, 'native', 'build', 'Release', 'sparsity_lens_native.node'),
  };
}

/**
 * Native kernels when they load, else the TypeScript reference after one warning. Native
 * crashes are not a reason to fall back: they surface as errors, and the worker restarts.
 * Every operation is forwarded to the chosen backend, so a new one needs no line here.
 */
function autoKernels(native: NativeKernels, onWarning: (message: string) => void): Kernels {
  let chosen: Kernels | undefined;
  const pick = async (): Promise<Kernels> => {
    if (!chosen) {
      const status = await native.worker.available();
      if (status.native) chosen = native;
      else {
        onWarning(`Sparsity Lens: native kernels unavailable (${status.reason}); using the slower TypeScript kernels.`);
        await native.dispose();
        chosen = createReferenceKernels();
      }
    }
    return chosen;
  };
  return new Proxy({} as Kernels, {
    get(_, key: keyof Kernels) {
      if (key === 'name') return chosen?.name ?? 'auto';
      if (key === 'dispose') return () => (chosen ?? native).dispose();
      return async (...args: unknown[]) => {
        const kernels = await pick();
        return (kernels[key] as (...a: unknown[]) => Promise<unknown>)(...args);
      };
    },
  });
}

export function createKernels(options: KernelOptions): Kernels {
  if (options.backend === 'reference') return createReferenceKernels();
  const paths = nativePaths(options.root);
  const native = createNativeKernels(paths.workerScript, paths.addon, undefined, undefined, options.jobMemoryLimitBytes);
  if (options.backend === 'native') return native;
  return autoKernels(native, options.onWarning ?? ((m) => process.stderr.write(m + '\n')));
}
