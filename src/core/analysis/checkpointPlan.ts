import type { CheckpointKernels, CheckpointKey } from '../../kernels/checkpointKernels';
import { printable } from '../errors';
import { matcherOf } from '../roles/roleOverrides';
import { layerLabel } from './layerLabel';
import { csvCell } from './csv';
import { escapeMarkdown } from './reportText';
import { ABLATION_NOTE, ablationOf, DEFAULT_GAMMA_SAL, type Ablation } from './ablation';
import { densityFromSparsity, DISTRIBUTIONS, planDensities, PlanError, type Distribution, type PlannedLayer } from './plan';
import type { CheckpointAnalysis, LayerNeurons, LayerReport } from './report';
import { alignedTable } from './textTable';

export interface CheckpointPlanRequest {
  /** The global density d (see densityFromSparsity for `--sparsity`). */
  readonly density: number;
  readonly distribution: Distribution;
  readonly power: number;
  /** Layers forced dense: those whose name one of these matches (`--dense PATTERN`). */
  readonly dense: readonly RegExp[];
  /** The first weight layer forced dense (`--dense-first`, the reference's keep_first_layer_dense). */
  readonly denseFirst: boolean;
  /** SRigL's γ_sal (`--gamma-sal`): a count when ≥ 1, else a share of k0. */
  readonly gammaSal: number;
  /** Layers never ablated besides the last weight layer (`--no-ablation-layers PATTERN`). */
  readonly noAblation: readonly RegExp[];
}

/** What the checkpoint holds now, beside the plan. */
export interface ActualFigures {
  readonly nnz: number;
  readonly density: number;
  readonly fanIn: { readonly min: number; readonly mean: number; readonly max: number; readonly constant: boolean };
}

export interface CheckpointPlanLayer extends PlannedLayer {
  /** The name a user knows when the file's is made up (ONNX exporters' `onnx::Conv_241`). */
  readonly displayName?: string;
  readonly actual: ActualFigures;
  /** actual.density − targetDensity: above 0 the layer holds more non-zeros than the plan. */
  readonly densityGap: number;
  /** Neuron-ablation candidates at this plan's n, for sparse layers but the last (and `noAblation`) ones. */
  readonly ablation?: Ablation;
}

/** The JSON of `sparsity-lens plan`: keys may be added, never changed. */
export interface CheckpointPlan {
  readonly file: string;
  readonly distribution: Distribution;
  readonly sparsity: number;
  readonly density: number;
  readonly power: number;
  readonly epsilon?: number;
  readonly layers: readonly CheckpointPlanLayer[];
  readonly total: { readonly numel: number; readonly targetNnz: number; readonly constFanInNnz: number; readonly actualNnz: number };
}

/**
 * The plan for a checkpoint's linear and conv weights in file order (never biases, norms or
 * role `other`: spec §1.1), each beside the figures it holds now.
 */
export function planCheckpoint({ report, neurons }: CheckpointAnalysis, request: CheckpointPlanRequest): CheckpointPlan {
  const weights = report.layers.filter((l) => (l.role === 'linear' || l.role === 'conv') && l.fanIn && neurons.has(l.name));
  const inputs = weights.map((l) => {
    const geometry = neurons.get(l.name)!.geometry;
    return { name: l.name, shape: l.shape, nOut: geometry.rows, nIn: geometry.inDim };
  });
  const forcedDense = new Set(
    weights.flatMap((l, i) => ((request.denseFirst && i === 0) || request.dense.some((m) => m.test(l.name)) ? [i] : [])),
  );
  const plan = planDensities(inputs, { density: request.density, distribution: request.distribution, power: request.power, forcedDense });
  const layers = plan.layers.map((planned, i): CheckpointPlanLayer => {
    const l = weights[i];
    const density = l.numel === 0 ? 0 : l.nnz / l.numel;
    const fanIn = l.fanIn!;
    return {
      ...planned,
      ...(l.displayName ? { displayName: l.displayName } : {}),
      actual: { nnz: l.nnz, density, fanIn: { min: fanIn.min, mean: fanIn.mean, max: fanIn.max, constant: fanIn.constant } },
      densityGap: density - planned.targetDensity,
    };
  });
  const total = { numel: 0, targetNnz: 0, constFanInNnz: 0, actualNnz: 0 };
  for (const l of layers) {
    total.numel += l.numel;
    total.constFanInNnz += l.constFanInNnz;
    total.actualNnz += l.actual.nnz;
  }
  // The global budget int(N · d): the layers' own floors may leave a few weights of it unused.
  total.targetNnz = Math.floor(total.numel * plan.density);
  return {
    file: report.file,
    distribution: plan.distribution,
    sparsity: Number((1 - plan.density).toPrecision(12)),
    density: plan.density,
    power: plan.power,
    ...(plan.epsilon !== undefined ? { epsilon: plan.epsilon } : {}),
    layers,
    total,
  };
}

