/**
 * The per-layer table: a plain <table> (role grid) styled with VS Code variables. vscode-table
 * has no sorting, no row selection and no keyboard row navigation, and its div-based rows would
 * need all of that rebuilt; a native table gives screen readers real headers and aria-sort.
 *
 * Keyboard: ↑/↓/PageUp/PageDown/Home/End move the selection (the charts and the heatmap follow
 * after a short pause), Enter selects at once. Headers are buttons: click or Enter sorts.
 */
import type { SortKey } from './host';
import { h, codicon, clear } from './dom';
import { formatBytes } from '../../src/core/checkpoint';
import { printable } from '../../src/core/errors';
import { byModule } from '../../src/core/analysis/modules';
import { count, mean, percent, plural, shape } from './format';
import type { Layer } from './model';

interface Column {
  readonly key: SortKey;
  readonly label: string;
  readonly title: string;
  readonly numeric?: boolean;
  readonly value: (l: Layer) => number | string;
  readonly cell: (l: Layer) => Node | string;
}

const dash = (): HTMLElement => h('span', { class: 'muted', text: '—', attrs: { 'aria-label': 'not applicable' } });

function sparsityCell(l: Layer): Node {
  const bar = h('span', { class: 'spark-fill' });
  bar.style.width = `${(l.report.sparsity * 100).toFixed(1)}%`;
  return h(
    'span',
    { class: 'spark' },
    h('span', { class: 'spark-text', text: percent(l.report.sparsity) }),
    h('span', { class: 'spark-track', attrs: { 'aria-hidden': 'true' } }, bar),
  );
}

/** A weight nobody pruned: neither a constant fan-in pass nor an N:M failure. */
const denseCell = (): HTMLElement => h('span', { class: 'muted', text: 'dense', title: 'dense — not pruned' });

function constantCell(l: Layer): Node {
  const f = l.report.fanIn;
  if (!f) return dash();
  if (l.verdict?.state === 'dense') return denseCell();
  if (f.constant) return h('span', { class: 'ok' }, codicon('check'), ` k = ${f.k}`);
  return h('span', { class: 'bad' }, codicon('close'), ' no');
}

function nmCell(l: Layer): Node {
  const nm = l.report.nm;
  if (!nm) return dash();
  if (l.verdict?.state === 'dense') return denseCell();
  if (nm.groups === 0) return h('span', { class: 'muted', text: 'n/a', title: `No full groups (${count(nm.partial)} partial)` });
  const violating = nm.groups - nm.compliant;
  const title =
    `${count(nm.compliant)} of ${count(nm.groups)} groups comply (${percent(nm.compliant / nm.groups)})` +
    (nm.partial ? `, ${count(nm.partial)} partial` : '') +
    (violating ? `; projecting removes ${count(nm.excess)} of ${count(l.report.nnz)} non-zeros` : '');
  // Violating groups, not the compliant share: at 80 % sparsity most groups pass by chance.
  if (!violating) return h('span', { class: 'ok', title }, codicon('check'), ' all');
  return h('span', { class: 'bad', title }, `${count(violating)} ✗`);
}

function storageCell(l: Layer): Node {
  const s = l.storage;
  if (!s) return dash();
  const bytes = s[s.smallest]!;
  const saved = s.dense > 0 ? 1 - bytes / s.dense : 0;
  return h('span', {
    class: s.smallest === 'dense' ? 'muted' : '',
    text: `${l.smallestLayout} ${formatBytes(bytes)}`,
    title: s.smallest === 'dense' ? 'dense is smallest' : `${percent(saved)} smaller than dense (${formatBytes(s.dense)})`,
  });
}

/** What the status column warns about: the layer's problems and its warning or error findings (why no speed-up). */
function warnings(l: Layer): string[] {
  return [...l.problems, ...l.lints.filter((p) => p.severity !== 'info').map((p) => p.message)];
}

function statusCell(l: Layer): Node {
  const list = warnings(l);
  if (!list.length) {
    const state = l.verdict?.state;
    if (state === 'meets') return h('span', { class: 'status-ok', title: `meets the target: ${l.verdict!.text}` }, codicon('pass'));
    if (state === 'dense') return h('span', { class: 'status-dense muted', title: 'dense — not pruned' }, codicon('circle-outline'));
    return h('span', { class: 'status-ok', attrs: { 'aria-label': 'no problems' } });
  }
  const icon = codicon('warning', 'warn-icon');
  return h(
    'span',
    { class: 'status-warn', title: list.join('\n'), attrs: { role: 'img', 'aria-label': `Problems: ${list.join('; ')}` } },
    icon,
  );
}

