import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { planRequestOf, planWithAblation, type CheckpointPlan } from '../core/analysis/checkpointPlan';
import type { CheckpointDiff } from '../core/analysis/diff';
import { PlanError, type Distribution } from '../core/analysis/plan';
import type { CheckpointKey } from '../kernels/checkpointKernels';
import { MessageHandler } from '../rpc/messageHandler';
import { MAX_VALUES_WINDOW, type FromWebview, type HostMethods, type ToWebview } from '../webview/protocol';
import type { Analyses } from './analyses';
import { userMessage } from './jobs';
import { layerOfUri } from './problemsPanel';
import { parseNmPattern } from '../core/nmPattern';
import { headline, isCheckpointError } from '../core/errors';
import { TrainingFeed, type TrainingNotify } from './trainingFeed';

/** The Plan section's first plan, and the export's when no editor showed one. */
const DEFAULT_PLAN = { distribution: 'erk', sparsity: '0.9' } as const;

class CheckpointDocument implements vscode.CustomDocument {
  constructor(
    readonly uri: vscode.Uri,
    private readonly onDispose: () => void,
  ) {}

  dispose(): void {
    this.onDispose();
  }
}

type Channel = MessageHandler<HostMethods, Record<never, never>, FromWebview, ToWebview>;

/** A fine-tune's messages into an editor's channel. */
const trainingNotify =
  (channel: Channel): TrainingNotify =>
  (kind, params) =>
    channel.notify(kind, params as ToWebview[typeof kind]);

/**
 * The read-only checkpoint editor: a webview with the summary, the layer table, charts and the
 * mask heatmap. The webview never gets a whole tensor: it asks for heatmap cells of the window it
 * shows (computed by the kernels) or, zoomed in, for the weights of a small window.
 */
export class CheckpointEditorProvider implements vscode.CustomReadonlyEditorProvider<CheckpointDocument> {
  /** The default editor of checkpoint file types (package.json customEditors). */
  static readonly viewType = 'sparsityLens.checkpoint';
  /** The same editor offered on request ("Open With…") for names other files share: .bin, model.json. */
  static readonly onRequestViewType = 'sparsityLens.checkpointOnRequest';

