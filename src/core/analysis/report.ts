import type { NmCounts, ScanKernels, ScanResult } from '../../kernels/scanKernels';
import { numelOf, type Checkpoint, type CheckpointFormat, type Role, type SkippedTensor, type TensorEntry } from '../checkpoint';
import { DTYPE_BITS, type DType } from '../dtype';
import { storageNote } from '../storedTensor';
import { summarizeFanIn, type FanInSummary } from './fanIn';
import { neuronGeometry, type NeuronGeometry } from '../neuronView';
import { DEFAULT_NM, type NmPattern } from '../nmPattern';
import { lintLayers, type Lint } from './lints';
import { storageEstimate, type StorageEstimate } from './storage';

export interface LayerReport {
  readonly name: string;
  /** The name a user knows, when the file's is made up (see TensorEntry.displayName). */
  readonly displayName?: string;
  /** The weight this one's outputs feed, when the graph shows it (see TensorEntry.nextLayer). */
  readonly nextLayer?: string;
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
  /** The `torch.nn.utils.prune` pair the weight was computed from (orig × mask), when it was. */
  readonly prunePair?: { readonly orig: string; readonly mask: string };
  /** Set when the file stores the weight condensed (values and indices of its non-zeros only). */
  readonly condensed?: true;
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
  /** Why the weights will not run faster ("why no speed-up?"), per layer. */
  readonly problems: readonly Lint[];
  /** Bytes each weight layer would take in each sparse layout. */
  readonly storage: StorageEstimate;
}

export interface ReportOptions {
  readonly nm?: NmPattern;
  readonly zeroThreshold?: number;
  readonly signal?: AbortSignal;
  /** Called after each batch of tensors: the count done so far, the last one's name, the bytes scanned of all, and the batch's rows. */
  readonly onProgress?: (progress: ScanProgress) => void;
}

export interface ScanProgress {
  readonly done: number;
  readonly total: number;
  readonly name: string;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  /** The rows of the tensors just scanned: views can show them before the report is whole. */
  readonly layers: readonly LayerReport[];
}

/** Per-neuron figures of one linear or conv weight, for views that draw neurons. */
export interface LayerNeurons {
  /** The tensor's name, as in the report's layers. */
  readonly name: string;
  readonly geometry: NeuronGeometry;
  /** Non-zeros per output neuron (length geometry.rows). */
  readonly fanIn: Uint32Array;
}

/** The report, and the per-neuron figures behind it keyed by layer name. */
export interface CheckpointAnalysis {
  readonly report: SparsityReport;
  readonly neurons: ReadonlyMap<string, LayerNeurons>;
}

/** The report's note on how a tensor's values were derived from its stored bytes, when they were. */
function noteOf(t: TensorEntry): Pick<LayerReport, 'note' | 'prunePair' | 'condensed'> {
  const note = storageNote(t.stored);
  const pair =
    t.stored.kind === 'derived' && t.stored.op === 'prunePair' ? { orig: t.stored.orig.name, mask: t.stored.mask.name } : undefined;
  const condensed = t.stored.kind === 'derived' && t.stored.op === 'condensed';
  return { ...(note ? { note } : {}), ...(pair ? { prunePair: pair } : {}), ...(condensed ? { condensed: true as const } : {}) };
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

/** Scans every tensor of `checkpoint` and assembles the per-layer report. */
export async function buildReport(checkpoint: Checkpoint, kernels: ScanKernels, options: ReportOptions = {}): Promise<SparsityReport> {
  return (await analyseCheckpoint(checkpoint, kernels, options)).report;
}

/** Scans every tensor of `checkpoint`: the report and each weight's per-neuron figures. */
export async function analyseCheckpoint(
  checkpoint: Checkpoint,
  kernels: ScanKernels,
  options: ReportOptions = {},
): Promise<CheckpointAnalysis> {
  const nm = options.nm ?? DEFAULT_NM;
  const layers: LayerReport[] = [];
  const neurons = new Map<string, LayerNeurons>();
  const tensors = checkpoint.tensors;
  const bytesOf = (t: TensorEntry) => Math.ceil((numelOf(t.shape) * DTYPE_BITS[t.dtype]) / 8);
  const bytes = { done: 0, total: tensors.reduce((s, t) => s + bytesOf(t), 0) };
  for (const batch of scanBatches(tensors)) {
    options.signal?.throwIfAborted();
    const requests = batch.map((t) => ({
      source: t.source,
      dtype: t.dtype,
      shape: t.shape,
      layout: t.layout,
      nm,
      zeroThreshold: options.zeroThreshold,
    }));
    const scans = await kernels.scanMany(requests, options.signal);
    const rows = batch.map((t, j) => layerReport(t, scans[j], neurons));
    layers.push(...rows);
    for (const t of batch) bytes.done += bytesOf(t);
    options.onProgress?.({
      done: layers.length,
      total: tensors.length,
      name: batch[batch.length - 1].name,
      bytesDone: bytes.done,
      bytesTotal: bytes.total,
      layers: rows,
    });
  }
  const report: SparsityReport = {
    file: checkpoint.file,
    format: checkpoint.format,
    nm,
    layers,
    total: totals(layers),
    weights: totals(layers.filter((l) => l.role !== 'other')),
    skipped: checkpoint.skipped,
    metadata: checkpoint.metadata,
    problems: lintLayers(layers, neurons, nm),
    storage: storageEstimate({ layers, nm }),
  };
  return { report, neurons };
}

/** Most tensors, and most elements, one kernel call scans: many small tensors share a call. */
const BATCH_TENSORS = 4096;
const BATCH_ELEMENTS = 1 << 24;

/** Consecutive tensors in batches of at most BATCH_TENSORS and (but for a large one alone) BATCH_ELEMENTS. */
function* scanBatches(tensors: readonly TensorEntry[]): Generator<TensorEntry[]> {
  let batch: TensorEntry[] = [];
  let elements = 0;
  for (const t of tensors) {
    const numel = numelOf(t.shape);
    if (batch.length && (batch.length >= BATCH_TENSORS || elements + numel > BATCH_ELEMENTS)) {
      yield batch;
      batch = [];
      elements = 0;
    }
    batch.push(t);
    elements += numel;
  }
  if (batch.length) yield batch;
}

/** One tensor's row of the report; a weight's per-neuron figures go to `neurons`. */
function layerReport(t: TensorEntry, scan: ScanResult, neurons: Map<string, LayerNeurons>): LayerReport {
  if (t.layout && scan.fanIn) neurons.set(t.name, { name: t.name, geometry: neuronGeometry(t.shape, t.layout), fanIn: scan.fanIn });
  const numel = numelOf(t.shape);
  const rows = t.layout ? t.shape[t.layout.outAxis] : 0;
  return {
    name: t.name,
    ...(t.displayName ? { displayName: t.displayName } : {}),
    ...(t.nextLayer ? { nextLayer: t.nextLayer } : {}),
    shape: t.shape,
    dtype: t.dtype,
    role: t.role,
    numel,
    nnz: scan.nnz,
    sparsity: sparsityOf(scan.nnz, numel),
    negativeZeros: scan.negativeZeros,
    fanIn: scan.fanIn ? summarizeFanIn(scan.fanIn, rows === 0 ? 0 : numel / rows) : null,
    nm: scan.nm ?? null,
    ...noteOf(t),
  };
}
