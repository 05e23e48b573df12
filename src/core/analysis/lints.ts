import { formatBytes, formatCount } from '../checkpoint';
import type { DType } from '../dtype';
import { printable } from '../errors';
import type { NmPattern } from '../nmPattern';
import type { LayerNeurons, LayerReport } from './report';
import { layerStorage, layoutName } from './storage';

/** One reason a layer will not run faster, with what to do about it. */
export interface Lint {
  /** The tensor's name, as in the report's layers. */
  readonly layer: string;
  readonly code: LintCode;
  readonly severity: 'error' | 'warning' | 'info';
  /** One sentence a user can act on. */
  readonly message: string;
}

export type LintCode =
  | 'nm-axis-not-multiple'
  | 'tensor-core-shape'
  | 'grouped-conv'
  | 'dtype-not-accelerated'
  | 'nm-incomplete'
  | 'fanin-almost-constant'
  | 'unstructured'
  | 'mask-beside-weight'
  | 'zeros-stored-densely'
  | 'small-layer';

/** A weight is taken as pruned from this share of zeros on: a trained dense weight has almost none. */
const PRUNED_FROM = 0.05;
/** A layer looks meant to be N:M when this share of its groups comply and it is not much sparser than N/M (where groups comply by chance). */
const NM_INTENT_COMPLIANT = 0.9;
const NM_INTENT_DENSITY = 0.9;
/** Fan-in is almost constant when one value is shared by this share of the live neurons, but not all. */
const ALMOST_CONSTANT = 0.9;
/** Sparse kernels (cuSPARSELt 2:4, condensed rows) pay off from about this many neurons and this fan-in on. */
const SMALL_LAYER_SIDE = 256;
/** Element types sparse tensor cores and the condensed kernels take (TF32 for float32). */
const ACCELERATED: ReadonlySet<DType> = new Set(['float16', 'bfloat16', 'float32', 'int8', 'float8_e4m3fn', 'float8_e5m2']);

const percent = (x: number) => `${(x * 100).toFixed(1)} %`;

/**
 * "Why won't this speed up?": each linear and conv weight checked against what sparse kernels
 * need (the N:M pattern of `nm`, 2:4 tensor-core shapes, constant fan-in, dtypes, sizes, how it
 * is stored). A dense layer gets none of the structure lints. `all` is every tensor of the
 * report, to find masks stored beside dense weights.
 */
