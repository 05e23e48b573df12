import * as path from 'node:path';
import * as vscode from 'vscode';
import { printable } from '../core/errors';
import type { LayerReport } from '../core/analysis/report';
import { layerLabel } from '../core/analysis/layerLabel';
import { layerProblems } from '../core/analysis/problems';
import type { Analyses, Analysis } from './analyses';
import { CheckpointEditorProvider } from './checkpointEditor';

export type ReportNode =
  | { readonly kind: 'checkpoint'; readonly analysis: Analysis }
  | { readonly kind: 'layer'; readonly analysis: Analysis; readonly layer: LayerReport };

function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** One line of key figures for a layer. */
export function layerDescription(layer: LayerReport): string {
  const parts = [`${percent(layer.sparsity)} sparse`];
  if (layer.fanIn) parts.push(layer.fanIn.constant ? `fan-in k=${layer.fanIn.k}` : `fan-in ${layer.fanIn.min}–${layer.fanIn.max}`);
  if (layer.nm && layer.nm.groups) parts.push(`N:M ${percent(layer.nm.compliant / layer.nm.groups)}`);
  return parts.join(' · ');
}

/**
 * Text for MarkdownString.appendText, which escapes Markdown but not `&`: without this, `&lt;` in
 * a name would show as `<`.
 */
function asText(text: string): string {
  return text.replace(/&/g, '&amp;');
}

const counts = new WeakMap<Analysis, Map<string, number>>();

/** The number of "why no speed-up?" findings per layer name, counted once per analysis. */
function problemCounts(analysis: Analysis): Map<string, number> {
  let byLayer = counts.get(analysis);
  if (!byLayer) {
    byLayer = new Map();
    for (const p of analysis.report.problems) byLayer.set(p.layer, (byLayer.get(p.layer) ?? 0) + 1);
    counts.set(analysis, byLayer);
  }
  return byLayer;
}

/** The "Sparsity Report" view: analysed checkpoints and their layers, problems marked. */
export class ReportTreeProvider implements vscode.TreeDataProvider<ReportNode> {
  private readonly changed = new vscode.EventEmitter<ReportNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly analyses: Analyses) {
    analyses.onDidChange(() => this.changed.fire(undefined));
  }

  getChildren(node?: ReportNode): ReportNode[] {
    if (!node) return this.analyses.list().map((analysis) => ({ kind: 'checkpoint', analysis }));
    if (node.kind === 'checkpoint') return node.analysis.report.layers.map((layer) => ({ kind: 'layer', analysis: node.analysis, layer }));
    return [];
  }

  getParent(node: ReportNode): ReportNode | undefined {
    return node.kind === 'layer' ? { kind: 'checkpoint', analysis: node.analysis } : undefined;
  }

  getTreeItem(node: ReportNode): vscode.TreeItem {
    if (node.kind === 'checkpoint') {
      const r = node.analysis.report;
      const item = new vscode.TreeItem(path.basename(node.analysis.uri.fsPath), vscode.TreeItemCollapsibleState.Expanded);
      item.id = node.analysis.uri.toString();
      item.description = `${percent(r.weights.sparsity)} of weights zero · ${r.format}`;
      item.tooltip = `${printable(r.file)}\nall tensors: ${r.total.nnz} of ${r.total.numel} non-zero\nweights: ${r.weights.nnz} of ${r.weights.numel} non-zero`;
      item.resourceUri = node.analysis.uri;
      item.contextValue = 'checkpoint';
      item.command = {
        command: 'vscode.openWith',
        title: 'Open',
        arguments: [node.analysis.uri, CheckpointEditorProvider.viewTypeFor(node.analysis.uri)],
      };
      return item;
    }
    const { layer, analysis } = node;
    // Names come from the file: shown escaped, never as Markdown or with their direction overrides.
    const name = printable(layerLabel(layer));
    const item = new vscode.TreeItem(name, vscode.TreeItemCollapsibleState.None);
    item.id = `${analysis.uri.toString()}#${layer.name}`;
    const lints = problemCounts(analysis).get(layer.name) ?? 0;
    item.description = layerDescription(layer) + (lints ? ` · ${lints} problem${lints === 1 ? '' : 's'}` : '');
    const problems = layerProblems(layer, analysis.report.nm);
    // Only this code's own Markdown is Markdown: the name and the note (worded from names in the
    // file) go in as text; no HTML, no command links.
    const tooltip = new vscode.MarkdownString('', true);
    tooltip.isTrusted = false;
    tooltip.supportHtml = false;
    tooltip
      .appendMarkdown('**')
      .appendText(asText(name))
      .appendMarkdown(
        `** \`[${layer.shape.join(', ')}]\` ${layer.dtype}, ${layer.role}\n\n` +
          `${layer.nnz} of ${layer.numel} non-zero (${percent(layer.sparsity)} sparse)`,
      );
    if (layer.note) tooltip.appendMarkdown('\n\n$(info) ').appendText(asText(printable(layer.note)));
    if (problems.length) tooltip.appendMarkdown('\n\n$(warning) ').appendText(problems.join('; '));
    item.tooltip = tooltip;
    item.iconPath = problems.length
      ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'))
      : new vscode.ThemeIcon(layer.role === 'other' ? 'symbol-constant' : 'symbol-array');
    item.contextValue = layer.role === 'other' ? 'tensor' : 'weight';
    if (layer.role !== 'other') {
      item.command = { command: 'sparsityLens.showLayerHeatmap', title: 'Show Layer Heatmap', arguments: [analysis.uri, layer.name] };
    }
    return item;
  }
}
