import type {
  AnalyseOptions,
  AnalyseRequest,
  ChangeTilesRequest,
  CheckpointKernels,
  FindViolationRequest,
  CheckpointKey,
  DiffRequest,
  FileAnalysis,
  SalientCountsRequest,
  TensorHeatmapRequest,
  TensorWindowRequest,
} from '../../kernels/checkpointKernels';
import type { MaskKernels } from '../../kernels/maskKernels';
import type { HeatmapTiles, ScanKernels } from '../../kernels/scanKernels';
import { pruneCheckpoint, type PruneOptions, type PruneRequest, type PruneResult } from '../prune/pruneCheckpoint';
import { condenseCheckpoint, type CondenseOptions, type CondenseRequest, type CondenseResult } from '../prune/condense';
import { numelOf, type Checkpoint, type TensorEntry } from '../checkpoint';
import { decodeToFloat64 } from '../dtype';
import { chunkPairs, CHUNK_ELEMENTS, tensorChunks } from '../tensorBytes';
import {
  matchTensors,
  pairFigures,
  sameShape,
  ValueChanges,
  type ChangeTiles,
  type CheckpointDiff,
  type LayerDiff,
} from '../analysis/diff';
import { openCheckpoint } from '../formats/registry';
import { neuronGeometry, NeuronView, type ViewWindow } from '../neuronView';
import { nextViolation } from '../analysis/violations';
import { salientPerRow } from '../analysis/ablation';
import { changeTiles } from '../analysis/changeTiles';
import { applyRoleOverrides, unusedRoleOverrides } from '../roles/roleOverrides';
import { analyseCheckpoint } from '../analysis/report';

/** Most checkpoints kept open at once: values derived while opening (inflated members…) can be large. */
const MAX_OPEN = 4;

/** The checkpoint capability over `kernels`, run in the caller's process. */
export function checkpointKernelsOn(
  kernels: ScanKernels & MaskKernels,
  openFile?: (path: string) => Promise<Checkpoint>,
): CheckpointKernels {
  const open = new OpenCheckpoints(kernels, openFile);
  return {
    analyseFile: (request, options) => open.analyseFile(request, options),
    tensorHeatmap: (request, signal) => open.tensorHeatmap(request, signal),
    tensorWeightWindow: (request, signal) => open.tensorWeightWindow(request, signal),
    salientCounts: (request, signal) => open.salientCounts(request, signal),
    diffFiles: (request, options) => open.diffFiles(request, options),
    changeTiles: (request, signal) => open.changeTiles(request, signal),
    findViolation: (request, signal) => open.findViolation(request, signal),
    pruneFile: (request, options) => open.pruneFile(request, options),
    condenseFile: (request, options) => open.condenseFile(request, options),
    closeCheckpoint: (key) => open.closeCheckpoint(key),
  };
}

/** One opened checkpoint, with the calls using it: what it holds is let go when it is dropped and unused. */
interface OpenEntry {
  readonly opened: Promise<{ checkpoint: Checkpoint; unusedRoles: string[] }>;
  users: number;
  dropped: boolean;
}

/** Opens checkpoints, keeps the last few open, and runs the given scan kernels on them. */
export class OpenCheckpoints implements CheckpointKernels {
  private readonly open = new Map<string, OpenEntry>();

  constructor(
    private readonly kernels: ScanKernels & MaskKernels,
    private readonly openFile: (path: string) => Promise<Checkpoint> = openCheckpoint,
  ) {}

  async analyseFile(request: AnalyseRequest, options: AnalyseOptions = {}): Promise<FileAnalysis> {
    // A new analysis reads the file again: it may have changed since it was last opened.
    return this.using(request, true, async ({ checkpoint, unusedRoles }) => {
      options.onProgress?.({ phase: 'opened', tensors: checkpoint.tensors.length });
      const analysis = await analyseCheckpoint(checkpoint, this.kernels, {
        nm: request.nm,
        zeroThreshold: request.zeroThreshold,
        signal: options.signal,
        onProgress: (progress) => options.onProgress?.({ phase: 'scanned', ...progress }),
      });
      return { ...analysis, unusedRoles };
    });
  }

