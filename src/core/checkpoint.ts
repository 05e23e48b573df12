import type { DType } from './dtype';
import type { StoredTensor } from './storedTensor';

/**
 * What a tensor is to the model: the weight of a fully connected layer, of a convolution,
 * or anything else (biases, norms, embeddings, buffers). Only `linear` and `conv` have fan-in.
 */
export type Role = 'linear' | 'conv' | 'other';

/**
 * How a linear or conv weight is laid out. `outAxis` indexes the output neurons; every other
 * axis is reduced over, so a neuron's fan-in is the non-zeros at one index of `outAxis`.
 * N:M groups run along `inAxis` (the input channels), with all other indices fixed.
 */
export interface WeightLayout {
  readonly outAxis: number;
  readonly inAxis: number;
}

/** Where a tensor's bytes are. Checkpoint readers never load file ranges eagerly. */
export type TensorSource =
  | { readonly kind: 'file'; readonly path: string; readonly offset: number; readonly length: number }
  | { readonly kind: 'inline'; readonly bytes: Uint8Array };

export interface TensorEntry {
  readonly name: string;
  /** The name a user knows when the file's is made up (an ONNX exporter's `onnx::Conv_241` → `layer4.0.conv2`). */
  readonly displayName?: string;
  /**
   * A linear or conv weight's next layer, when the file's graph shows it (ONNX): the weight whose
   * input channel c is this weight's output neuron c.
   */
  readonly nextLayer?: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** The analysed bytes, for the kernels. */
  readonly source: TensorSource;
  /**
   * How those bytes were obtained from the file: a byte range, a zip member, an ONNX field, or
   * values derived from such (byte swaps, zero-point shifts, pruning pairs …). `storageNote`
   * words it for display when the analysed values are not the stored bytes as they are.
   */
  readonly stored: StoredTensor;
  readonly role: Role;
  /** Present exactly when role is `linear` or `conv`. */
  readonly layout?: WeightLayout;
}

export type CheckpointFormat = 'onnx' | 'safetensors' | 'pytorch' | 'numpy' | 'tfjs';

export interface Checkpoint {
  readonly file: string;
  /** Lets go of what opening it made (a scratch file of derived values); absent when nothing was. */
  readonly release?: () => Promise<void>;
  readonly format: CheckpointFormat;
  readonly tensors: readonly TensorEntry[];
  /** Format metadata kept for display (safetensors `__metadata__`, ONNX producer). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors present in the file that are not analysed, with the reason. */
  readonly skipped: readonly SkippedTensor[];
}

export interface SkippedTensor {
  readonly name: string;
  readonly reason: string;
}

/** Bytes in binary units for messages: "512 B", "3.0 MiB", "2.0 GiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

const grouped = new Intl.NumberFormat('en-US');

/** Counts as every view writes them: "25,216". */
export function formatCount(n: number): string {
  return grouped.format(n);
}

/** Most axes a tensor may have: the kernels keep fixed-size index arrays, and no real layer comes near it. */
export const MAX_TENSOR_RANK = 64;

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** PyTorch's layout: [out, in, *kernel]. */
export const OUT_IN_LAYOUT: WeightLayout = { outAxis: 0, inAxis: 1 };
/** Transposed 2-D layout: [in, out] (ONNX MatMul B, Gemm B with transB=0). */
export const IN_OUT_LAYOUT: WeightLayout = { outAxis: 1, inAxis: 0 };

/**
 * Keras / TensorFlow layout of a rank-`rank` kernel: [...kernel, in, out], the outputs on the
 * last axis ([in, out] for a Dense matrix, the same as IN_OUT_LAYOUT).
 */
export function kerasLayout(rank: number): WeightLayout {
  return { outAxis: rank - 1, inAxis: rank - 2 };
}