  static viewTypeFor(uri: vscode.Uri): string {
    return /\.(bin|json)$/i.test(uri.path) ? CheckpointEditorProvider.onRequestViewType : CheckpointEditorProvider.viewType;
  }
  private readonly panels = new Map<string, Map<vscode.WebviewPanel, Channel>>();
  private activeUri: vscode.Uri | undefined;
  private readonly activeChanged = new vscode.EventEmitter<vscode.Uri | undefined>();
  /** The checkpoint of the focused editor, or undefined when none of ours is focused. */
  readonly onDidChangeActive = this.activeChanged.event;
  private readonly selected = new vscode.EventEmitter<{ uri: vscode.Uri; layer: string }>();
  /** Layers to select in editors still opening (from the tree or Show Layer Heatmap). */
  private readonly pendingSelect = new Map<string, string>();
  /** The checkpoint each editor is compared with ("Compare with…"), and the diff shown. */
  private readonly comparisons = new Map<string, { readonly b: vscode.Uri; readonly diff: CheckpointDiff }>();
  readonly onDidSelectLayer = this.selected.event;
  /** The last fine-tune of each checkpoint, shown in its editors (and told to those that open later). */
  private readonly trainings = new Map<string, TrainingFeed>();
  /** Editors whose webview said `ready`: messages sent before would be lost. */
  private readonly readyPanels = new Set<vscode.WebviewPanel>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly analyses: Analyses,
    private readonly output: vscode.OutputChannel,
  ) {}

  get active(): vscode.Uri | undefined {
    return this.activeUri;
  }

  openCustomDocument(uri: vscode.Uri): CheckpointDocument {
    return new CheckpointDocument(uri, () => this.analyses.forget(uri));
  }

  resolveCustomEditor(document: CheckpointDocument, panel: vscode.WebviewPanel): void {
    const uri = document.uri;
    // A finding clicked in the Problems panel: its tab is closed at once and the layer shown in the checkpoint's editor.
    if (layerOfUri(uri)) return;
    const key = uri.toString();
    const webview = panel.webview;
    webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')],
    };
    webview.html = this.html(webview);
    // Analyse while the webview loads; its `ready` then finds the analysis made or under way.
    this.analyses.get(uri).catch(() => undefined);
    const channel: Channel = new MessageHandler<HostMethods, Record<never, never>, FromWebview, ToWebview>(
      (message) => void webview.postMessage(message),
      {
        heatmap: async ({ layer, window, width, height, order }, { signal }) =>
          this.analyses.kernels.tensorHeatmap(
            {
              ...(await this.keyOf(uri)),
              tensor: layer,
              ...window,
              ...this.cappedCells(width, height),
              zeroThreshold: this.analyses.currentSettings.zeroThreshold,
              order,
            },
            signal,
          ),
        changeTiles: async ({ layer, window, width, height, order }, { signal }) => {
          const comparison = this.comparisons.get(key);
          const pair = comparison?.diff.layers.find((l) => l.name === layer);
          if (!comparison || !pair) throw new Error(`the comparison has no tensor ${layer}`);
          return this.analyses.kernels.changeTiles(
            {
              a: { ...(await this.keyOf(uri)), tensor: layer },
              b: { file: comparison.b.fsPath, roles: this.analyses.currentSettings.layerRoles, tensor: pair.nameB ?? layer },
              ...window,
              ...this.cappedCells(width, height),
              order,
            },
            signal,
          );
        },
        weightWindow: async ({ layer, window, order }, { signal }) => {
          const size = (window.rowEnd - window.rowStart) * (window.colEnd - window.colStart);
          if (size > MAX_VALUES_WINDOW) throw new Error(`a window of ${size} weights is too large to show one by one`);
          return this.analyses.kernels.tensorWeightWindow({ ...(await this.keyOf(uri)), tensor: layer, ...window, order }, signal);
        },
        findViolation: async ({ layer, row, col, direction }, { signal }) =>
          this.analyses.kernels.findViolation(
            {
              ...(await this.keyOf(uri)),
              tensor: layer,
              nm: this.analyses.target.nm,
              row,
              col,
              direction,
              zeroThreshold: this.analyses.currentSettings.zeroThreshold,
            },
            signal,
          ),
        plan: async ({ distribution, sparsity }, { signal }) => {
          try {
            const plan = await this.planFor(uri, { distribution, sparsity }, signal);
            this.analyses.rememberPlan(uri, plan);
            return { plan };
          } catch (e) {
            // The messages name the CLI's options (--sparsity …): here they are fields.
            if (e instanceof PlanError) return { error: e.message.replace(/^--(\w)/, (_, c: string) => c.toUpperCase()) };
            throw e;
          }
        },
      },
      {
        ready: () => {
          this.readyPanels.add(panel);
          // A fine-tune under way shows at once, even while the analysis runs.
          this.trainings.get(key)?.replay(trainingNotify(channel));
          void this.sendInit(uri, channel);
        },
        closeTraining: () => {
          if (this.trainings.get(key)?.finished) this.trainings.delete(key);
        },
        selected: ({ layer }) => this.selected.fire({ uri, layer }),
        closeComparison: () => this.comparisons.delete(key),
        reopen: () => {
          this.analyses.forget(uri);
          void this.sendInit(uri, channel);
        },
        showLog: () => this.output.show(true),
        setTarget: ({ kind, nm }) => {
          try {
            this.analyses.setTarget(kind, nm === undefined ? undefined : parseNmPattern(nm));
          } catch (e) {
            this.output.appendLine(`[warning] the checkpoint editor asked for the target ${kind} ${nm ?? ''}: ${(e as Error).message}`);
          }
        },
      },
    );
    if (!this.panels.has(key)) this.panels.set(key, new Map());
    this.panels.get(key)!.set(panel, channel);
    const setActive = () => {
      if (panel.active) this.activeUri = uri;
      else if (this.activeUri?.toString() === key) this.activeUri = undefined;
      this.activeChanged.fire(this.activeUri);
    };
    setActive();
    const subscriptions = [
      panel.onDidChangeViewState(setActive),
      webview.onDidReceiveMessage((m: unknown) => {
        if (!channel.receive(m)) this.output.appendLine(`[warning] the checkpoint editor sent an unknown message`);
      }),
      this.analyses.onDidChange(() => {
        // Settings changed the figures: send the new analysis.
        if (!this.analyses.find(uri)) void this.sendInit(uri, channel);
      }),
      this.analyses.onDidChangeTarget(() => channel.notify('target', { kind: this.analyses.target.kind })),
      this.analyses.onDidProgress((p) => {
        if (p.uri.toString() === key) channel.notify('progress', { fraction: p.fraction, message: p.message, layers: p.layers });
      }),
    ];
    panel.onDidDispose(() => {
      subscriptions.forEach((s) => s.dispose());
      this.panels.get(key)?.delete(panel);
      this.readyPanels.delete(panel);
      if (this.activeUri?.toString() === key) {
        this.activeUri = undefined;
        this.activeChanged.fire(undefined);
      }
    });
  }

  /** Opens (or focuses) the editor of `uri` and selects `layer` in it. */
  async reveal(uri: vscode.Uri, layer: string): Promise<void> {
    const open = [...(this.panels.get(uri.toString()) ?? [])];
    if (open.length === 0) {
      this.pendingSelect.set(uri.toString(), layer);
      await vscode.commands.executeCommand('vscode.openWith', uri, CheckpointEditorProvider.viewTypeFor(uri));
      return;
    }
    const [panel, channel] = open[0];
    panel.reveal();
    channel.notify('select', { layer });
  }

  /** Opens the editor of `uri` (in `column`), or brings the open one to the front. */
  async show(uri: vscode.Uri, column?: vscode.ViewColumn): Promise<void> {
    const open = [...(this.panels.get(uri.toString()) ?? [])];
    if (open.length) open[0][0].reveal();
    else await vscode.commands.executeCommand('vscode.openWith', uri, CheckpointEditorProvider.viewTypeFor(uri), column);
  }

  /**
   * A new fine-tune of `uri`: the returned feed's messages go to the editors of `uri` (one is
   * opened when none is), and to those that open later.
   */
  async startTraining(uri: vscode.Uri): Promise<TrainingFeed> {
    const key = uri.toString();
    this.trainings.get(key)?.dispose();
    const feed = new TrainingFeed((kind, params) => {
      for (const [panel, channel] of this.panels.get(key) ?? []) if (this.readyPanels.has(panel)) trainingNotify(channel)(kind, params);
    });
    this.trainings.set(key, feed);
    await this.show(uri);
    return feed;
  }

  /** Shows in the editor of `uri` (opened if need be) its comparison with checkpoint `b`. */
  async compare(uri: vscode.Uri, b: vscode.Uri, diff: CheckpointDiff): Promise<void> {
    this.comparisons.set(uri.toString(), { b, diff });
    const open = [...(this.panels.get(uri.toString()) ?? [])];
    if (open.length === 0) {
      // The editor's first `init` is followed by the comparison.
      await vscode.commands.executeCommand('vscode.openWith', uri, CheckpointEditorProvider.viewTypeFor(uri));
      return;
    }
    const [panel, channel] = open[0];
    panel.reveal();
    channel.notify('compare', { diff });
  }

  /**
   * The density plan of `uri` (with ablation candidates): as asked, else as its editor's Plan
   * section last showed it, else the section's default (ERK at sparsity 0.9). Throws PlanError
   * for a sparsity or checkpoint the planner refuses.
   */
  async planFor(
    uri: vscode.Uri,
    asked?: { readonly distribution: Distribution; readonly sparsity: string },
    signal?: AbortSignal,
  ): Promise<CheckpointPlan> {
    const shown = this.analyses.planOf(uri);
    const { distribution, sparsity } =
      asked ?? (shown ? { distribution: shown.distribution, sparsity: String(shown.sparsity) } : DEFAULT_PLAN);
    const request = planRequestOf({ sparsity, distribution });
    const analysis = this.analyses.find(uri) ?? (await this.analyses.get(uri));
    return planWithAblation(analysis, request, this.analyses.kernels, analysis.key, signal);
  }

  /** Never more cells than the setting allows, whatever the webview asks for. */
  private cappedCells(width: number, height: number): { width: number; height: number } {
    const scale = Math.min(1, Math.sqrt(this.analyses.currentSettings.maxHeatmapCells / Math.max(1, width * height)));
    return { width: Math.max(1, Math.floor(width * scale)), height: Math.max(1, Math.floor(height * scale)) };
  }

  /** How the kernels find the checkpoint of `uri`: as its analysis read it. */
  private async keyOf(uri: vscode.Uri): Promise<CheckpointKey> {
    return (this.analyses.find(uri) ?? (await this.analyses.get(uri))).key;
  }

  private async sendInit(uri: vscode.Uri, channel: Channel): Promise<void> {
    try {
      const analysis = await this.analyses.get(uri);
      const select = this.pendingSelect.get(uri.toString());
      this.pendingSelect.delete(uri.toString());
      channel.notify('init', {
        report: analysis.report,
        neurons: [...analysis.neurons.values()],
        settings: {
          maxHeatmapCells: this.analyses.currentSettings.maxHeatmapCells,
          zeroThreshold: this.analyses.currentSettings.zeroThreshold,
        },
        target: this.analyses.target.kind,
        ...(select ? { select } : {}),
      });
      const comparison = this.comparisons.get(uri.toString());
      if (comparison) channel.notify('compare', { diff: comparison.diff });
    } catch (e) {
      if (e instanceof vscode.CancellationError) {
        channel.notify('failed', { message: 'Analysis cancelled. Reopen the file to analyse it.' });
        return;
      }
      // The parser's words (and where in the file) for the log; one sentence for the editor.
      this.output.appendLine(`[error] ${isCheckpointError(e) ? e.message : ((e as Error).stack ?? String(e))}`);
      channel.notify('failed', {
        message: isCheckpointError(e) ? headline(e) : userMessage(e, 'Sparsity Lens could not analyse this file'),
      });
    }
  }

  private html(webview: vscode.Webview): string {
    const nonce = randomBytes(16).toString('base64');
    const asset = (...path: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, ...path)).toString();
    const csp = [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src ${webview.cspSource} 'nonce-${nonce}'`,
      `img-src ${webview.cspSource} data: blob:`,
      `font-src ${webview.cspSource}`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('dist', 'codicon.css')}" id="vscode-codicon-stylesheet">
<link rel="stylesheet" href="${asset('media', 'webview.css')}">
<title>Sparsity Lens</title>
</head>
<body>
<div id="app"></div>
<script nonce="${nonce}" src="${asset('dist', 'webview.js')}"></script>
</body>
</html>`;
  }
}