  async tensorHeatmap(request: TensorHeatmapRequest, signal?: AbortSignal): Promise<HeatmapTiles> {
    return this.usingWeight(request, (weight) =>
      this.kernels.heatmap(
        {
          ...weight,
          ...windowOf(request),
          width: request.width,
          height: request.height,
          zeroThreshold: request.zeroThreshold,
          order: request.order,
        },
        signal,
      ),
    );
  }

  async tensorWeightWindow(request: TensorWindowRequest, signal?: AbortSignal): Promise<Float32Array> {
    return this.usingWeight(request, (weight) =>
      this.kernels.weightWindow({ ...weight, ...windowOf(request), order: request.order }, signal),
    );
  }

  async salientCounts(request: SalientCountsRequest, signal?: AbortSignal): Promise<Uint32Array> {
    return this.usingWeight(request, (weight) =>
      salientPerRow(() => valueChunks(weight, signal), new NeuronView(weight.shape, weight.layout), request.n),
    );
  }

  /** Both checkpoints analysed, their tensors matched by name (or `request.renames`) and compared position by position. */
  async diffFiles(request: DiffRequest, options: { signal?: AbortSignal } = {}): Promise<CheckpointDiff> {
    const analyse = (checkpoint: Checkpoint) =>
      analyseCheckpoint(checkpoint, this.kernels, { nm: request.nm, zeroThreshold: 0, signal: options.signal });
    return this.using(request.a, true, ({ checkpoint: a }) =>
      this.using(request.b, true, async ({ checkpoint: b }) => {
        const [reportA, reportB] = [(await analyse(a)).report, (await analyse(b)).report];
        const { pairs, onlyA, onlyB } = matchTensors(reportA, reportB, request.renames);
        const tensorsA = new Map(a.tensors.map((t) => [t.name, t]));
        const tensorsB = new Map(b.tensors.map((t) => [t.name, t]));
        const layers: LayerDiff[] = [];
        for (const [la, lb] of pairs) {
          const figures = pairFigures(la, lb);
          const [ta, tb] = [tensorsA.get(la.name), tensorsB.get(lb.name)];
          if (!ta || !tb || !sameShape(la.shape, lb.shape)) layers.push(figures);
          else layers.push({ ...figures, ...(await compareValues(ta, tb, options.signal)).result(la.nnz) });
        }
        return { fileA: a.file, fileB: b.file, layers, onlyA, onlyB };
      }),
    );
  }

  async changeTiles(request: ChangeTilesRequest, signal?: AbortSignal): Promise<ChangeTiles> {
    return this.usingWeight(request.a, (a) =>
      this.usingWeight(request.b, (b) => {
        if (!sameShape(a.shape, b.shape) || a.layout.outAxis !== b.layout.outAxis || a.layout.inAxis !== b.layout.inAxis) {
          throw new Error(
            `${a.name} [${a.shape.join(', ')}] and ${b.name} [${b.shape.join(', ')}] are not laid out alike: no position-by-position changes`,
          );
        }
        return changeTiles(a, b, windowOf(request), request.width, request.height, request.order, signal);
      }),
    );
  }

  /** See nextViolation: conv weights are searched kernel position first, as the editor draws them. */
  async findViolation(request: FindViolationRequest, signal?: AbortSignal): Promise<{ row: number; col: number } | null> {
    return this.usingWeight(request, (weight) => {
      const geometry = neuronGeometry(weight.shape, weight.layout);
      const order = geometry.kernelPositions > 1 ? 'position-major' : 'stored';
      const isZero = (v: number) => Math.abs(v) <= request.zeroThreshold;
      return nextViolation(
        geometry,
        request.nm,
        request,
        request.direction,
        isZero,
        (w) => this.kernels.weightWindow({ ...weight, ...w, order }, signal),
        signal,
      );
    });
  }

  /** Opened afresh: the file may have changed since it was analysed. */
  async pruneFile(request: PruneRequest, options: PruneOptions = {}): Promise<PruneResult> {
    return this.using(request, true, ({ checkpoint }) => pruneCheckpoint(checkpoint, request, this.kernels, options));
  }