/**
 * The layers ablation applies to, with the n of their plan: sparse ones with a k, except the last
 * weight layer (the reference protects the output layer by name; here it is the last weight in
 * file order) and those `request.noAblation` matches.
 */
function ablationTargets(plan: CheckpointPlan, request: CheckpointPlanRequest): { name: string; n: number }[] {
  return plan.layers
    .slice(0, -1)
    .filter((l) => !l.dense && l.k !== null && !request.noAblation.some((m) => m.test(l.name)))
    .map((l) => ({ name: l.name, n: l.targetNnz }));
}

/** The plan with each target layer's ablation, from its salient weights per row (the kernels' salientCounts). */
function withAblation(
  plan: CheckpointPlan,
  { report, neurons }: CheckpointAnalysis,
  salient: ReadonlyMap<string, Uint32Array>,
  gammaSal: number,
): CheckpointPlan {
  const reports = new Map(report.layers.map((l) => [l.name, l]));
  const layers = plan.layers.map((l) => {
    const counts = salient.get(l.name);
    const fanIn = neurons.get(l.name)?.fanIn;
    if (!counts || !fanIn) return l;
    const ablation = ablationOf(counts, fanIn, l.targetNnz, l.denseFanIn, gammaSal);
    return { ...l, ablation: { ...ablation, ...nextLayerSavings(reports.get(l.name)!, ablation, reports, neurons) } };
  });
  return { ...plan, layers };
}

/** What ablating a layer's candidates also saves in the layer its outputs feed, when the graph shows it. */
function nextLayerSavings(
  l: LayerReport,
  ablation: Ablation,
  reports: ReadonlyMap<string, LayerReport>,
  neurons: ReadonlyMap<string, LayerNeurons>,
): Pick<Ablation, 'nextLayer' | 'savedMacsPerSample'> {
  const next = l.nextLayer ? neurons.get(l.nextLayer) : undefined;
  const rows = neurons.get(l.name)?.geometry.rows;
  // Grouped convolutions see a part of the channels only: their columns do not map one to one.
  if (!next || next.geometry.inDim !== rows) return {};
  const inputColumns = ablation.candidates.length * next.geometry.kernelPositions;
  const savedParameters = inputColumns * next.geometry.rows;
  const linear = l.role === 'linear' && reports.get(next.name)?.role === 'linear';
  return {
    nextLayer: { name: next.name, inputColumns, savedParameters },
    savedMacsPerSample: linear ? ablation.savedParameters + savedParameters : null,
  };
}

const HEADERS = ['layer', 'shape', 'target density', 'k', 'nnz with k', 'actual density', 'actual fan-in min/mean/max', 'gap'];

