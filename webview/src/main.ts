/**
 * Entry of the checkpoint editor webview (bundled to dist/webview.js: iife, platform browser).
 * Talks to the extension host only through the messages of src/protocol.ts.
 */
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-collapsible/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-radio/index.js';
import '@vscode-elements/elements/dist/vscode-radio-group/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import '@vscode-elements/elements/dist/vscode-toolbar-button/index.js';
import '@vscode-elements/elements/dist/vscode-toolbar-container/index.js';

import type { CheckpointPlan } from '../../src/core/analysis/checkpointPlan';
import { layerLabel } from '../../src/core/analysis/layerLabel';
import type { LayerNeurons, LayerReport, SparsityReport } from '../../src/core/analysis/report';
import { printable } from '../../src/core/errors';
import { verdictOf, type TargetKind, type Verdict } from '../../src/core/analysis/target';
import type { ColumnOrder } from '../../src/core/neuronView';
import type { NmPattern } from '../../src/core/nmPattern';
import { MessageHandler } from '../../src/rpc/messageHandler';
import type { FromWebview, HostMethods, ToWebview } from '../../src/webview/protocol';
import type { CheckpointDiff } from '../../src/core/analysis/diff';
import { DensityChart, FanInHistogram, NmChart } from './charts';
import { ComparisonSection } from './comparison';
import { clear, codicon, h } from './dom';
import { formatBytes as bytes } from '../../src/core/checkpoint';
import { basename, count, percent, shape } from './format';
import { HeatmapView } from './heatmap';
import { getState, post, saveView, updateState } from './host';
import { LayerTable } from './layerTable';
import { PlanSection } from './plan';
import { buildLayers, type Layer } from './model';
import { renderSummary } from './summary';
import { TargetBar } from './targetBar';
import { TrainingSection } from './training';
import { observeTheme, readTheme, type Theme } from './theme';

type InitMessage = ToWebview['init'];
type HostChannel = MessageHandler<Record<never, never>, HostMethods, ToWebview, FromWebview>;

class App {
  private theme: Theme = readTheme();
  private report: SparsityReport | null = null;
  private neurons: readonly LayerNeurons[] = [];
  private target: TargetKind = 'nm';
  /** The Plan section's plan, for the plan target and the ablation marks. */
  private plan: CheckpointPlan | null = null;
  private verdict: Verdict | null = null;
  private layers: Layer[] = [];
  private selected: Layer | null = null;
  private detailTimer = 0;

  private readonly root: HTMLElement;
  private readonly summarySlot = h('div', { class: 'summary-slot' });
  private readonly loadingText = h('span', { text: 'Analysing checkpoint…' });
  /** The rows scanned so far, shown while a large file is analysed (the full table replaces them). */
  private readonly provisionalRows = h('tbody');
  private readonly provisional = h(
    'table',
    { class: 'data-table provisional', attrs: { 'aria-label': 'Tensors scanned so far' } },
    h('thead', {}, h('tr', {}, ...['Tensor', 'Shape', 'Sparsity'].map((t) => h('th', { text: t })))),
    this.provisionalRows,
  );
  private readonly targetBar = new TargetBar((kind, nm) => this.chooseTarget(kind, nm));
  private readonly banner = h('div', { class: 'banner', attrs: { role: 'alert' } });
  private readonly densityChart = new DensityChart((l) => this.select(l.report.name, 'user', true));
  private readonly nmChart = new NmChart((l) => this.select(l.report.name, 'user', true));
  private readonly histogram = new FanInHistogram();
  private readonly heatmap: HeatmapView;
  private table: LayerTable | null = null;
  private planSection: PlanSection | null = null;
  private filterField: (HTMLElement & { value: string }) | null = null;
  private weightsOnlyBox: (HTMLElement & { checked: boolean }) | null = null;
  private readonly comparison = new ComparisonSection({
    labelOf: (name) => this.layers.find((l) => l.report.name === name)?.label ?? name,
    onSelect: (name) => this.select(name, 'user', true),
    onClose: () => {
      this.comparison.show(null);
      this.heatmap.setComparison(null);
      this.host.notify('closeComparison', null);
    },
  });
  private readonly tableSlot = h('div', { class: 'table-slot' });
  private readonly tableCount = h('span', { class: 'table-count' });
  private readonly detailHeader = h('div', { class: 'detail-header' });
  private readonly histogramTitle = h('h3', { class: 'figure-title', text: 'Fan-in histogram' });
  private readonly histogramNote = h('div', { class: 'figure-note' });
  private readonly nmChartTitle = h('h3', { class: 'figure-title', text: 'Distance from the target per weight tensor' });
  /** A fine-tune of this checkpoint, live (shown from its first message, even while the analysis runs). */
  readonly training = new TrainingSection(this.theme, getState().training, (training) => {
    updateState({ training });
    if (training === null) this.host.notify('closeTraining', null);
  });

