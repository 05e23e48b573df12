import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatCount as count } from '../core/checkpoint';
import { printable } from '../core/errors';
import type { LayerReport } from '../core/analysis/report';
import { layerLabel } from '../core/analysis/layerLabel';
import { byModule, moduleOf } from '../core/analysis/modules';
import { lintsFor, verdictOf, type LayerVerdict, type Verdict } from '../core/analysis/target';
import type { Analyses, Analysis } from './analyses';
import { CheckpointEditorProvider } from './checkpointEditor';

export type ReportNode =
  | { readonly kind: 'checkpoint'; readonly analysis: Analysis }
  | { readonly kind: 'module'; readonly analysis: Analysis; readonly module: string; readonly layers: readonly LayerReport[] }
  | { readonly kind: 'layer'; readonly analysis: Analysis; readonly layer: LayerReport };

function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** Key figures for a layer's tooltip. */
function layerFigures(layer: LayerReport): string {
  const parts = [`${percent(layer.sparsity)} sparse`];
  if (layer.fanIn) parts.push(layer.fanIn.constant ? `fan-in k=${layer.fanIn.k}` : `fan-in ${layer.fanIn.min}–${layer.fanIn.max}`);
  if (layer.nm && layer.nm.groups) parts.push(`N:M ${percent(layer.nm.compliant / layer.nm.groups)}`);
  return parts.join(' · ');
}

/** Each layer's icon against the target. */
const STATE_ICONS: Readonly<Record<LayerVerdict['state'], vscode.ThemeIcon>> = {
  meets: new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed')),
  misses: new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground')),
  dense: new vscode.ThemeIcon('circle-outline', new vscode.ThemeColor('disabledForeground')),
};

/**
 * Text for MarkdownString.appendText, which escapes Markdown but not `&`: without this, `&lt;` in
 * a name would show as `<`.
 */
function asText(text: string): string {
  return text.replace(/&/g, '&amp;');
}

/** The verdict and the findings that concern the target, per layer; worked out once per analysis and target. */
interface Answers {
  readonly verdict: Verdict;
  readonly findings: ReadonlyMap<string, number>;
}

/** The "Sparsity Report" view: analysed checkpoints and their layers, problems marked. */
export class ReportTreeProvider implements vscode.TreeDataProvider<ReportNode> {
  private readonly changed = new vscode.EventEmitter<ReportNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  private answers = new WeakMap<Analysis, Answers>();
  private grouped = false;

  /** Lists each checkpoint's tensors under their modules (the name's prefix), or flat. */
  setGrouped(grouped: boolean): void {
    this.grouped = grouped;
    void vscode.commands.executeCommand('setContext', 'sparsityLens.groupedByModule', grouped);
    this.changed.fire(undefined);
  }

  constructor(private readonly analyses: Analyses) {
    analyses.onDidChange(() => {
      this.answers = new WeakMap();
      this.changed.fire(undefined);
    });
  }

  private answersFor(analysis: Analysis): Answers {
    let answers = this.answers.get(analysis);
    if (!answers) {
      const { kind } = this.analyses.target;
      const findings = new Map<string, number>();
      for (const p of lintsFor(analysis.report.problems, kind)) findings.set(p.layer, (findings.get(p.layer) ?? 0) + 1);
      answers = { verdict: verdictOf(analysis.report, kind, this.analyses.planOf(analysis.uri)), findings };
      this.answers.set(analysis, answers);
    }
    return answers;
  }

  getChildren(node?: ReportNode): ReportNode[] {
    if (!node) return this.analyses.list().map((analysis) => ({ kind: 'checkpoint', analysis }));
    const { analysis } = node;
    if (node.kind === 'checkpoint' && this.grouped)
      return byModule(analysis.report.layers, (l) => l).map(([module, layers]) => ({ kind: 'module', analysis, module, layers }));
    const layers = node.kind === 'checkpoint' ? analysis.report.layers : node.kind === 'module' ? node.layers : [];
    return layers.map((layer) => ({ kind: 'layer', analysis, layer }));
  }

