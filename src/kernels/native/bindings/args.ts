import type { TensorRef } from '../../kernels';

/**
 * What the TypeScript side of every native binding shares: how tensors are passed to the C++
 * addon, and the typed call into the worker that runs it.
 */

/** A tensor's bytes: a file range the addon reads itself, or bytes passed in. */
export type NativeSource = { readonly path: string; readonly offset: number; readonly length: number } | { readonly bytes: Uint8Array };

/** Axes as in WeightLayout; -1 when the tensor has no layout (no fan-in, no N:M). */
export interface NativeLayout {
  readonly outAxis: number;
  readonly inAxis: number;
}

/** A tensor as the addon takes it. */
export interface NativeTensor extends NativeLayout {
  readonly source: NativeSource;
  readonly dtype: TensorRef['dtype'];
  readonly shape: readonly number[];
}

export function nativeTensor(tensor: TensorRef): NativeTensor {
  const s = tensor.source;
  return {
    source: s.kind === 'file' ? { path: s.path, offset: s.offset, length: s.length } : { bytes: s.bytes },
    dtype: tensor.dtype,
    shape: tensor.shape,
    outAxis: tensor.layout?.outAxis ?? -1,
    inAxis: tensor.layout?.inAxis ?? -1,
  };
}

type Fn = (...args: never[]) => unknown;

/** Calls addon function `op` in the kernel worker. */
export type NativeCall<Addon extends { [K in keyof Addon]: Fn }> = <Op extends keyof Addon & string>(
  op: Op,
  args: Parameters<Addon[Op]>,
  signal?: AbortSignal,
) => Promise<ReturnType<Addon[Op]>>;