const COLUMNS: readonly Column[] = [
  {
    key: 'status',
    label: '',
    title: 'Against the target: meets it (✓), misses it or has dead neurons (⚠), dense — not pruned (○)',
    value: (l) => warnings(l).length,
    cell: statusCell,
  },
  {
    key: 'name',
    label: 'Name',
    title: 'Tensor name',
    value: (l) => l.report.name,
    cell: (l) =>
      l.report.prunePair
        ? h(
            'span',
            { class: 'name-cell' },
            h('span', { class: 'name', text: l.label, title: l.label }),
            h('span', {
              class: 'pair-badge',
              text: 'orig × mask',
              title: `effective weight = ${printable(l.report.prunePair.orig)} × ${printable(l.report.prunePair.mask)} (torch.nn.utils.prune)`,
            }),
          )
        : h('span', { class: 'name', text: l.label, title: l.label }),
  },
  { key: 'shape', label: 'Shape', title: 'Shape as stored', value: (l) => l.report.numel, cell: (l) => shape(l.report.shape) },
  { key: 'dtype', label: 'DType', title: 'Element type', value: (l) => l.report.dtype, cell: (l) => l.report.dtype },
  {
    key: 'role',
    label: 'Role',
    title: 'linear / conv weights have fan-in; other tensors (biases, norms) do not',
    value: (l) => l.report.role,
    cell: (l) => l.report.role,
  },
  { key: 'sparsity', label: 'Sparsity', title: 'Fraction of zeros', numeric: true, value: (l) => l.report.sparsity, cell: sparsityCell },
  {
    key: 'fanMin',
    label: 'Fan-in min',
    title: 'Fewest non-zeros of an output neuron',
    numeric: true,
    value: (l) => l.report.fanIn?.min ?? -1,
    cell: (l) => (l.report.fanIn ? count(l.report.fanIn.min) : dash()),
  },
  {
    key: 'fanMean',
    label: 'mean',
    title: 'Mean non-zeros per output neuron',
    numeric: true,
    value: (l) => l.report.fanIn?.mean ?? -1,
    cell: (l) => (l.report.fanIn ? mean(l.report.fanIn.mean) : dash()),
  },
  {
    key: 'fanMax',
    label: 'max',
    title: 'Most non-zeros of an output neuron (of a dense neuron: the fan-in of the layer)',
    numeric: true,
    value: (l) => l.report.fanIn?.max ?? -1,
    cell: (l) => (l.report.fanIn ? h('span', { title: `dense: ${l.report.fanIn.dense}` }, count(l.report.fanIn.max)) : dash()),
  },
  {
    key: 'constant',
    label: 'Constant',
    title: 'Every active neuron has the same fan-in k (SRigL structure)',
    value: (l) => (l.report.fanIn ? (l.report.fanIn.constant ? 1 : 0) : -1),
    cell: constantCell,
  },
  {
    key: 'nm',
    label: 'N:M',
    title: 'N:M groups that hold more than N non-zeros (all: every group complies)',
    numeric: true,
    value: (l) => (l.report.nm && l.report.nm.groups ? l.report.nm.groups - l.report.nm.compliant : -1),
    cell: nmCell,
  },
  {
    key: 'storage',
    label: 'Smallest',
    title: 'Smallest storage layout of a weight (N:M, condensed, bitmask, CSR or dense) and its bytes',
    numeric: true,
    value: (l) => (l.storage ? l.storage[l.storage.smallest]! : -1),
    cell: storageCell,
  },
];

export interface TableOptions {
  readonly nmLabel: string;
  readonly sort: { key: SortKey; dir: 1 | -1 } | undefined;
  /** Selection moved (by click, Enter or arrows); `immediate` false while arrowing through rows. */
  readonly onSelect: (layer: Layer, immediate: boolean) => void;
  readonly onSort: (sort: { key: SortKey; dir: 1 | -1 } | undefined) => void;
}