  getParent(node: ReportNode): ReportNode | undefined {
    if (node.kind === 'checkpoint') return undefined;
    if (node.kind === 'layer' && this.grouped) {
      const module = moduleOf(node.layer);
      const layers = node.analysis.report.layers.filter((l) => moduleOf(l) === module);
      return { kind: 'module', analysis: node.analysis, module, layers };
    }
    return { kind: 'checkpoint', analysis: node.analysis };
  }

  getTreeItem(node: ReportNode): vscode.TreeItem {
    if (node.kind === 'checkpoint') {
      const r = node.analysis.report;
      const item = new vscode.TreeItem(path.basename(node.analysis.uri.fsPath), vscode.TreeItemCollapsibleState.Expanded);
      item.id = node.analysis.uri.toString();
      item.description = `${percent(r.weights.sparsity)} of weights zero · ${r.format}`;
      item.tooltip =
        `${printable(r.file)}\n${this.answersFor(node.analysis).verdict.line}\n` +
        `all tensors: ${count(r.total.nnz)} of ${count(r.total.numel)} non-zero\nweights: ${count(r.weights.nnz)} of ${count(r.weights.numel)} non-zero`;
      item.resourceUri = node.analysis.uri;
      item.contextValue = 'checkpoint';
      item.command = {
        command: 'vscode.openWith',
        title: 'Open',
        arguments: [node.analysis.uri, CheckpointEditorProvider.viewTypeFor(node.analysis.uri)],
      };
      return item;
    }
    if (node.kind === 'module') {
      const { analysis, module, layers } = node;
      const item = new vscode.TreeItem(printable(module) || '(top level)', vscode.TreeItemCollapsibleState.Expanded);
      item.id = `${analysis.uri.toString()}#module:${module}`;
      const states = layers.map((l) => this.answersFor(analysis).verdict.layers.get(l.name)?.state);
      const state = states.includes('misses')
        ? 'misses'
        : states.includes('meets')
          ? 'meets'
          : states.includes('dense')
            ? 'dense'
            : undefined;
      item.description = `${layers.length} tensor${layers.length === 1 ? '' : 's'}`;
      item.iconPath = state ? STATE_ICONS[state] : new vscode.ThemeIcon('symbol-namespace');
      item.contextValue = 'module';
      return item;
    }
    const { layer, analysis } = node;
    // Names come from the file: shown escaped, never as Markdown or with their direction overrides.
    const name = printable(layerLabel(layer));
    const item = new vscode.TreeItem(name, vscode.TreeItemCollapsibleState.None);
    item.id = `${analysis.uri.toString()}#${layer.name}`;
    const answers = this.answersFor(analysis);
    const verdict = answers.verdict.layers.get(layer.name);
    const lints = answers.findings.get(layer.name) ?? 0;
    item.description =
      `${percent(layer.sparsity)} sparse` +
      (verdict ? ` · ${verdict.text}` : '') +
      (lints ? ` · ${lints} problem${lints === 1 ? '' : 's'}` : '');
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
          `${count(layer.nnz)} of ${count(layer.numel)} non-zero; ${layerFigures(layer)}`,
      );
    if (layer.note) tooltip.appendMarkdown('\n\n$(info) ').appendText(asText(printable(layer.note)));
    if (verdict?.state === 'misses') tooltip.appendMarkdown('\n\n$(warning) ').appendText(verdict.text);
    item.tooltip = tooltip;
    item.iconPath = verdict
      ? STATE_ICONS[verdict.state]
      : new vscode.ThemeIcon(layer.role === 'other' ? 'symbol-constant' : 'symbol-array');
    item.contextValue = layer.role === 'other' ? 'tensor' : 'weight';
    if (layer.role !== 'other') {
      item.command = { command: 'sparsityLens.showLayerHeatmap', title: 'Show Layer Heatmap', arguments: [analysis.uri, layer.name] };
    }
    return item;
  }
}
