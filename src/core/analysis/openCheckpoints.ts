import type {
  AnalyseOptions,
  AnalyseRequest,
  CheckpointKernels,
  CheckpointKey,
  FileAnalysis,
  TensorHeatmapRequest,
  TensorWindowRequest,
} from '../../kernels/checkpointKernels';
import type { HeatmapTiles, ScanKernels } from '../../kernels/scanKernels';
import type { Checkpoint, TensorEntry } from '../checkpoint';
import { openCheckpoint } from '../formats/registry';
import type { ViewWindow } from '../neuronView';
import { applyRoleOverrides, unusedRoleOverrides } from '../roles/roleOverrides';
import { analyseCheckpoint } from './report';

/** Most checkpoints kept open at once: values derived in memory (inflated members…) can be large. */
const MAX_OPEN = 4;

/** The checkpoint capability over `kernels`, run in the caller's process. */
export function checkpointKernelsOn(kernels: ScanKernels, openFile?: (path: string) => Promise<Checkpoint>): CheckpointKernels {
  const open = new OpenCheckpoints(kernels, openFile);
  return {
    analyseFile: (request, options) => open.analyseFile(request, options),
    tensorHeatmap: (request, signal) => open.tensorHeatmap(request, signal),
    tensorWeightWindow: (request, signal) => open.tensorWeightWindow(request, signal),
    closeCheckpoint: (key) => open.closeCheckpoint(key),
  };
}

/** Opens checkpoints, keeps the last few open, and runs the given scan kernels on them. */
export class OpenCheckpoints implements CheckpointKernels {
  private readonly open = new Map<string, Promise<Checkpoint>>();

  constructor(
    private readonly kernels: ScanKernels,
    private readonly openFile: (path: string) => Promise<Checkpoint> = openCheckpoint,
  ) {}

  async analyseFile(request: AnalyseRequest, options: AnalyseOptions = {}): Promise<FileAnalysis> {
    // A new analysis reads the file again: it may have changed since it was last opened.
    this.forget(request);
    const { checkpoint, unusedRoles } = await this.checkpoint(request, true);
    options.onProgress?.({ phase: 'opened', tensors: checkpoint.tensors.length });
    const analysis = await analyseCheckpoint(checkpoint, this.kernels, {
      nm: request.nm,
      zeroThreshold: request.zeroThreshold,
      signal: options.signal,
      onProgress: (done, total, name) => options.onProgress?.({ phase: 'scanned', done, total, name }),
    });
    return { ...analysis, unusedRoles };
  }

  async tensorHeatmap(request: TensorHeatmapRequest, signal?: AbortSignal): Promise<HeatmapTiles> {
    const weight = await this.weight(request);
    return this.kernels.heatmap(
      { ...weight, ...windowOf(request), width: request.width, height: request.height, zeroThreshold: request.zeroThreshold },
      signal,
    );
  }

  async tensorWeightWindow(request: TensorWindowRequest, signal?: AbortSignal): Promise<Float32Array> {
    return this.kernels.weightWindow({ ...(await this.weight(request)), ...windowOf(request) }, signal);
  }

  async closeCheckpoint(key: CheckpointKey): Promise<void> {
    this.forget(key);
  }

  private forget(key: CheckpointKey): void {
    this.open.delete(keyOf(key));
  }

  private async checkpoint(key: CheckpointKey, fresh = false): Promise<{ checkpoint: Checkpoint; unusedRoles: string[] }> {
    const id = keyOf(key);
    let pending = fresh ? undefined : this.open.get(id);
    let unusedRoles: string[] = [];
    if (!pending) {
      pending = this.openFile(key.file).then((opened) => {
        unusedRoles = unusedRoleOverrides(opened, key.roles);
        return applyRoleOverrides(opened, key.roles);
      });
      pending.catch(() => this.open.get(id) === pending && this.open.delete(id));
    }
    // The most recently used last; the least recently used goes first when too many are open.
    this.open.delete(id);
    this.open.set(id, pending);
    while (this.open.size > MAX_OPEN) this.open.delete(this.open.keys().next().value!);
    return { checkpoint: await pending, unusedRoles };
  }

  private async weight(request: CheckpointKey & { readonly tensor: string }): Promise<TensorEntry & Required<Pick<TensorEntry, 'layout'>>> {
    const { checkpoint } = await this.checkpoint(request);
    const tensor = checkpoint.tensors.find((t) => t.name === request.tensor);
    if (!tensor?.layout) throw new Error(`no weight named "${request.tensor}" in ${checkpoint.file}`);
    return tensor as TensorEntry & Required<Pick<TensorEntry, 'layout'>>;
  }
}

function windowOf(w: ViewWindow): ViewWindow {
  return { rowStart: w.rowStart, rowEnd: w.rowEnd, colStart: w.colStart, colEnd: w.colEnd };
}

/** One string per (file, overrides): the same file read with other roles is another checkpoint. */
function keyOf(key: CheckpointKey): string {
  return JSON.stringify([key.file, key.roles.map((r) => [r.pattern, r.role, r.layout ?? null])]);
}
