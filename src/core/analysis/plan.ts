import { numelOf } from '../checkpoint';

/**
 * Layer-wise density plans as SRigL's reference computes them (condensed-sparsity's
 * `RigLScheduler`, a port of google-research/rigl): ERK, ER and uniform, each layer's constant
 * fan-in k, in the reference's floating-point order so that every floor lands where it does there.
 */
export type Distribution = 'erk' | 'er' | 'uniform';

export const DISTRIBUTIONS: readonly Distribution[] = ['erk', 'er', 'uniform'];

/** A weight the plan allocates density to: a linear or conv weight, in file order. */
export interface PlanInput {
  readonly name: string;
  readonly shape: readonly number[];
  /** Output neurons (rows). */
  readonly nOut: number;
  /** Input channels or features, kernel positions left out (ER's n_in). */
  readonly nIn: number;
}

export interface PlanOptions {
  /** The global density d (the reference's `dense_allocation`), in (0, 1]. */
  readonly density: number;
  readonly distribution: Distribution;
  /** ERK / ER power scale p: raw = (Σ shape / Π shape)^p; 1 by default. */
  readonly power?: number;
  /** Layers forced dense, by index into the inputs. */
  readonly forcedDense?: ReadonlySet<number>;
}

export interface PlannedLayer {
  readonly name: string;
  readonly shape: readonly number[];
  readonly numel: number;
  /** Weights per output neuron when dense (the reference's fan-in D). */
  readonly denseFanIn: number;
  readonly targetSparsity: number;
  readonly targetDensity: number;
  /** Sparsity ≤ 0: the reference gives the layer no mask. */
  readonly dense: boolean;
  /** int(numel · (1 − s)): the non-zeros the plan allows. */
  readonly targetNnz: number;
  /** Constant fan-in: targetNnz // nOut (the dense fan-in when dense); null when it would be 0. */
  readonly k: number | null;
  /** Why there is no k (the reference raises here), in words a user can act on. */
  readonly kError?: string;
  /** nOut · k: the non-zeros of the constant fan-in mask. */
  readonly constFanInNnz: number;
}

export interface DensityPlan {
  readonly distribution: Distribution;
  readonly density: number;
  readonly power: number;
  /** ERK / ER's ε (undefined for uniform, or when every layer is dense). */
  readonly epsilon?: number;
  readonly layers: readonly PlannedLayer[];
}

/**
 * The global density a user means by `--sparsity S` or `--density D`, as a decimal literal: the
 * reference is configured with `dense_allocation = 0.1`, and 1 − 0.9 in binary floating point is
 * 0.09999999999999998, which moves floors (int(N · (1 − d)), int(numel · (1 − s))). The
 * complement is therefore rounded to 12 significant digits, past any digit a user writes.
 */
export function densityFromSparsity(sparsity: number): number {
  return Number((1 - sparsity).toPrecision(12));
}

/** A plan that cannot be made as asked (the message says what to change). */
export class PlanError extends Error {}

export function planDensities(inputs: readonly PlanInput[], options: PlanOptions): DensityPlan {
  const { density: d, distribution } = options;
  const power = options.power ?? 1;
  if (!(d > 0 && d <= 1)) throw new RangeError(`the density must be in (0, 1], not ${d}`);
  if (!(power >= 0 && Number.isFinite(power))) throw new RangeError(`the power scale must be a finite number ≥ 0, not ${power}`);
  const forced = options.forcedDense ?? new Set<number>();
  const numels = inputs.map((l) => numelOf(l.shape));
  let sparsities: number[];
  let epsilon: number | undefined;
  if (distribution === 'uniform') sparsities = uniformSparsities(numels, d, forced);
  else {
    const raw = inputs.map((l, i) =>
      distribution === 'erk' ? (sum(l.shape) / numels[i]) ** power : ((l.nOut + l.nIn) / (l.nOut * l.nIn)) ** power,
    );
    ({ sparsities, epsilon } = epsilonSparsities(numels, raw, d, forced));
  }
  const layers = inputs.map((l, i): PlannedLayer => {
    const numel = numels[i];
    const s = sparsities[i];
    const denseFanIn = l.nOut === 0 ? 0 : numel / l.nOut;
    const dense = s <= 0;
    // 1 − s as the reference computes it from s (1 − (1 − ε·raw)), not ε·raw: k must floor the same way.
    const targetDensity = dense ? 1 : 1 - s;
    const targetNnz = dense ? numel : Math.floor(numel * (1 - s));
    const k = dense ? denseFanIn : l.nOut === 0 ? 0 : Math.floor(targetNnz / l.nOut);
    const base = { name: l.name, shape: l.shape, numel, denseFanIn, targetSparsity: dense ? 0 : s, targetDensity, dense, targetNnz };
    if (k === 0 && numel > 0) {
      return {
        ...base,
        k: null,
        kError: `fan-in after pruning is 0 (${targetNnz} weights for ${l.nOut} neurons): lower the sparsity or widen the layer`,
        constFanInNnz: 0,
      };
    }
    return { ...base, k, constFanInNnz: l.nOut * k };
  });
  return { distribution, density: d, power, ...(epsilon !== undefined ? { epsilon } : {}), layers };
}

/**
 * ERK's loop (spec §1.2): ε spreads the non-zeros in proportion to raw_l · N_l; a layer whose
 * density raw_l · ε would pass 1 is made dense and its surplus given to the others. Tie rule:
 * the first layer of the largest raw is made dense per pass, as condensed-sparsity does (google
 * takes every tied layer at once; both end at the same sparsities).
 */
function epsilonSparsities(
  numels: readonly number[],
  raw: readonly number[],
  d: number,
  forced: ReadonlySet<number>,
): { sparsities: number[]; epsilon?: number } {
  const dense = new Set(forced);
  for (;;) {
    let rhs = 0;
    let divisor = 0;
    numels.forEach((n, i) => {
      const zeros = Math.floor(n * (1 - d));
      if (dense.has(i)) rhs -= zeros;
      else {
        rhs += n - zeros;
        divisor += raw[i] * n;
      }
    });
    if (divisor === 0) return { sparsities: numels.map(() => 0) };
    if (rhs <= 0) {
      // The reference would go on with ε ≤ 0 and a negative density; say what to change instead.
      const kept = numels.reduce((a, n, i) => a + (dense.has(i) ? n : 0), 0);
      const budget = Math.floor(d * numels.reduce((a, n) => a + n, 0));
      throw new PlanError(
        `the layers kept dense hold ${kept} weights, more than the ${budget} a density of ${d} allows: lower the sparsity or keep fewer layers dense`,
      );
    }
    const epsilon = rhs / divisor;
    let widest = -1;
    numels.forEach((_, i) => {
      if (!dense.has(i) && (widest < 0 || raw[i] > raw[widest])) widest = i;
    });
    if (raw[widest] * epsilon > 1) {
      dense.add(widest);
      continue;
    }
    return { sparsities: numels.map((_, i) => (dense.has(i) ? 0 : 1 - epsilon * raw[i])), epsilon };
  }
}

/** Uniform (spec §1.3): one sparsity for every layer not forced dense, compensating for the dense ones. */
function uniformSparsities(numels: readonly number[], d: number, forced: ReadonlySet<number>): number[] {
  const total = sum(numels);
  const denseTotal = sum(numels.filter((_, i) => forced.has(i)));
  const sparseTotal = total - denseTotal;
  let s = sparseTotal === 0 ? 0 : 1 - (total * d - denseTotal) / sparseTotal;
  if (s > 1) s = 1 - d;
  return numels.map((_, i) => (forced.has(i) ? 0 : s));
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
