import * as vscode from 'vscode';
import type { CheckpointPlan } from '../core/analysis/checkpointPlan';
import { formatBytes } from '../core/checkpoint';
import type { TargetKind } from '../core/analysis/target';
import type { NmPattern } from '../core/nmPattern';
import type { LayerNeurons, LayerReport, SparsityReport } from '../core/analysis/report';
import type { CheckpointKey } from '../kernels/checkpointKernels';
import { createKernels } from '../kernels/createKernels';
import type { Kernels } from '../kernels/kernels';
import { runJob } from './jobs';
import { readSettings, SETTINGS_SECTION, type Settings } from './settings';

/** A checkpoint opened and analysed: what the editor, the tree and the commands show. */
export interface Analysis {
  readonly uri: vscode.Uri;
  /** The file and overrides it was read with: how the kernels find its tensors again. */
  readonly key: CheckpointKey;
  readonly report: SparsityReport;
  /** Per-neuron figures of each linear and conv weight, by tensor name. */
  readonly neurons: ReadonlyMap<string, LayerNeurons>;
}

/**
 * Analyses checkpoints once and shares the result; holds the kernels (worker processes for the
 * session), which open and read the files: this process only receives reports. Settings that
 * change the figures drop the cached analyses.
 */
export class Analyses implements vscode.Disposable {
  private readonly cache = new Map<string, Promise<Analysis>>();
  /** Cancels the cached analyses still under way, so that closing an editor stops its analysis. */
  private readonly cancels = new Map<string, AbortController>();
  private readonly done = new Map<string, Analysis>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private kernelsInstance: Kernels | undefined;
  private settings: Settings = readSettings();
  /** The target chosen in an editor or by Check N:M (the settings' until then), for every view. */
  private chosen: { readonly kind: TargetKind; readonly nm?: NmPattern } | undefined;
  /** The plan each checkpoint's editor shows last, for the plan target. */
  private readonly plans = new Map<string, CheckpointPlan>();
  private readonly targetChanged = new vscode.EventEmitter<void>();
  private readonly progressed = new vscode.EventEmitter<{
    readonly uri: vscode.Uri;
    readonly fraction: number;
    readonly message: string;
    readonly layers: readonly LayerReport[];
  }>();
  /** How far an analysis under way is (the share of its bytes scanned). */
  readonly onDidProgress = this.progressed.event;
  /** The target changed (without new figures: those come with onDidChange). */
  readonly onDidChangeTarget = this.targetChanged.event;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly extensionPath: string,
    private readonly output: vscode.OutputChannel,
  ) {
    this.subscriptions.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration(SETTINGS_SECTION)) return;
        const before = this.settings;
        this.settings = readSettings();
        if (e.affectsConfiguration(`${SETTINGS_SECTION}.target`) || e.affectsConfiguration(`${SETTINGS_SECTION}.nmPattern`))
          this.chosen = undefined;
        if (before.kernelBackend !== this.settings.kernelBackend) {
          void this.kernelsInstance?.dispose();
          this.kernelsInstance = undefined;
        }
        this.cache.clear();
        this.done.clear();
        this.changed.fire();
      }),
    );
  }

  get currentSettings(): Settings {
    return this.settings;
  }

  /** The structure to check for, and the N:M pattern the analyses use. */
  get target(): { readonly kind: TargetKind; readonly nm: NmPattern } {
    return { kind: this.chosen?.kind ?? this.settings.target, nm: this.chosen?.nm ?? this.settings.nm };
  }

  /**
   * Checks every view for `kind` from now on; `nm` (for the N:M target) re-analyses the open
   * checkpoints with that pattern when it is another one.
   */
  setTarget(kind: TargetKind, nm?: NmPattern): void {
    const before = this.target;
    this.chosen = { kind, nm: nm ?? before.nm };
    const { nm: after } = this.target;
    if (after.n !== before.nm.n || after.m !== before.nm.m) {
      this.cache.clear();
      this.done.clear();
      this.changed.fire();
    } else if (kind !== before.kind) {
      this.targetChanged.fire();
      this.changed.fire();
    }
  }

  /** Remembers the plan `uri`'s editor shows (the plan target checks against it). */
  rememberPlan(uri: vscode.Uri, plan: CheckpointPlan): void {
    this.plans.set(uri.toString(), plan);
    if (this.target.kind === 'plan') this.changed.fire();
  }

  planOf(uri: vscode.Uri): CheckpointPlan | undefined {
    return this.plans.get(uri.toString());
  }

  get kernels(): Kernels {
    this.kernelsInstance ??= createKernels({
      backend: this.settings.kernelBackend,
      root: this.extensionPath,
      onWarning: (message) => {
        this.output.appendLine(`[warning] ${message}`);
        void vscode.window.showWarningMessage(message);
      },
    });
    return this.kernelsInstance;
  }

  /** The finished analyses, in the order they were made. */
  list(): Analysis[] {
    return [...this.done.values()];
  }

  find(uri: vscode.Uri): Analysis | undefined {
    return this.done.get(uri.toString());
  }

  /** The analysis of `uri` with the target's N:M pattern, made once (with progress and cancel). */
  get(uri: vscode.Uri): Promise<Analysis> {
    const key = uri.toString();
    let pending = this.cache.get(key);
    if (!pending) {
      const abort = new AbortController();
      this.cancels.set(key, abort);
      pending = this.analyse(uri, this.target.nm, abort.signal).then(
        (analysis) => {
          this.done.set(key, analysis);
          this.changed.fire();
          return analysis;
        },
        (e: unknown) => {
          if (this.cache.get(key) === pending) this.cache.delete(key);
          throw e;
        },
      );
      void pending.catch(() => undefined).finally(() => this.cancels.get(key) === abort && this.cancels.delete(key));
      this.cache.set(key, pending);
    }
    return pending;
  }

  /**
   * A fresh analysis with another N:M pattern; not cached. Runs as a job: progress, cancel (by
   * the user, or by `cancel`).
   */
  async analyse(uri: vscode.Uri, nm: NmPattern, cancel?: AbortSignal): Promise<Analysis> {
    if (uri.scheme !== 'file') throw new Error(`only files on disk can be analysed, not ${uri.scheme}: URIs`);
    const title = `Sparsity Lens: analysing ${vscode.workspace.asRelativePath(uri)}`;
    return runJob({ title, output: this.output, cancel }, async (signal, report) => {
      const started = Date.now();
      if (this.settings.layerRolesError)
        throw new Error(`the setting sparsityLens.layerRoles is invalid: ${this.settings.layerRolesError}`);
      const key: CheckpointKey = { file: uri.fsPath, roles: this.settings.layerRoles };
      let reported = 0;
      const { report: result, neurons } = await this.kernels.analyseFile(
        { ...key, nm, zeroThreshold: this.settings.zeroThreshold },
        {
          signal,
          onProgress: (progress) => {
            if (progress.phase === 'opened') {
              report({ message: `${progress.tensors} tensors`, increment: 0 });
              return;
            }
            // The share of the bytes scanned: one large tensor is most of the work, not one tensor of many.
            const fraction = progress.bytesTotal > 0 ? progress.bytesDone / progress.bytesTotal : progress.done / progress.total;
            const message = `${Math.floor(fraction * 100)}% · ${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)}`;
            report({ message, increment: 100 * (fraction - reported) });
            reported = fraction;
            this.progressed.fire({ uri, fraction, message, layers: progress.layers });
          },
        },
      );
      this.output.appendLine(
        `analysed ${uri.fsPath}: ${result.layers.length} tensors in ${Date.now() - started} ms (${this.kernels.name} kernels)`,
      );
      return { uri, key, report: { ...result, file: vscode.workspace.asRelativePath(uri) }, neurons };
    });
  }

  /** Forgets a checkpoint whose editor closed: its analysis stops if under way, the kernels let go of it. */
  forget(uri: vscode.Uri): void {
    const key = uri.toString();
    this.cancels.get(key)?.abort();
    this.cancels.delete(key);
    this.cache.delete(key);
    const analysis = this.done.get(key);
    if (analysis) void this.kernelsInstance?.closeCheckpoint(analysis.key).catch(() => undefined);
    this.plans.delete(key);
    if (this.done.delete(key)) this.changed.fire();
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    this.changed.dispose();
    this.targetChanged.dispose();
    this.progressed.dispose();
    void this.kernelsInstance?.dispose();
  }
}