  constructor(
    root: HTMLElement,
    private readonly host: HostChannel,
  ) {
    this.root = root;
    this.banner.hidden = true;
    this.heatmap = new HeatmapView(this.theme, {
      fetchTiles: (layer, window, width, height) => host.request('heatmap', { layer, window, width, height, ...this.orderOf(layer) }),
      fetchValues: (layer, window) => host.request('weightWindow', { layer, window, ...this.orderOf(layer) }),
      fetchChanges: (layer, window, width, height) => host.request('changeTiles', { layer, window, width, height, ...this.orderOf(layer) }),
      findViolation: (layer, row, col, direction) => host.request('findViolation', { layer, row, col, direction }),
      onViewChange: (layer, view) => saveView(layer, view),
      onModeChange: (mode) => updateState({ mode }),
    });
    const saved = getState();
    if (saved.mode && saved.mode !== 'changes') this.heatmap.setMode(saved.mode);
    clear(root);
    root.append(
      h(
        'div',
        { class: 'loading-screen', attrs: { role: 'status' } },
        h('vscode-progress-ring', { attrs: { 'aria-label': 'Loading' } }),
        this.loadingText,
      ),
      this.provisional,
    );
    root.prepend(this.training.element);
    this.provisional.hidden = true;
    observeTheme(() => this.onThemeChange());
  }

  /** The host selected a layer (from the tree or a command). */
  selectFromHost(layer: string): void {
    if (this.layers.some((l) => l.report.name === layer)) this.select(layer, 'host', true);
  }

  /** Clears the table's filter so that `layer` shows (and "Weights only" when it is not a weight). */
  private clearFilter(layer: Layer): void {
    if (this.filterField) this.filterField.value = '';
    if (this.weightsOnlyBox && !layer.isWeight) this.weightsOnlyBox.checked = false;
    const weightsOnly = this.weightsOnlyBox?.checked ?? false;
    updateState({ filter: '', weightsOnly });
    this.table?.setFilter('', weightsOnly);
  }

  /** Conv weights are drawn kernel position first, so an N:M group's channels sit side by side. */
  private orderOf(layer: string): { order?: ColumnOrder } {
    const g = this.layers.find((l) => l.report.name === layer)?.geometry;
    return g && g.K > 1 ? { order: 'position-major' } : {};
  }

  /** Shows the comparison with another checkpoint, and its changes in the heatmap. */
  compare(diff: CheckpointDiff): void {
    if (!this.table) return; // the host sends it after init
    this.comparison.show(diff);
    this.comparison.setSelected(this.selected?.report.name);
    const comparable = diff.layers.filter((l) => l.turnedOn !== null).map((l) => l.name);
    this.heatmap.setComparison({ label: basename(diff.fileB), layers: new Set(comparable) }, true);
    const current = this.selected?.report.name;
    if (comparable.length && (!current || !comparable.includes(current))) this.select(comparable[0], 'user', true);
    this.comparison.element.scrollIntoView({ block: 'nearest' });
  }

  /** The analysis is under way: how far (shown until the first report arrives). */
  showProgress(message: string, layers: readonly LayerReport[]): void {
    this.loadingText.textContent = `Analysing checkpoint… ${message}`;
    if (this.table) return; // the full table is up (a re-analysis): it stays until the new one
    this.provisional.hidden = false;
    for (const l of layers) {
      const label = printable(layerLabel(l));
      this.provisionalRows.appendChild(
        h(
          'tr',
          {},
          h('td', { class: 'name', text: label, title: label }),
          h('td', { class: 'num', text: shape(l.shape) }),
          h('td', { class: 'num', text: percent(l.sparsity) }),
        ),
      );
    }
  }

