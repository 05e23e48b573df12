import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { readWeightWindow } from '../core/analysis/weightWindow';
import type { TensorEntry, WeightLayout } from '../core/checkpoint';
import { numelOf } from '../core/checkpoint';
import { isCheckpointError } from '../core/errors';
import { MAX_VALUES_WINDOW, type FromWebview, type LayerView, type ToWebview } from '../protocol';
import type { Analyses, Analysis } from './analyses';

class CheckpointDocument implements vscode.CustomDocument {
  constructor(
    readonly uri: vscode.Uri,
    private readonly onDispose: () => void,
  ) {}

  dispose(): void {
    this.onDispose();
  }
}

type WeightTensor = TensorEntry & { layout: WeightLayout };

/** What the webview draws of each tensor besides its report row. */
function layerViews(analysis: Analysis): LayerView[] {
  return analysis.checkpoint.tensors.map((t, index) => {
    if (!t.layout) return { index };
    const rows = t.shape[t.layout.outAxis];
    const numel = numelOf(t.shape);
    return { index, rows, cols: rows === 0 ? 0 : numel / rows, inDim: t.shape[t.layout.inAxis], fanIn: analysis.fanIn.get(t.name) };
  });
}

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
  private readonly panels = new Map<string, Set<vscode.WebviewPanel>>();
  private activeUri: vscode.Uri | undefined;
  private readonly activeChanged = new vscode.EventEmitter<vscode.Uri | undefined>();
  /** The checkpoint of the focused editor, or undefined when none of ours is focused. */
  readonly onDidChangeActive = this.activeChanged.event;
  private readonly selected = new vscode.EventEmitter<{ uri: vscode.Uri; layer: string }>();
  /** Layers to select in editors still opening (from the tree or Show Layer Heatmap). */
  private readonly pendingSelect = new Map<string, string>();
  readonly onDidSelectLayer = this.selected.event;

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
    const key = document.uri.toString();
    if (!this.panels.has(key)) this.panels.set(key, new Set());
    this.panels.get(key)!.add(panel);
    const webview = panel.webview;
    webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')],
    };
    webview.html = this.html(webview);
    // Analyse while the webview loads; its `ready` then finds the analysis made or under way.
    this.analyses.get(document.uri).catch(() => undefined);
    const post = (message: ToWebview) => void webview.postMessage(message);
    const setActive = () => {
      if (panel.active) this.activeUri = document.uri;
      else if (this.activeUri?.toString() === key) this.activeUri = undefined;
      this.activeChanged.fire(this.activeUri);
    };
    setActive();
    const subscriptions = [
      panel.onDidChangeViewState(setActive),
      webview.onDidReceiveMessage((m: FromWebview) => void this.handle(document.uri, m, post)),
      this.analyses.onDidChange(() => {
        // Settings changed the figures: send the new analysis.
        if (!this.analyses.find(document.uri)) void this.sendInit(document.uri, post);
      }),
    ];
    panel.onDidDispose(() => {
      subscriptions.forEach((s) => s.dispose());
      this.panels.get(key)?.delete(panel);
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
    open[0].reveal();
    void open[0].webview.postMessage({ type: 'select', layer } satisfies ToWebview);
  }

  private async sendInit(uri: vscode.Uri, post: (m: ToWebview) => void): Promise<void> {
    try {
      const analysis = await this.analyses.get(uri);
      const select = this.pendingSelect.get(uri.toString());
      this.pendingSelect.delete(uri.toString());
      post({
        type: 'init',
        report: analysis.report,
        layers: layerViews(analysis),
        settings: { maxHeatmapCells: this.analyses.currentSettings.maxHeatmapCells, zeroThreshold: this.analyses.currentSettings.zeroThreshold },
        ...(select ? { select } : {}),
      });
    } catch (e) {
      if (e instanceof vscode.CancellationError) {
        post({ type: 'error', message: 'Analysis cancelled. Reopen the file to analyse it.' });
        return;
      }
      this.output.appendLine(`[error] ${(e as Error).stack ?? String(e)}`);
      post({ type: 'error', message: isCheckpointError(e) ? e.message : `Sparsity Lens could not analyse this file: ${(e as Error).message}` });
    }
  }

  private async handle(uri: vscode.Uri, m: FromWebview, post: (m: ToWebview) => void): Promise<void> {
    if (m.type === 'ready') return this.sendInit(uri, post);
    if (m.type === 'selected') {
      this.selected.fire({ uri, layer: m.layer });
      return;
    }
    try {
      const analysis = this.analyses.find(uri);
      const tensor = analysis?.checkpoint.tensors.find((t) => t.name === m.layer);
      if (!tensor?.layout) throw new Error(`no weight named "${m.layer}"`);
      const window = { rowStart: m.rowStart, rowEnd: m.rowEnd, colStart: m.colStart, colEnd: m.colEnd };
      if (m.type === 'requestHeatmap') {
        // Never more cells than the setting allows, whatever the webview asks for.
        const budget = this.analyses.currentSettings.maxHeatmapCells;
        const scale = Math.min(1, Math.sqrt(budget / Math.max(1, m.width * m.height)));
        const tiles = await this.analyses.kernels.heatmap({
          ...(tensor as WeightTensor),
          ...window,
          width: Math.max(1, Math.floor(m.width * scale)),
          height: Math.max(1, Math.floor(m.height * scale)),
          zeroThreshold: this.analyses.currentSettings.zeroThreshold,
        });
        post({ type: 'heatmap', requestId: m.requestId, layer: m.layer, window, ...tiles });
      } else {
        const size = (window.rowEnd - window.rowStart) * (window.colEnd - window.colStart);
        if (size > MAX_VALUES_WINDOW) throw new Error(`a window of ${size} weights is too large to show one by one`);
        const values = await readWeightWindow(tensor as WeightTensor, window);
        post({ type: 'values', requestId: m.requestId, layer: m.layer, window, values });
      }
    } catch (e) {
      this.output.appendLine(`[error] ${m.type} ${m.layer}: ${(e as Error).message}`);
      post({ type: 'error', requestId: m.requestId, message: (e as Error).message });
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
