import * as path from 'node:path';
import type { Kernels } from './kernels';
import { KernelWorkerClient } from './native/kernelWorkerClient';
import { NativeKernels } from './native/nativeKernels';
import { ReferenceKernels } from './reference/referenceKernels';

export type KernelBackend = 'auto' | 'native' | 'reference';

export interface KernelOptions {
  readonly backend: KernelBackend;
  /** The folder holding dist/ and native/ (the extension's or the package's root). */
  readonly root: string;
  /** Told once when `auto` falls back to the TypeScript kernels. */
  readonly onWarning?: (message: string) => void;
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
 */
class AutoKernels implements Kernels {
  private chosen: Kernels | undefined;

  constructor(
    private readonly native: NativeKernels,
    private readonly onWarning: (message: string) => void,
  ) {}

  get name(): string {
    return this.chosen?.name ?? 'auto';
  }

  private async pick(): Promise<Kernels> {
    if (!this.chosen) {
      const status = await this.native.client.available();
      if (status.native) this.chosen = this.native;
      else {
        this.onWarning(`Sparsity Lens: native kernels unavailable (${status.reason}); using the slower TypeScript kernels.`);
        this.native.client.dispose();
        this.chosen = new ReferenceKernels();
      }
    }
    return this.chosen;
  }

  scan: Kernels['scan'] = async (...a) => (await this.pick()).scan(...a);
  nmMask: Kernels['nmMask'] = async (...a) => (await this.pick()).nmMask(...a);
  fanInMask: Kernels['fanInMask'] = async (...a) => (await this.pick()).fanInMask(...a);
  heatmap: Kernels['heatmap'] = async (...a) => (await this.pick()).heatmap(...a);
  condense: Kernels['condense'] = async (...a) => (await this.pick()).condense(...a);
  condensedForward: Kernels['condensedForward'] = async (...a) => (await this.pick()).condensedForward(...a);
  denseForward: Kernels['denseForward'] = async (...a) => (await this.pick()).denseForward(...a);

  async dispose(): Promise<void> {
    await (this.chosen ?? this.native).dispose();
  }
}

export function createKernels(options: KernelOptions): Kernels {
  if (options.backend === 'reference') return new ReferenceKernels();
  const paths = nativePaths(options.root);
  const native = new NativeKernels(new KernelWorkerClient(paths.workerScript, paths.addon));
  if (options.backend === 'native') return native;
  return new AutoKernels(native, options.onWarning ?? ((m) => process.stderr.write(m + '\n')));
}