  /** The analysis failed (before init) or was cancelled: the sentence, and what the user can do. */
  showBanner(text: string): void {
    clear(this.banner);
    const sentence = h('span', { class: 'banner-text', text });
    const action = (label: string, message: 'reopen' | 'showLog', secondary = false) =>
      h('vscode-button', {
        attrs: { ...(secondary ? { secondary: true } : {}) },
        text: label,
        on: {
          click: () => {
            if (message === 'reopen') sentence.textContent = 'Analysing the file again…';
            this.host.notify(message, null);
          },
        },
      });
    this.banner.append(
      codicon('error'),
      sentence,
      h('span', { class: 'banner-actions' }, action('Reopen', 'reopen'), action('Show Log', 'showLog', true)),
    );
    this.banner.hidden = false;
    if (!this.table) {
      clear(this.root);
      this.root.append(this.banner, this.training.element);
    }
  }

  init(msg: InitMessage): void {
    this.report = msg.report;
    this.neurons = msg.neurons;
    this.target = msg.target;
    this.plan = null;
    this.banner.hidden = true;
    this.heatmap.setSettings(msg.settings.maxHeatmapCells, msg.settings.zeroThreshold);
    this.heatmap.setAblation(new Map());
    if (!this.table) this.build();
    this.planSection!.reset();
    this.selected = null;
    this.show(msg.select);
    if (this.target === 'plan') this.planSection!.open();
  }

  /** Another target was chosen elsewhere (another editor, Check N:M). */
  setTarget(kind: TargetKind): void {
    if (!this.report || kind === this.target) return;
    this.target = kind;
    if (kind === 'plan') this.planSection?.open();
    this.show();
  }

  /** The user picked a target here: every view follows (a new N:M pattern is a new analysis, sent by the host). */
  private chooseTarget(kind: TargetKind, nm?: string): void {
    const report = this.report;
    if (!report) return;
    this.host.notify('setTarget', nm === undefined ? { kind } : { kind, nm });
    if (kind === 'nm' && nm !== undefined && nm !== `${report.nm.n}:${report.nm.m}`) return;
    this.setTarget(kind);
  }

  /**
   * Draws the report against the target: the verdict, the summary, the table, the charts and the
   * selected layer's header; `select` picks a layer first (else the one selected stays).
   */
  private show(select?: string): void {
    const report = this.report!;
    this.verdict = verdictOf(report, this.target, this.plan ?? undefined);
    this.layers = buildLayers(report, this.neurons, this.verdict, this.target);
    const saved = getState();
    clear(this.summarySlot);
    this.summarySlot.appendChild(renderSummary(report, this.layers, this.target));
    this.targetBar.update(this.target, report.nm, this.verdict);
    this.nmChartTitle.textContent = `Distance from the target per weight tensor`;

    this.table!.setLayers(this.layers);
    this.table!.setFilter(saved.filter ?? '', saved.weightsOnly ?? false);

    const names = new Set(this.layers.map((l) => l.report.name));
    const firstWeight = this.layers.find((l) => l.geometry) ?? this.layers.find((l) => l.isWeight) ?? this.layers[0];
    const current = this.selected?.report.name;
    const pick = [select, current, saved.selected].find((n) => n && names.has(n)) ?? firstWeight?.report.name;
    this.densityChart.setData(this.layers, pick, this.theme);
    this.nmChart.setData(this.layers, targetAxis(this.target, report.nm), pick, this.theme);
    this.selected = null;
    if (pick) this.select(pick, select ? 'host' : 'restore', true);
    else {
      this.heatmap.setLayer(null, report.nm);
      this.histogram.setLayer(null, this.theme);
    }
  }

