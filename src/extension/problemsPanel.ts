import * as vscode from 'vscode';
import type { Lint } from '../core/analysis/lints';
import { lintsFor, type TargetKind } from '../core/analysis/target';
import { layerLabel } from '../core/analysis/layerLabel';
import { printable } from '../core/errors';
import type { Analyses, Analysis } from './analyses';
import type { CheckpointEditorProvider } from './checkpointEditor';

const SEVERITY: Readonly<Record<Lint['severity'], vscode.DiagnosticSeverity>> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

const LAYER_FRAGMENT = 'layer=';

/**
 * The resource a layer's findings are filed under: the checkpoint with the layer in the fragment.
 * VS Code opens a diagnostic's resource when it is clicked but tells a custom editor nothing of
 * the range, so the layer travels in the URI; the opened tab is then replaced by the checkpoint's
 * editor showing that layer (`revealLayersOpenedFromProblems`).
 */
export function layerUri(checkpoint: vscode.Uri, layer: string): vscode.Uri {
  return checkpoint.with({ fragment: LAYER_FRAGMENT + encodeURIComponent(layer) });
}

/** The checkpoint and layer of a `layerUri`, or undefined for any other URI. */
export function layerOfUri(uri: vscode.Uri): { checkpoint: vscode.Uri; layer: string } | undefined {
  if (!uri.fragment.startsWith(LAYER_FRAGMENT)) return undefined;
  try {
    return { checkpoint: uri.with({ fragment: '' }), layer: decodeURIComponent(uri.fragment.slice(LAYER_FRAGMENT.length)) };
  } catch {
    return undefined;
  }
}

/**
 * The report's "why no speed-up?" findings that concern the target, by layer URI. A checkpoint has
 * no lines: each finding sits on the line of its layer's index in the report.
 */
export function diagnosticsOf(analysis: Analysis, target: TargetKind): Map<string, { uri: vscode.Uri; diagnostics: vscode.Diagnostic[] }> {
  const index = new Map(analysis.report.layers.map((l, i) => [l.name, i]));
  const labels = new Map(analysis.report.layers.map((l) => [l.name, layerLabel(l)]));
  const byLayer = new Map<string, { uri: vscode.Uri; diagnostics: vscode.Diagnostic[] }>();
  for (const p of lintsFor(analysis.report.problems, target)) {
    const line = index.get(p.layer) ?? 0;
    // The layer's name comes from the file: shown escaped.
    const diagnostic = new vscode.Diagnostic(
      new vscode.Range(line, 0, line, 0),
      `${printable(labels.get(p.layer) ?? p.layer)}: ${p.message}`,
      SEVERITY[p.severity],
    );
    diagnostic.source = 'Sparsity Lens';
    diagnostic.code = p.code;
    let entry = byLayer.get(p.layer);
    if (!entry) byLayer.set(p.layer, (entry = { uri: layerUri(analysis.uri, p.layer), diagnostics: [] }));
    entry.diagnostics.push(diagnostic);
  }
  return byLayer;
}

/**
 * Keeps the Problems panel in step with the analyses (set when one is made, cleared when it is
 * forgotten), and turns a click on a finding into the checkpoint's editor showing its layer.
 */
export function createProblemsPanel(analyses: Analyses, editor: CheckpointEditorProvider): vscode.Disposable {
  const collection = vscode.languages.createDiagnosticCollection('sparsityLens');
  const update = () => {
    collection.clear();
    for (const analysis of analyses.list()) {
      for (const { uri, diagnostics } of diagnosticsOf(analysis, analyses.target.kind).values()) collection.set(uri, diagnostics);
    }
  };
  const subscription = analyses.onDidChange(update);
  update();
  return vscode.Disposable.from(subscription, collection, revealLayersOpenedFromProblems(editor));
}

/** A tab opened on a `layerUri` (a finding clicked) is closed, and the checkpoint's editor shows the layer. */
function revealLayersOpenedFromProblems(editor: CheckpointEditorProvider): vscode.Disposable {
  return vscode.window.tabGroups.onDidChangeTabs(({ opened, changed }) => {
    for (const tab of [...opened, ...changed]) {
      const input = tab.input;
      const uri = input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText ? input.uri : undefined;
      const target = uri && layerOfUri(uri);
      if (!target) continue;
      void vscode.window.tabGroups.close(tab).then(() => editor.reveal(target.checkpoint, target.layer));
    }
  });
}