export class LayerTable {
  readonly element: HTMLElement;
  private readonly table: HTMLTableElement;
  private readonly tbody: HTMLTableSectionElement;
  private readonly headers = new Map<SortKey, HTMLTableCellElement>();
  private readonly rows = new Map<string, HTMLTableRowElement>();
  private layers: readonly Layer[] = [];
  private visible: Layer[] = [];
  private grouped = false;
  private sort: { key: SortKey; dir: 1 | -1 } | undefined;
  private selected: string | undefined;
  private filterText = '';
  private weightsOnly = false;
  private readonly countLabel: HTMLElement;

  constructor(private readonly options: TableOptions) {
    this.sort = options.sort;
    const headRow = h('tr', { attrs: { role: 'row' } });
    for (const col of COLUMNS) {
      const label = col.key === 'nm' ? options.nmLabel : col.label;
      const button = h(
        'button',
        {
          class: 'sort-button',
          title: `${col.title}. Click to sort.`,
          attrs: { type: 'button', 'aria-label': col.key === 'status' ? 'Problems' : label },
        },
        h('span', { text: label }),
        codicon('arrow-down', 'sort-icon'),
      );
      button.addEventListener('click', () => this.toggleSort(col.key));
      const th = h('th', { class: `col-${col.key}${col.numeric ? ' num' : ''}`, attrs: { scope: 'col', role: 'columnheader' } }, button);
      this.headers.set(col.key, th);
      headRow.appendChild(th);
    }
    this.tbody = h('tbody');
    this.table = h(
      'table',
      { class: 'layers', attrs: { role: 'grid', 'aria-label': 'Tensors of the checkpoint', 'aria-readonly': 'true' } },
      h('thead', {}, headRow),
      this.tbody,
    );
    this.tbody.addEventListener('keydown', (ev) => this.onKey(ev));
    this.tbody.addEventListener('click', (ev) => {
      const row = (ev.target as HTMLElement).closest('tr');
      const layer = row && this.layerOfRow(row);
      if (layer) this.select(layer.report.name, true, true);
    });
    this.countLabel = h('span', { class: 'table-count', attrs: { 'aria-live': 'polite' } });
    this.element = h('div', { class: 'table-scroll' }, this.table);
    this.updateHeaders();
  }

  /** The count label ("12 of 40 tensors") to place in a toolbar. */
  get countElement(): HTMLElement {
    return this.countLabel;
  }

  setLayers(layers: readonly Layer[]): void {
    this.layers = layers;
    this.rows.clear();
    for (const l of layers) {
      const tr = h('tr', {
        class: `${l.isWeight ? 'weight' : 'other'}${l.problems.length ? ' has-problems' : ''}`,
        attrs: { role: 'row', tabindex: -1, 'aria-selected': 'false', 'data-name': l.report.name },
      });
      for (const col of COLUMNS) {
        tr.appendChild(h('td', { class: `col-${col.key}${col.numeric ? ' num' : ''}`, attrs: { role: 'gridcell' } }, col.cell(l)));
      }
      this.rows.set(l.report.name, tr);
    }
    this.render();
  }

  /** Whether the filter lets `name`'s row show. */
  shows(name: string): boolean {
    return this.visible.some((l) => l.report.name === name);
  }

  /** Groups the rows under a header per module (the name's prefix). */
  setGrouped(grouped: boolean): void {
    this.grouped = grouped;
    this.render();
  }

  setFilter(text: string, weightsOnly: boolean): void {
    this.filterText = text.trim().toLowerCase();
    this.weightsOnly = weightsOnly;
    this.render();
  }

  /** Marks `name` selected; scrolls it into view; `focus` moves keyboard focus to the row. */
  select(name: string, notify: boolean, immediate: boolean, focus = false): void {
    const previous = this.selected && this.rows.get(this.selected);
    if (previous) {
      previous.setAttribute('aria-selected', 'false');
      previous.tabIndex = -1;
    }
    this.selected = name;
    const row = this.rows.get(name);
    if (row) {
      row.setAttribute('aria-selected', 'true');
      row.tabIndex = 0;
      row.scrollIntoView({ block: 'nearest' });
      if (focus) row.focus({ preventScroll: true });
    }
    this.ensureTabStop();
    const layer = this.layers.find((l) => l.report.name === name);
    if (notify && layer) this.options.onSelect(layer, immediate);
  }

  private layerOfRow(row: HTMLTableRowElement): Layer | undefined {
    const name = row.dataset.name;
    return this.layers.find((l) => l.report.name === name);
  }