/** The CLI's plan: an aligned table, then totals and the layers with no k. */
export function formatPlanTable(plan: CheckpointPlan): string {
  if (plan.layers.length === 0) return 'no linear or conv weights to plan: the checkpoint holds none (see `report` for its tensors)\n';
  const percent = (x: number) => `${(x * 100).toFixed(2)}%`;
  const rows = [
    HEADERS,
    ...plan.layers.map((l) => [
      printable(layerLabel(l)),
      `[${l.shape.join(', ')}]`,
      l.dense ? 'dense' : percent(l.targetDensity),
      l.k === null ? '—' : l.dense ? `${l.k} (dense)` : `${l.k} of ${l.denseFanIn}`,
      `${l.constFanInNnz}/${l.numel}`,
      percent(l.actual.density),
      `${l.actual.fanIn.min}/${l.actual.fanIn.mean.toFixed(2)}/${l.actual.fanIn.max}` + (l.actual.fanIn.constant ? ' constant' : ''),
      `${l.densityGap >= 0 ? '+' : ''}${(l.densityGap * 100).toFixed(2)} pt`,
    ]),
  ];
  const lines = alignedTable(rows, (i) => i >= 2);
  const { total } = plan;
  const power = plan.power === 1 ? '' : `, power ${plan.power}`;
  lines.push(
    '',
    `${plan.distribution.toUpperCase()} plan at sparsity ${plan.sparsity} (density ${plan.density}${power}) over ${plan.layers.length} weight layers`,
    `target non-zeros ${total.targetNnz} of ${total.numel} (${percent(total.targetNnz / total.numel)}); with constant fan-in ${total.constFanInNnz} (${percent(total.constFanInNnz / total.numel)}); now ${total.actualNnz}`,
  );
  for (const l of plan.layers) if (l.kError) lines.push(`${printable(l.name)}: ${l.kError}`);
  for (const l of plan.layers) {
    const a = l.ablation;
    if (!a) continue;
    const rows = a.candidates.length
      ? `${a.candidates.length} neurons (${a.candidates.slice(0, 12).join(', ')}${a.candidates.length > 12 ? ', …' : ''})`
      : 'no neuron';
    lines.push(
      `${printable(l.name)}: ablation at γ_sal ${a.gammaSal} (threshold ${a.threshold}): ${rows}; k after ablation ${a.kAfterAblation}`,
    );
  }
  if (plan.layers.some((l) => l.ablation)) lines.push(`ablation: ${ABLATION_NOTE}`);
  return lines.join('\n') + '\n';
}

/** A decimal as a user writes one: digits with an optional fraction (no exponent, sign or hex). */
const DECIMAL = /^(\d+(\.\d*)?|\.\d+)$/;

/** The plan's options as the CLI (or a form) gives them, checked; throws a PlanError whose message names the option. */
export function planRequestOf(values: {
  sparsity?: string;
  density?: string;
  distribution?: string;
  power?: string;
  dense?: string[];
  'dense-first'?: boolean;
  'gamma-sal'?: string;
  'no-ablation-layers'?: string[];
}): CheckpointPlanRequest {
  if ((values.sparsity === undefined) === (values.density === undefined))
    throw new PlanError('plan takes one of --sparsity S or --density D');
  let density: number;
  if (values.sparsity !== undefined) {
    const s = Number(values.sparsity);
    if (!DECIMAL.test(values.sparsity) || !(s >= 0 && s < 1))
      throw new PlanError(`--sparsity must be a decimal in [0, 1), not "${values.sparsity}"`);
    density = densityFromSparsity(s);
  } else {
    density = Number(values.density);
    if (!DECIMAL.test(values.density!) || !(density > 0 && density <= 1))
      throw new PlanError(`--density must be a decimal in (0, 1], not "${values.density}"`);
  }
  const distribution = values.distribution as Distribution;
  if (!DISTRIBUTIONS.includes(distribution)) throw new PlanError(`--distribution must be erk, er or uniform, not "${values.distribution}"`);
  const power = values.power === undefined ? 1 : Number(values.power);
  if (values.power !== undefined && (!DECIMAL.test(values.power) || !Number.isFinite(power)))
    throw new PlanError(`--power must be a number ≥ 0, not "${values.power}"`);
  const dense = (values.dense ?? []).map((pattern) => {
    try {
      return matcherOf(pattern);
    } catch (e) {
      throw new PlanError(`--dense: ${(e as Error).message}`);
    }
  });
  const gammaSal = values['gamma-sal'] === undefined ? DEFAULT_GAMMA_SAL : Number(values['gamma-sal']);
  if (values['gamma-sal'] !== undefined && (!DECIMAL.test(values['gamma-sal']) || !(gammaSal > 0)))
    throw new PlanError(`--gamma-sal must be a number > 0, not "${values['gamma-sal']}"`);
  const noAblation = (values['no-ablation-layers'] ?? []).map((pattern) => {
    try {
      return matcherOf(pattern);
    } catch (e) {
      throw new PlanError(`--no-ablation-layers: ${(e as Error).message}`);
    }
  });
  return { density, distribution, power, dense, denseFirst: values['dense-first'] ?? false, gammaSal, noAblation };
}

