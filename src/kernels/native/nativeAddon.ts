import type { NativeCondensedAddon } from './bindings/condensed';
import type { NativeMaskAddon } from './bindings/masks';
import type { NativeScanAddon } from './bindings/scan';
import type { NativeTrainingAddon } from './bindings/training';

/**
 * What the C++ addon (native/) exports, one capability per binding. Its functions are synchronous
 * and use the addon's own threads; only the kernel worker process calls them, so a crash never
 * touches the caller's process.
 */
export interface NativeAddon extends NativeScanAddon, NativeMaskAddon, NativeCondensedAddon, NativeTrainingAddon {
  /** Test only: aborts the process, to prove a native crash stays in the worker. */
  crashForTest(): void;
}

/**
 * The addon functions the worker's request/reply handler calls one by one. Training is not among
 * them: a training session lives inside a job in the job worker, driven a step at a time.
 */
export type CallableAddon = Omit<NativeAddon, keyof NativeTrainingAddon>;
