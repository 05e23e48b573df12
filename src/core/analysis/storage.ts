import { itemSize } from '../dtype';
import type { NmPattern } from '../nmPattern';
import type { LayerReport, SparsityReport } from './report';

/** Bytes one weight layer would take in each layout; null where the layout does not apply to it. */
export interface LayerStorage {
  readonly name: string;
  readonly dense: number;
  /** Values + int32 column indices + int32 row pointers. */
  readonly csr: number;
  /** One bit per weight + the non-zero values. */
  readonly bitmask: number;
  /** N of every M values + ⌈log2 M⌉ index bits each; only for a layer whose groups all comply (and none is partial). */
  readonly nm: number | null;
  /** SRigL's condensed rows (values + int16/int32 indices, int32 row ids); only for constant fan-in. */
  readonly condensed: number | null;
  /** The smallest of the above. */
  readonly smallest: 'dense' | 'csr' | 'bitmask' | 'nm' | 'condensed';
}

/** How outputs name a layout: the N:M pattern as written ("2:4"), the others by their names. */
export function layoutName(layout: LayerStorage['smallest'], nm: NmPattern): string {
  return layout === 'nm' ? `${nm.n}:${nm.m}` : { dense: 'dense', condensed: 'condensed', bitmask: 'bitmask', csr: 'CSR' }[layout];
}

export interface StorageEstimate {
  readonly layers: readonly LayerStorage[];
  /** Sums over the weight layers; for nm and condensed a layer they do not apply to counts as dense. */
  readonly total: {
    readonly dense: number;
    readonly csr: number;
    readonly bitmask: number;
    readonly nm: number;
    readonly condensed: number;
    readonly smallest: number;
  };
}

/** Index type of the condensed layout: int16 while column indices fit it, as the condensed export writes them. */
const INT16_MAX = 32767;

/** Storage of one linear or conv weight in each layout (formulas as documented in the README). */
export function layerStorage(l: LayerReport, nm: NmPattern): LayerStorage | undefined {
  const f = l.fanIn;
  if (!f) return undefined;
  const size = itemSize(l.dtype);
  const rows = f.dense > 0 ? Math.round(l.numel / f.dense) : 0;
  const dense = l.numel * size;
  const csr = l.nnz * (size + 4) + (rows + 1) * 4;
  const bitmask = Math.ceil(l.numel / 8) + l.nnz * size;
  let nmBytes: number | null = null;
  if (l.nm && l.nm.groups > 0 && l.nm.compliant === l.nm.groups && l.nm.partial === 0) {
    const kept = (l.numel * nm.n) / nm.m;
    nmBytes = kept * size + Math.ceil((kept * Math.ceil(Math.log2(nm.m))) / 8);
  }
  let condensed: number | null = null;
  if (f.constant && f.k !== null) {
    const active = rows - f.zeroNeurons;
    condensed = active * f.k * (size + (f.dense <= INT16_MAX ? 2 : 4)) + active * 4;
  }
  // On a tie the structured layouts win: they also run fast.
  const sizes = { dense, nm: nmBytes, condensed, bitmask, csr };
  let smallest: LayerStorage['smallest'] = 'dense';
  for (const [layout, bytes] of Object.entries(sizes) as [LayerStorage['smallest'], number | null][]) {
    if (bytes !== null && bytes < sizes[smallest]!) smallest = layout;
  }
  return { name: l.name, ...sizes, smallest };
}

export function storageEstimate(report: Pick<SparsityReport, 'layers' | 'nm'>): StorageEstimate {
  const layers = report.layers.flatMap((l) => layerStorage(l, report.nm) ?? []);
  const sum = (bytes: (s: LayerStorage) => number) => layers.reduce((a, s) => a + bytes(s), 0);
  return {
    layers,
    total: {
      dense: sum((s) => s.dense),
      csr: sum((s) => s.csr),
      bitmask: sum((s) => s.bitmask),
      nm: sum((s) => s.nm ?? s.dense),
      condensed: sum((s) => s.condensed ?? s.dense),
      smallest: sum((s) => s[s.smallest]!),
    },
  };
}