/** The plan of an analysed checkpoint with its ablation candidates, counting salient weights with `kernels`. */
export async function planWithAblation(
  analysis: CheckpointAnalysis,
  request: CheckpointPlanRequest,
  kernels: Pick<CheckpointKernels, 'salientCounts'>,
  key: CheckpointKey,
  signal?: AbortSignal,
): Promise<CheckpointPlan> {
  const planned = planCheckpoint(analysis, request);
  const salient = new Map<string, Uint32Array>();
  for (const { name, n } of ablationTargets(planned, request))
    salient.set(name, await kernels.salientCounts({ ...key, tensor: name, n }, signal));
  return withAblation(planned, analysis, salient, request.gammaSal);
}

const PLAN_CSV_COLUMNS = [
  'name',
  'displayName',
  'shape',
  'numel',
  'denseFanIn',
  'targetSparsity',
  'targetDensity',
  'dense',
  'targetNnz',
  'k',
  'constFanInNnz',
  'actualNnz',
  'actualDensity',
  'fanInMin',
  'fanInMean',
  'fanInMax',
  'fanInConstant',
  'ablationThreshold',
  'ablationCandidates',
  'kAfterAblation',
  'ablationSavedParameters',
  'ablationNextLayer',
  'ablationNextLayerSavedParameters',
  'ablationSavedMacsPerSample',
] as const;

/** The plan as CSV, one row per weight (ablation candidates space-separated). */
export function formatPlanCsv(plan: CheckpointPlan): string {
  const rows = plan.layers.map((l) =>
    [
      l.name,
      l.displayName,
      l.shape.join('x'),
      l.numel,
      l.denseFanIn,
      l.targetSparsity,
      l.targetDensity,
      l.dense,
      l.targetNnz,
      l.k,
      l.constFanInNnz,
      l.actual.nnz,
      l.actual.density,
      l.actual.fanIn.min,
      l.actual.fanIn.mean,
      l.actual.fanIn.max,
      l.actual.fanIn.constant,
      l.ablation?.threshold,
      l.ablation?.candidates.join(' '),
      l.ablation?.kAfterAblation,
      l.ablation?.savedParameters,
      l.ablation?.nextLayer?.name,
      l.ablation?.nextLayer?.savedParameters,
      l.ablation?.savedMacsPerSample,
    ]
      .map(csvCell)
      .join(','),
  );
  return [PLAN_CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

/** The plan as Markdown, names inert. */
export function formatPlanMarkdown(plan: CheckpointPlan): string {
  const percent = (x: number) => `${(x * 100).toFixed(2)}%`;
  const lines = [
    `# ${plan.distribution.toUpperCase()} plan at sparsity ${plan.sparsity}: ${escapeMarkdown(plan.file)}`,
    '',
    `- density ${plan.density}${plan.power === 1 ? '' : `, power ${plan.power}`}; target non-zeros ${plan.total.targetNnz} of ${plan.total.numel}; with constant fan-in ${plan.total.constFanInNnz}; now ${plan.total.actualNnz}`,
    ...(plan.layers.some((l) => l.ablation) ? [`- ablation: ${ABLATION_NOTE}`] : []),
    '',
    '| layer | shape | target density | k | nnz with k | density now | fan-in now | ablation candidates |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...plan.layers.map((l) => {
      const k = l.k === null ? (l.kError ?? '—') : l.dense ? `${l.k} (dense)` : `${l.k} of ${l.denseFanIn}`;
      const f = l.actual.fanIn;
      const ablation = l.ablation ? `${l.ablation.candidates.length} (k → ${l.ablation.kAfterAblation})` : '—';
      const cells = [
        escapeMarkdown(layerLabel(l)),
        `[${l.shape.join(', ')}]`,
        l.dense ? 'dense' : percent(l.targetDensity),
        k,
        String(l.constFanInNnz),
        percent(l.actual.density),
        f.constant ? `${f.min} (constant)` : `${f.min}–${f.max}`,
        ablation,
      ];
      return `| ${cells.join(' | ')} |`;
    }),
  ];
  return lines.join('\n') + '\n';
}