  /** Builds the page once; `init` fills it (again when the analysis is redone). */
  private build(): void {
    const saved = getState();
    this.table = new LayerTable({
      nmLabel: 'N:M',
      sort: saved.sort,
      onSelect: (layer, immediate) => this.select(layer.report.name, 'user', immediate),
      onSort: (sort) => updateState({ sort }),
    });
    this.tableSlot.appendChild(this.table.element);
    this.tableCount.appendChild(this.table.countElement);

    const filter = (this.filterField = h('vscode-textfield', {
      class: 'filter',
      attrs: { placeholder: 'Filter tensors by name', 'aria-label': 'Filter tensors by name', value: saved.filter ?? '' },
    }) as HTMLElement & { value: string });
    filter.appendChild(h('vscode-icon', { attrs: { slot: 'content-before', name: 'filter' } }));
    const weightsOnly = (this.weightsOnlyBox = h('vscode-checkbox', {
      attrs: { label: 'Weights only', checked: saved.weightsOnly ?? false },
    }) as HTMLElement & { checked: boolean });
    const applyFilter = (): void => {
      updateState({ filter: filter.value, weightsOnly: weightsOnly.checked });
      this.table!.setFilter(filter.value, weightsOnly.checked);
    };
    filter.addEventListener('input', applyFilter);
    weightsOnly.addEventListener('change', applyFilter);
    const byModule = h('vscode-checkbox', { attrs: { label: 'By module', checked: saved.byModule ?? false } }) as HTMLElement & {
      checked: boolean;
    };
    byModule.addEventListener('change', () => {
      updateState({ byModule: byModule.checked });
      this.table!.setGrouped(byModule.checked);
    });
    this.table.setGrouped(saved.byModule ?? false);

    const figure = (title: HTMLElement, ...children: (HTMLElement | null)[]): HTMLElement =>
      h('figure', { class: 'figure' }, title, ...children);

    const overview = h(
      'vscode-collapsible',
      {
        class: 'section overview',
        attrs: { heading: 'Overview', description: 'where the model is sparse', open: saved.overviewOpen ?? true },
      },
      h(
        'div',
        { class: 'charts-row' },
        figure(h('h3', { class: 'figure-title', text: 'Density per weight tensor' }), this.densityChart.element),
        figure(this.nmChartTitle, this.nmChart.element),
      ),
    );
    overview.addEventListener('vsc-collapsible-toggle', (ev) =>
      updateState({ overviewOpen: (ev as CustomEvent<{ open: boolean }>).detail.open }),
    );

    const layersSection = h(
      'section',
      { class: 'panel layers-panel', attrs: { 'aria-label': 'Tensors' } },
      h(
        'div',
        { class: 'panel-toolbar' },
        h('h2', { class: 'panel-title', text: 'Tensors' }),
        this.tableCount,
        h('span', { class: 'toolbar-spacer' }),
        byModule,
        weightsOnly,
        filter,
      ),
      this.tableSlot,
    );

    const detailSection = h(
      'section',
      { class: 'panel detail-panel', attrs: { 'aria-label': 'Selected tensor' } },
      this.detailHeader,
      h('div', { class: 'detail-body' }, this.heatmap.element, figure(this.histogramTitle, this.histogram.element, this.histogramNote)),
    );

    this.planSection = new PlanSection(
      (distribution, sparsity) => this.host.request('plan', { distribution, sparsity }),
      (plan) => {
        this.plan = plan;
        this.heatmap.setAblation(new Map(plan?.layers.flatMap((l) => (l.ablation ? [[l.name, new Set(l.ablation.candidates)]] : []))));
        if (this.target === 'plan') this.show();
      },
      this.theme,
      saved.planOpen ?? false,
      (open) => updateState({ planOpen: open }),
    );

    clear(this.root);
    this.root.append(
      this.banner,
      this.training.element,
      this.summarySlot,
      this.targetBar.element,
      this.comparison.element,
      overview,
      this.planSection.element,
      h('div', { class: 'main-grid' }, layersSection, detailSection),
    );
  }

  /**
   * Selects a tensor. `immediate` false (arrowing through the table) waits for a pause before the
   * heatmap and the histogram follow; the table and the bar highlights follow at once.
   */
  private select(name: string, source: 'user' | 'host' | 'restore', immediate: boolean): void {
    const layer = this.layers.find((l) => l.report.name === name);
    if (!layer) return;
    // A layer asked for from outside (the tree, a command, a finding) is never hidden by the table's filter.
    if (this.table && !this.table.shows(name)) this.clearFilter(layer);
    this.table?.select(name, false, true);
    this.comparison.setSelected(name);
    this.densityChart.setSelected(name, this.theme);
    this.nmChart.setSelected(name, this.theme);
    updateState({ selected: name });
    window.clearTimeout(this.detailTimer);
    const apply = (): void => {
      if (this.selected === layer) return;
      this.selected = layer;
      this.renderDetail(layer);
      if (source === 'user') this.host.notify('selected', { layer: name });
    };
    if (immediate) apply();
    else this.detailTimer = window.setTimeout(apply, 150);
  }

