/**
 * Every message that crosses a process or frame boundary, as discriminated unions. For now: the
 * extension (or CLI) ⇄ kernel worker process.
 */
import type { NativeAddon } from './kernels/nativeAddon';

export type KernelOp = keyof NativeAddon;

/** A call of one addon function in the worker. */
export type WorkerRequest = { [Op in KernelOp]: { readonly id: number; readonly op: Op; readonly args: Parameters<NativeAddon[Op]> } }[KernelOp];

export type WorkerMessage =
  /** Sent once at start: whether the addon loaded. */
  | { readonly kind: 'ready'; readonly native: true }
  | { readonly kind: 'ready'; readonly native: false; readonly reason: string }
  | { readonly kind: 'result'; readonly id: number; readonly result: ReturnType<NativeAddon[KernelOp]> }
  | { readonly kind: 'error'; readonly id: number; readonly message: string };