  /** Opened afresh, like pruneFile. */
  async condenseFile(request: CondenseRequest, options: CondenseOptions = {}): Promise<CondenseResult> {
    return this.using(request, true, ({ checkpoint }) => condenseCheckpoint(checkpoint, request, options));
  }

  async closeCheckpoint(key: CheckpointKey): Promise<void> {
    const id = keyOf(key);
    const entry = this.open.get(id);
    if (entry) this.drop(id, entry);
  }

  /** Runs `use` on the open checkpoint (opening it first, or again when `fresh`); it stays open meanwhile. */
  private async using<T>(key: CheckpointKey, fresh: boolean, use: (opened: Awaited<OpenEntry['opened']>) => Promise<T>): Promise<T> {
    const id = keyOf(key);
    let entry = this.open.get(id);
    if (entry && fresh) this.drop(id, entry);
    if (!entry || fresh) {
      const opened = this.openFile(key.file).then(async (checkpoint) => {
        try {
          return { checkpoint: applyRoleOverrides(checkpoint, key.roles), unusedRoles: unusedRoleOverrides(checkpoint, key.roles) };
        } catch (e) {
          await checkpoint.release?.();
          throw e;
        }
      });
      const made: OpenEntry = { opened, users: 0, dropped: false };
      opened.catch(() => this.open.get(id) === made && this.open.delete(id));
      entry = made;
    }
    // The most recently used last; the least recently used goes first when too many are open.
    this.open.delete(id);
    this.open.set(id, entry);
    for (const [oldest, old] of this.open) if (this.open.size > MAX_OPEN) this.drop(oldest, old);
    entry.users++;
    try {
      return await use(await entry.opened);
    } finally {
      entry.users--;
      if (entry.dropped && entry.users === 0) release(entry);
    }
  }

  private async usingWeight<T>(request: CheckpointKey & { readonly tensor: string }, use: (weight: WeightEntry) => Promise<T>): Promise<T> {
    return this.using(request, false, ({ checkpoint }) => {
      const tensor = checkpoint.tensors.find((t) => t.name === request.tensor);
      if (!tensor?.layout) throw new Error(`no weight named "${request.tensor}" in ${checkpoint.file}`);
      return use(tensor as WeightEntry);
    });
  }

  private drop(id: string, entry: OpenEntry): void {
    if (this.open.get(id) === entry) this.open.delete(id);
    if (entry.dropped) return;
    entry.dropped = true;
    if (entry.users === 0) release(entry);
  }
}

type WeightEntry = TensorEntry & Required<Pick<TensorEntry, 'layout'>>;

/** Lets go of what opening made (a scratch file), once no call reads it any more. */
function release(entry: OpenEntry): void {
  entry.opened.then(
    ({ checkpoint }) => checkpoint.release?.().catch(() => undefined),
    () => undefined,
  );
}

/** A tensor's values as float64, chunk by chunk in storage order. */
async function* valueChunks(t: TensorEntry, signal?: AbortSignal): AsyncGenerator<{ values: Float64Array; first: number; count: number }> {
  for await (const chunk of tensorChunks(t.source, t.dtype, numelOf(t.shape), CHUNK_ELEMENTS, signal))
    yield { values: decodeToFloat64(t.dtype, chunk.bytes, chunk.count), first: chunk.first, count: chunk.count };
}

/** Two tensors of one shape read in step, chunk by chunk. */
async function compareValues(a: TensorEntry, b: TensorEntry, signal?: AbortSignal): Promise<ValueChanges> {
  const changes = new ValueChanges();
  for await (const [x, y] of chunkPairs(a, b, numelOf(a.shape), signal))
    changes.add(decodeToFloat64(a.dtype, x.bytes, x.count), decodeToFloat64(b.dtype, y.bytes, y.count), x.count);
  return changes;
}

function windowOf(w: ViewWindow): ViewWindow {
  return { rowStart: w.rowStart, rowEnd: w.rowEnd, colStart: w.colStart, colEnd: w.colEnd };
}

/** One string per (file, overrides): the same file read with other roles is another checkpoint. */
function keyOf(key: CheckpointKey): string {
  return JSON.stringify([key.file, key.roles.map((r) => [r.pattern, r.role, r.layout ?? null])]);
}