  private renderDetail(layer: Layer): void {
    const r = layer.report;
    const f = r.fanIn;
    const nm = this.report!.nm;
    clear(this.detailHeader);
    const facts: string[] = [shape(r.shape), r.dtype, r.role, `${percent(r.sparsity)} sparse`];
    if (layer.verdict?.state === 'dense') facts.push('dense — not pruned');
    else {
      if (f) facts.push(f.constant ? `constant fan-in k = ${f.k} of ${f.dense}` : `fan-in ${f.min}–${f.max} of ${f.dense}`);
      if (r.nm && r.nm.groups) facts.push(`${nm.n}:${nm.m} ${percent(r.nm.compliant / r.nm.groups)}`);
    }
    const storage = layer.storage;
    if (storage && storage.smallest !== 'dense') {
      facts.push(`stored as ${layer.smallestLayout}: ${bytes(storage[storage.smallest]!)} (dense ${bytes(storage.dense)})`);
    }
    // How the shown values were derived from the file (effective pruned weight, zero point, …).
    if (r.note) facts.push(r.prunePair ? `${r.note} (torch.nn.utils.prune)` : r.note);
    this.detailHeader.append(
      h('h2', { class: 'detail-title', text: layer.label, title: layer.label }),
      h('div', { class: 'detail-facts' }, ...facts.map((t) => h('span', { class: 'fact', text: t }))),
    );
    if (layer.problems.length) {
      this.detailHeader.appendChild(
        h(
          'ul',
          { class: 'problems', attrs: { 'aria-label': 'Problems' } },
          ...layer.problems.map((p) => h('li', {}, codicon('warning', 'warn-icon'), h('span', { text: p }))),
        ),
      );
    }
    if (layer.lints.length) {
      const icon = { error: 'error', warning: 'warning', info: 'info' } as const;
      this.detailHeader.appendChild(
        h(
          'ul',
          { class: 'problems lints', attrs: { 'aria-label': 'Why no speed-up' } },
          ...layer.lints.map((p) =>
            h('li', { title: p.code }, codicon(icon[p.severity], `${p.severity}-icon`), h('span', { text: p.message })),
          ),
        ),
      );
    }
    this.heatmap.setLayer(layer, nm, getState().views?.[r.name]);
    this.histogramTitle.textContent = `Fan-in histogram`;
    this.histogram.setLayer(layer.geometry?.fanIn ? layer : null, this.theme);
    this.histogramNote.textContent = !f
      ? 'Not a linear or conv weight: no fan-in.'
      : !layer.geometry?.fanIn
        ? 'Per-neuron fan-in not available.'
        : f.constant
          ? `All ${count(Math.round(r.numel / f.dense) - f.zeroNeurons)} active neurons have ${f.k} non-zeros${f.zeroNeurons ? `; ${count(f.zeroNeurons)} are dead` : ''}.`
          : `Mean ${f.mean.toFixed(1)}, ${f.min}–${f.max} non-zeros per neuron${f.zeroNeurons ? `; ${count(f.zeroNeurons)} dead` : ''}.`;
    this.histogram.element.hidden = !layer.geometry?.fanIn;
  }

  private onThemeChange(): void {
    this.theme = readTheme();
    this.training.setTheme(this.theme);
    if (!this.report) return;
    const name = this.selected?.report.name;
    this.densityChart.setData(this.layers, name, this.theme);
    this.nmChart.setData(this.layers, targetAxis(this.target, this.report.nm), name, this.theme);
    this.histogram.setLayer(this.selected?.geometry?.fanIn ? this.selected : null, this.theme);
    this.heatmap.setTheme(this.theme);
    this.planSection?.setTheme(this.theme);
  }
}

/** What the distance chart measures for a target. */
function targetAxis(target: TargetKind, nm: NmPattern): string {
  return target === 'nm' ? `removed by ${nm.n}:${nm.m}` : target === 'fan-in' ? 'fan-in spread' : 'gap to the plan';
}

const root = document.getElementById('app') ?? document.body.appendChild(h('div', { id: 'app' }));
const host: HostChannel = new MessageHandler<Record<never, never>, HostMethods, ToWebview, FromWebview>(
  post,
  {},
  {
    init: (msg) => app.init(msg),
    select: ({ layer }) => app.selectFromHost(layer),
    compare: ({ diff }) => app.compare(diff),
    target: ({ kind }) => app.setTarget(kind),
    progress: ({ message, layers }) => app.showProgress(message, layers),
    failed: ({ message }) => app.showBanner(message),
    trainingStarted: (started) => app.training.start(started),
    trainingProgress: ({ run, points, seconds }) => app.training.progress(run, points, seconds),
    trainingFinished: (finished) => app.training.finish(finished),
  },
);
const app = new App(root, host);
window.addEventListener('message', (ev: MessageEvent<unknown>) => host.receive(ev.data));
host.notify('ready', null);