  private toggleSort(key: SortKey): void {
    if (!this.sort || this.sort.key !== key) {
      // Text columns ascend first; figures and problems descend first (worst/largest on top).
      const textual = key === 'name' || key === 'dtype' || key === 'role';
      this.sort = { key, dir: textual ? 1 : -1 };
    } else if ((this.sort.dir === -1) !== (key === 'name' || key === 'dtype' || key === 'role')) {
      this.sort = { key, dir: -this.sort.dir as 1 | -1 };
    } else {
      this.sort = undefined; // third click: file order
    }
    this.options.onSort(this.sort);
    this.updateHeaders();
    this.render();
  }

  private updateHeaders(): void {
    for (const [key, th] of this.headers) {
      const active = this.sort?.key === key;
      th.setAttribute('aria-sort', active ? (this.sort!.dir === 1 ? 'ascending' : 'descending') : 'none');
      th.classList.toggle('sorted', active);
      th.classList.toggle('ascending', active && this.sort!.dir === 1);
    }
  }

  private render(): void {
    let list = this.layers.filter(
      (l) => (!this.weightsOnly || l.isWeight) && (!this.filterText || l.report.name.toLowerCase().includes(this.filterText)),
    );
    if (this.sort) {
      const col = COLUMNS.find((c) => c.key === this.sort!.key)!;
      const dir = this.sort.dir;
      list = [...list].sort((a, b) => {
        const va = col.value(a);
        const vb = col.value(b);
        const c =
          typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb), 'en', { numeric: true });
        return c !== 0 ? c * dir : a.order - b.order;
      });
    }
    const fragment = document.createDocumentFragment();
    if (this.grouped) {
      // One header row per module; within a module, the rows keep the sort.
      const groups = byModule(list, (l) => l.report);
      list = groups.flatMap(([, members]) => members);
      for (const [module, members] of groups) {
        fragment.appendChild(
          h(
            'tr',
            { class: 'group-row', attrs: { role: 'row', 'aria-hidden': 'true' } },
            h(
              'td',
              { attrs: { colspan: COLUMNS.length } },
              h('span', { class: 'group-name', text: printable(module) || '(top level)' }),
              ` · ${plural(members.length, 'tensor')}`,
            ),
          ),
        );
        for (const l of members) fragment.appendChild(this.rows.get(l.report.name)!);
      }
    } else for (const l of list) fragment.appendChild(this.rows.get(l.report.name)!);
    this.visible = list;
    clear(this.tbody);
    this.tbody.appendChild(fragment);
    this.countLabel.textContent =
      list.length === this.layers.length
        ? plural(list.length, 'tensor')
        : `${count(list.length)} of ${plural(this.layers.length, 'tensor')}`;
    this.ensureTabStop();
  }

  /** Exactly one row is in the tab order: the selected one, or the first shown. */
  private ensureTabStop(): void {
    const sel = this.selected ? this.rows.get(this.selected) : undefined;
    const selShown = sel && sel.isConnected;
    for (const l of this.visible) this.rows.get(l.report.name)!.tabIndex = -1;
    if (selShown) sel!.tabIndex = 0;
    else if (this.visible.length) this.rows.get(this.visible[0].report.name)!.tabIndex = 0;
  }

  private onKey(ev: KeyboardEvent): void {
    const row = (ev.target as HTMLElement).closest('tr');
    if (!row) return;
    const index = this.visible.findIndex((l) => l.report.name === row.dataset.name);
    if (index < 0) return;
    const page = Math.max(1, Math.floor(this.element.clientHeight / Math.max(1, row.offsetHeight)) - 1);
    let next = index;
    switch (ev.key) {
      case 'ArrowDown':
        next = index + 1;
        break;
      case 'ArrowUp':
        next = index - 1;
        break;
      case 'PageDown':
        next = index + page;
        break;
      case 'PageUp':
        next = index - page;
        break;
      case 'Home':
        next = 0;
        break;
      case 'End':
        next = this.visible.length - 1;
        break;
      case 'Enter':
      case ' ':
        ev.preventDefault();
        this.select(this.visible[index].report.name, true, true, true);
        return;
      default:
        return;
    }
    ev.preventDefault();
    next = Math.max(0, Math.min(this.visible.length - 1, next));
    this.select(this.visible[next].report.name, true, false, true);
  }
}
