import type { Kernels, NmCounts, ScanResult } from '../../kernels/kernels';
import { numelOf, type Checkpoint, type CheckpointFormat, type Role, type SkippedTensor, type TensorEntry } from '../checkpoint';
import type { DType } from '../dtype';
import { storageNote } from '../storedTensor';
import { summarizeFanIn, type FanInSummary } from './fanIn';
import { DEFAULT_NM, type NmPattern } from './nmPattern';

export interface LayerReport {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly role: Role;
  readonly numel: number;
  readonly nnz: number;
  readonly sparsity: number;
  /** Zeros stored as -0.0 (left by pruning with `weight.mul_(mask)`). */
  readonly negativeZeros: number;
  /** Null for role `other`. */
  readonly fanIn: FanInSummary | null;
  /** Null for role `other`. */
  readonly nm: NmCounts | null;
  /** How the analysed values were derived from the stored bytes, when they differ (see storageNote). */
  readonly note?: string;
}

export interface Totals {
  readonly numel: number;
  readonly nnz: number;
  readonly sparsity: number;
}

/** The report's shape is the CLI's `--json` schema: keys may be added, never changed. */
export interface SparsityReport {
  readonly file: string;
  readonly format: CheckpointFormat;
  readonly nm: NmPattern;
  readonly layers: readonly LayerReport[];
  /** Over every tensor. */
  readonly total: Totals;
  /** Over linear and conv weights only. */
  readonly weights: Totals;
  readonly skipped: readonly SkippedTensor[];
  readonly metadata: Readonly<Record<string, string>>;
}

export interface ReportOptions {
  readonly nm?: NmPattern;
  readonly zeroThreshold?: number;
  readonly signal?: AbortSignal;
  /** Called after each tensor with the count done so far. */
  readonly onProgress?: (done: number, total: number, name: string) => void;
  /** Receives each tensor's full scan (per-neuron fan-in arrays), for views that draw them. */
  readonly onScan?: (tensor: TensorEntry, scan: ScanResult) => void;
}

/** The report's note on how a tensor's values were derived from its stored bytes, when they were. */
function noteOf(t: TensorEntry): { note?: string } {
  const note = storageNote(t.stored);
  return note ? { note } : {};
}

function totals(layers: readonly LayerReport[]): Totals {
  let numel = 0;
  let nnz = 0;
  for (const l of layers) {
    numel += l.numel;
    nnz += l.nnz;
  }
  return { numel, nnz, sparsity: sparsityOf(nnz, numel) };
}

function sparsityOf(nnz: number, numel: number): number {
  return numel === 0 ? 0 : 1 - nnz / numel;
}

/** Scans every tensor of `checkpoint` with `kernels` and assembles the per-layer report. */
export async function buildReport(checkpoint: Checkpoint, kernels: Kernels, options: ReportOptions = {}): Promise<SparsityReport> {
  const nm = options.nm ?? DEFAULT_NM;
  const layers: LayerReport[] = [];
  for (const [i, t] of checkpoint.tensors.entries()) {
    options.signal?.throwIfAborted();
    const scan = await kernels.scan(
      { source: t.source, dtype: t.dtype, shape: t.shape, layout: t.layout, nm, zeroThreshold: options.zeroThreshold },
      options.signal,
    );
    options.onScan?.(t, scan);
    const numel = numelOf(t.shape);
    const neurons = t.layout ? t.shape[t.layout.outAxis] : 0;
    layers.push({
      name: t.name,
      shape: t.shape,
      dtype: t.dtype,
      role: t.role,
      numel,
      nnz: scan.nnz,
      sparsity: sparsityOf(scan.nnz, numel),
      negativeZeros: scan.negativeZeros,
      fanIn: scan.fanIn ? summarizeFanIn(scan.fanIn, neurons === 0 ? 0 : numel / neurons) : null,
      nm: scan.nm ?? null,
      ...noteOf(t),
    });
    options.onProgress?.(i + 1, checkpoint.tensors.length, t.name);
  }
  return {
    file: checkpoint.file,
    format: checkpoint.format,
    nm,
    layers,
    total: totals(layers),
    weights: totals(layers.filter((l) => l.role !== 'other')),
    skipped: checkpoint.skipped,
    metadata: checkpoint.metadata,
  };
}