export function lintLayers(all: readonly LayerReport[], neurons: ReadonlyMap<string, LayerNeurons>, nm: NmPattern): Lint[] {
  const lints: Lint[] = [];
  const byName = new Map(all.map((t) => [t.name, t]));
  for (const l of all) {
    if (!l.fanIn) continue;
    const add = (code: LintCode, severity: Lint['severity'], message: string) => lints.push({ layer: l.name, code, severity, message });
    const geometry = neurons.get(l.name)?.geometry;
    const rows = l.fanIn.dense > 0 ? Math.round(l.numel / l.fanIn.dense) : 0;
    const inputs = geometry?.inDim ?? l.fanIn.dense;
    const conv = l.role === 'conv';
    const pruned = l.numel > 0 && 1 - l.nnz / l.numel >= PRUNED_FROM;
    const nmShare = l.nm && l.nm.groups > 0 ? l.nm.compliant / l.nm.groups : 0;
    const nmIntent = pruned && nmShare >= NM_INTENT_COMPLIANT && l.nnz / l.numel >= (NM_INTENT_DENSITY * nm.n) / nm.m;
    const pattern = `${nm.n}:${nm.m}`;
    const axis = conv ? 'input channels per group' : 'inputs';

    const mask = maskBeside(l, byName);
    if (l.prunePair) {
      add(
        'mask-beside-weight',
        'warning',
        `stored as ${printable(l.prunePair.orig)} and ${printable(l.prunePair.mask)} (torch.nn.utils.prune): the file holds the dense weight and its mask; call prune.remove on the module before saving`,
      );
    } else if (mask && !pruned) {
      add(
        'mask-beside-weight',
        'warning',
        `a mask, ${printable(mask.name)}, is stored beside this dense weight (${percent(1 - mask.nnz / mask.numel)} of it zero): apply it to the weight before saving, or the zeros it marks are not in the weights`,
      );
    }
    if (!pruned) continue;

    if (conv && inputs < nm.m) {
      add(
        'grouped-conv',
        'warning',
        `${inputs === 1 ? 'a depthwise convolution (1 input channel per group)' : `only ${inputs} input channels per group (a grouped convolution, or a first layer on RGB input)`}, fewer than ${nm.m}: ${pattern} kernels cannot take it; keep it dense`,
      );
    } else if (nmIntent && inputs % nm.m !== 0) {
      add(
        'nm-axis-not-multiple',
        'error',
        `${inputs} ${axis} is not a multiple of ${nm.m}, so ${pattern} cannot cover the last ${inputs % nm.m} of each row: pad the layer or keep it dense`,
      );
    }
    if (nmIntent && nm.n === 2 && nm.m === 4 && (rows % 8 !== 0 || inputs % 16 !== 0)) {
      const wrong = [
        rows % 8 !== 0 && `${rows} outputs (not a multiple of 8)`,
        inputs % 16 !== 0 && `${inputs} ${axis} (not a multiple of 16)`,
      ].filter(Boolean);
      add(
        'tensor-core-shape',
        'warning',
        `2:4 sparse tensor cores need outputs in multiples of 8 and inputs in multiples of 16; this layer has ${wrong.join(' and ')}, so NVIDIA ASP leaves it dense`,
      );
    }
    if (nmIntent && l.nm && l.nm.compliant < l.nm.groups) {
      const bad = l.nm.groups - l.nm.compliant;
      add(
        'nm-incomplete',
        'warning',
        `${formatCount(bad)} of ${formatCount(l.nm.groups)} ${pattern} groups hold more than ${nm.n} non-zeros, so the layer cannot run as ${pattern}: project it to ${pattern} again`,
      );
    }
    if (!ACCELERATED.has(l.dtype)) {
      add(
        'dtype-not-accelerated',
        'warning',
        `${l.dtype} weights: sparse kernels take float16, bfloat16, float32 (TF32), int8 or float8; cast the layer to one of them`,
      );
    }
    const almost = !l.fanIn.constant ? almostConstant(neurons.get(l.name)?.fanIn) : undefined;
    if (almost) {
      add(
        'fanin-almost-constant',
        'warning',
        `${formatCount(almost.off)} of ${formatCount(almost.live)} neurons have a fan-in other than ${almost.k} (off by up to ${almost.maxOff}): the layer is not constant fan-in; prune those rows to ${almost.k}`,
      );
    } else if (!l.fanIn.constant && !nmIntent && !(l.nm && l.nm.groups > 0 && l.nm.compliant === l.nm.groups)) {
      add(
        'unstructured',
        'warning',
        `unstructured sparsity (fan-in ${l.fanIn.min}–${l.fanIn.max}, ${percent(nmShare)} of ${pattern} groups comply): dense kernels run it at full cost; prune it to ${pattern} or to constant fan-in`,
      );
    }
    if (rows < SMALL_LAYER_SIDE || l.fanIn.dense < SMALL_LAYER_SIDE) {
      add(
        'small-layer',
        'info',
        `${rows} neurons × fan-in ${l.fanIn.dense}: below ${SMALL_LAYER_SIDE} × ${SMALL_LAYER_SIDE}, a sparse kernel's indexing costs about what the skipped multiply-adds save`,
      );
    }
    if (l.nnz <= l.numel / 2 && !l.condensed) {
      const storage = layerStorage(l, nm);
      if (storage && storage.smallest !== 'dense') {
        const best = storage[storage.smallest]!;
        add(
          'zeros-stored-densely',
          'info',
          `${percent(1 - l.nnz / l.numel)} zeros stored densely: as ${layoutName(storage.smallest, nm)} it would take ${formatBytes(best)} instead of ${formatBytes(storage.dense)}`,
        );
      }
    }
  }
  return lints;
}

/** The fan-in most live neurons share when it is at least ALMOST_CONSTANT of them, with how many are off and by how much. */
function almostConstant(fanIn: Uint32Array | undefined): { k: number; live: number; off: number; maxOff: number } | undefined {
  if (!fanIn) return undefined;
  const counts = new Map<number, number>();
  let live = 0;
  for (const f of fanIn) {
    if (f === 0) continue;
    live++;
    counts.set(f, (counts.get(f) ?? 0) + 1);
  }
  let k = 0;
  let most = 0;
  for (const [f, n] of counts) if (n > most || (n === most && f < k)) [k, most] = [f, n];
  if (live === 0 || most === live || most < ALMOST_CONSTANT * live) return undefined;
  let maxOff = 0;
  for (const f of fanIn) if (f !== 0) maxOff = Math.max(maxOff, Math.abs(f - k));
  return { k, live, off: live - most, maxOff };
}

/** A mask tensor stored beside weight `l`: same shape, named `<weight>_mask`, `<weight>.mask` or `<module>.mask`. */
function maskBeside(l: LayerReport, byName: ReadonlyMap<string, LayerReport>): LayerReport | undefined {
  const module = l.name.replace(/\.?weight$/, '');
  for (const name of [`${l.name}_mask`, `${l.name}.mask`, `${module}.mask`, `${module}.weight_mask`, `${module}_mask`]) {
    const t = byName.get(name);
    if (t && t !== l && t.shape.length === l.shape.length && t.shape.every((d, i) => d === l.shape[i])) return t;
  }
  return undefined;
}
