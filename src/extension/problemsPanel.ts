import * as vscode from 'vscode';
import type { Lint } from '../core/analysis/lints';
import { layerLabel } from '../core/analysis/layerLabel';
import { printable } from '../core/errors';
import type { Analyses, Analysis } from './analyses';

const SEVERITY: Readonly<Record<Lint['severity'], vscode.DiagnosticSeverity>> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  info: vscode.DiagnosticSeverity.Information,
};

/**
 * The report's "why no speed-up?" findings in the Problems panel, for every analysed checkpoint.
 * A checkpoint has no lines: each finding sits on the line of its layer's index in the report, so
 * the panel lists them in file order.
 */
export function diagnosticsOf(analysis: Analysis): vscode.Diagnostic[] {
  const index = new Map(analysis.report.layers.map((l, i) => [l.name, i]));
  const labels = new Map(analysis.report.layers.map((l) => [l.name, layerLabel(l)]));
  return analysis.report.problems.map((p) => {
    const line = index.get(p.layer) ?? 0;
    // The layer's name comes from the file: shown escaped.
    const diagnostic = new vscode.Diagnostic(
      new vscode.Range(line, 0, line, 0),
      `${printable(labels.get(p.layer) ?? p.layer)}: ${p.message}`,
      SEVERITY[p.severity],
    );
    diagnostic.source = 'Sparsity Lens';
    diagnostic.code = p.code;
    return diagnostic;
  });
}

/** Keeps the Problems panel in step with the analyses: set when one is made, cleared when it is forgotten. */
export function createProblemsPanel(analyses: Analyses): vscode.Disposable {
  const collection = vscode.languages.createDiagnosticCollection('sparsityLens');
  const update = () => {
    collection.clear();
    for (const analysis of analyses.list()) collection.set(analysis.uri, diagnosticsOf(analysis));
  };
  const subscription = analyses.onDidChange(update);
  update();
  return vscode.Disposable.from(subscription, collection);
}
