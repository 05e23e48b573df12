import * as nodePath from 'node:path';
import { DEFAULT_GAMMA_SAL } from '../analysis/ablation';
import { densityFromSparsity, planDensities, PlanError, type Distribution } from '../analysis/plan';
import { numelOf, OUT_IN_LAYOUT, type Checkpoint, type TensorEntry, type WeightLayout } from '../checkpoint';
import { decodeToFloat64, type DType } from '../dtype';
import { printable } from '../errors';
import { newFileProblem, writeNewFile } from '../prune/newTensorFile';
import { openCheckpoint } from '../formats/registry';
import type { NewTensor } from '../formats/shared/newTensors';
import { NeuronView, stridesOf } from '../neuronView';
import { PruneError } from '../prune/pruneSelection';
import { provenanceOf } from '../prune/provenance';
import { checkOutputs, inputFiles } from '../prune/stagedOutput';
import { applyRoleOverrides, matcherOf, type RoleOverrides } from '../roles/roleOverrides';
import { readValues, tensorChunks } from '../tensorBytes';
import { dropFraction } from './sriglSchedule';
import { sriglLayerUpdate, SriglUpdateError } from './sriglUpdate';

/**
 * `srigl-step`: one SRigL mask update (spec §3.3, §4) of every layer a user saved gradients for,
 * from checkpoint files of any format the project reads, written as a new file: for users of any
 * framework, who train there and let this tool move their masks.
 *
 * - Layers: the tensors of WEIGHTS that GRADS holds a gradient for and that are linear or conv
 *   weights (their reader's layout, `--roles` applied), or, without a layout, have 2 axes or more
 *   (PyTorch's convention then: axis 0 the neurons, the others their fan-in). Each is updated on
 *   its [neurons, fan-in] view (NeuronView), whatever its storage order, and written back in it.
 * - Sparsity: a layer's own (`--layer-sparsity`), else the planner's (ERK, ER, uniform over the
 *   updated layers, exactly as `plan` allocates it); layers left dense are not updated.
 * - The tool sees tensors, not a model: no layer is kept from ablation unless named (the reference
 *   protects the output layer by module name).
 * - OUT holds the updated layers only: each one's new weights under its name, as float32 (the
 *   update's arithmetic is float32; float64 inputs are rounded), and its new mask as
 *   `<name>.mask`, uint8 0/1. It is staged beside its final place, re-opened and checked tensor by
 *   tensor, byte for byte, and only then renamed into place.
 */

/** A request that cannot be carried out as given: its message is the line a user reads. */
export class SriglStepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SriglStepError';
  }
}

/** The output extensions srigl-step writes, each with its format's creator. */
export const SRIGL_STEP_OUTPUT_EXTENSIONS: readonly string[] = ['.safetensors', '.npz', '.pt'];

/** α of the cosine drop fraction when `--alpha` is not given (the reference's config default). */
export const DEFAULT_ALPHA = 0.3;

/** How the drop fraction f is given: as is, or as the reference's cosine schedule at step T. */
export type DropFractionSetting = { readonly fraction: number } | { readonly step: number; readonly tEnd: number; readonly alpha?: number };

/** `--layer-sparsity PATTERN=S`: the layers the pattern matches (name or display name) get sparsity S. */
export interface LayerSparsity {
  readonly pattern: string;
  readonly sparsity: number;
}

export interface SriglStepRequest {
  /** The checkpoint of the weights (any format the project reads). */
  readonly weights: string;
  /** The dense gradients, under the weights' names. */
  readonly grads: string;
  /** 0/1 masks under the weights' names or as `<name>.mask`; absent: the weights' non-zeros. */
  readonly masks?: string;
  /** The file to write: .safetensors, .npz or .pt. */
  readonly output: string;
  /** Replace OUT when it exists. */
  readonly force: boolean;
  /** The global sparsity S for the planner; with `distribution` (default ERK). */
  readonly sparsity?: number;
  readonly distribution?: Distribution;
  /** Per-layer sparsities: the first pattern that matches a layer wins over the plan. */
  readonly layerSparsity?: readonly LayerSparsity[];
  readonly drop: DropFractionSetting;
  /** γ_sal (a count when ≥ 1, else a share of k0); null: no ablation at all; absent: 0.3. */
  readonly gammaSal?: number | null;
  /** Layers never ablated: tensor-name patterns (the --roles syntax). */
  readonly noAblation?: readonly string[];
  /** Role and layout overrides applied to WEIGHTS. */
  readonly roles?: RoleOverrides;
  /** For the provenance a safetensors OUT carries. */
  readonly toolVersion?: string;
}

/** One updated layer: the figures of its update. */
export interface SriglStepLayer {
  readonly name: string;
  readonly displayName?: string;
  readonly shape: readonly number[];
  /** The axis of the neurons and of the inputs; `convention` when the file gave none (PyTorch's [out, in, …] assumed). */
  readonly layout: { readonly outAxis: number; readonly inAxis: number; readonly from: 'file' | 'convention' };
  readonly dtype: DType;
  /** The layer's target sparsity s, and where it came from. */
  readonly sparsity: number;
  readonly sparsityFrom: 'layer-sparsity' | 'plan';
  /** int(numel · (1 − s)): the weights the layer may hold. */
  readonly allowedNonZeros: number;
  readonly k: number;
  readonly nKeep: number;
  readonly nPrune: number;
  /** Ablated neurons (rows of the [neurons, fan-in] view), ascending. */
  readonly ablated: readonly number[];
  /** Salient weights a neuron needed to stay; null without ablation. */
  readonly threshold: number | null;
  /** γ_sal used for this layer; null when it is not ablated. */
  readonly gammaSal: number | null;
  readonly grown: number;
  readonly dropped: number;
  /** Ones of the mask before and after. */
  readonly activeBefore: number;
  readonly activeAfter: number;
  /** Non-zero weights in WEIGHTS, and in the written weights (grown weights start at 0). */
  readonly nonZerosBefore: number;
  readonly nonZerosAfter: number;
}

/** The JSON of `sparsity-lens srigl-step`: keys may be added, never changed. */
export interface SriglStepResult {
  readonly input: string;
  readonly grads: string;
  readonly masks: string | null;
  readonly output: string;
  readonly written: readonly string[];
  readonly dropFraction: number;
  /** The planner's request, when --sparsity was given. */
  readonly plan: { readonly sparsity: number; readonly distribution: Distribution } | null;
  readonly layers: readonly SriglStepLayer[];
  /** Tensors with a gradient that were not updated, with the reason. */
  readonly unchanged: readonly { readonly name: string; readonly reason: string }[];
}

/**
 * f for the request: as given, or the reference's cosine α/2 · (1 + cos(π T / T_end)) at step T
 * (through sriglSchedule's dropFraction with T_end = TEND: totalSteps TEND, tEndFraction 1).
 */
export function dropFractionOf(setting: DropFractionSetting): number {
  if ('fraction' in setting) {
    if (!(setting.fraction >= 0 && setting.fraction <= 1))
      throw new SriglStepError(`--drop-fraction must be in [0, 1], not ${setting.fraction}`);
    return setting.fraction;
  }
  const { step, tEnd } = setting;
  const alpha = setting.alpha ?? DEFAULT_ALPHA;
  if (!(Number.isSafeInteger(tEnd) && tEnd >= 1)) throw new SriglStepError(`--t-end must be a whole number ≥ 1, not ${tEnd}`);
  if (!(Number.isSafeInteger(step) && step >= 0)) throw new SriglStepError(`--step must be a whole number ≥ 0, not ${step}`);
  if (!(alpha >= 0 && alpha <= 1)) throw new SriglStepError(`--alpha must be in [0, 1], not ${alpha}`);
  if (step >= tEnd)
    throw new SriglStepError(`step ${step} is not before T_end = ${tEnd}: SRigL updates masks only while t < T_end, and stops there`);
  return dropFraction({ totalSteps: tEnd, tEndFraction: 1, alpha, deltaT: 1 }, step);
}

/**
 * int(numel · (1 − s)) with s taken as the decimal it prints as (0.9 is nine tenths, not the
 * nearest double): BigInt arithmetic, so no floor lands one below where the decimal puts it.
 */
export function allowedNonZerosOfDecimal(numel: number, sparsity: number): number {
  const [mantissa, exponent = '0'] = String(sparsity).toLowerCase().split('e');
  const [whole, fraction = ''] = mantissa.split('.');
  let digits = BigInt(whole + fraction);
  let scale = fraction.length - Number(exponent);
  if (scale < 0) {
    digits *= 10n ** BigInt(-scale);
    scale = 0;
  }
  const one = 10n ** BigInt(scale);
  return Number((BigInt(numel) * (one - digits)) / one);
}

/**
 * The sparsity to give sriglLayerUpdate so that its int(numel · (1 − s)) is `allowed`: it takes
 * a sparsity, not a count, and this one floors to the count whatever the rounding of 1 − s.
 */
function sparsityForCount(numel: number, allowed: number): number {
  return 1 - (allowed + 0.5) / numel;
}

const FLOAT_DTYPES: ReadonlySet<DType> = new Set<DType>([
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'float8_e4m3fn',
  'float8_e5m2',
  'float8_e4m3fnuz',
  'float8_e5m2fnuz',
  'float8_e8m0',
  'float4_e2m1',
]);

/** A weight with a gradient that the update takes. */
interface Candidate {
  readonly weight: TensorEntry;
  readonly grad: TensorEntry;
  readonly layout: WeightLayout;
  readonly layoutFrom: 'file' | 'convention';
}

/** A candidate with its sparsity. */
interface Target extends Candidate {
  readonly sparsity: number;
  readonly sparsityFrom: 'layer-sparsity' | 'plan';
  readonly allowed: number;
  readonly gammaSal: number | null;
}

export interface SriglStepOptions {
  readonly signal?: AbortSignal;
}

/** One SRigL update of every layer with a gradient, written to `request.output` (see the file's comment). */
export async function sriglStep(request: SriglStepRequest, options: SriglStepOptions = {}): Promise<SriglStepResult> {
  const { signal } = options;
  const outputProblem = newFileProblem(request.output);
  if (outputProblem) throw new SriglStepError(`srigl-step's output: ${outputProblem}`);
  const f = dropFractionOf(request.drop);
  const gammaSal = request.gammaSal === undefined ? DEFAULT_GAMMA_SAL : request.gammaSal;
  if (gammaSal !== null && !(gammaSal > 0 && Number.isFinite(gammaSal)))
    throw new SriglStepError(`--gamma-sal must be a number > 0, not ${gammaSal}`);
  const layerSparsity = (request.layerSparsity ?? []).map((l) => ({
    ...l,
    matcher: patternOf('--layer-sparsity', l.pattern),
  }));
  for (const l of layerSparsity)
    if (!(l.sparsity >= 0 && l.sparsity < 1))
      throw new SriglStepError(`--layer-sparsity ${l.pattern}: the sparsity must be in [0, 1), not ${l.sparsity}`);
  if (request.sparsity !== undefined && !(request.sparsity >= 0 && request.sparsity < 1))
    throw new SriglStepError(`--sparsity must be in [0, 1), not ${request.sparsity}`);
  if (request.sparsity === undefined && layerSparsity.length === 0)
    throw new SriglStepError('srigl-step needs the layers’ sparsity: --sparsity S (planned over the layers) or --layer-sparsity NAME=S');
  const noAblation = (request.noAblation ?? []).map((p) => patternOf('--no-ablation-layers', p));
  const distribution = request.distribution ?? 'erk';

  const opened: Checkpoint[] = [];
  const open = async (path: string) => {
    const checkpoint = await openCheckpoint(path);
    opened.push(checkpoint);
    return checkpoint;
  };
  try {
    const weights = applyRoleOverrides(await open(request.weights), request.roles ?? []);
    const grads = await open(request.grads);
    const masks = request.masks === undefined ? undefined : await open(request.masks);
    const inputs = [...new Set([weights, grads, ...(masks ? [masks] : [])].flatMap(inputFiles))];
    await asStepError(() => checkOutputs([request.output], inputs, request.force));

    const { candidates, unchanged } = candidatesOf(weights, grads);
    const targets: Target[] = [];
    const used = new Set<string>();
    const plan = request.sparsity === undefined ? undefined : planOf(candidates, request.sparsity, distribution);
    candidates.forEach((c, i) => {
      const name = c.weight.name;
      const numel = numelOf(c.weight.shape);
      const names = [name, ...(c.weight.displayName ? [c.weight.displayName] : [])];
      const own = layerSparsity.find((l) => names.some((n) => l.matcher.test(n)));
      const ablate = gammaSal !== null && !noAblation.some((m) => names.some((n) => m.test(n)));
      const target = { ...c, gammaSal: ablate ? gammaSal : null };
      if (own) {
        used.add(own.pattern);
        const allowed = allowedNonZerosOfDecimal(numel, own.sparsity);
        if (allowed >= numel)
          unchanged.push({ name, reason: `--layer-sparsity ${own.pattern} leaves it dense (sparsity ${own.sparsity})` });
        else targets.push({ ...target, sparsity: own.sparsity, sparsityFrom: 'layer-sparsity', allowed });
        return;
      }
      const planned = plan?.layers[i];
      if (!planned) {
        unchanged.push({ name, reason: 'no sparsity for it: no --layer-sparsity pattern matches it and --sparsity was not given' });
        return;
      }
      if (planned.dense) {
        unchanged.push({
          name,
          reason: `dense in the ${distribution.toUpperCase()} plan at sparsity ${request.sparsity} (sparsity ≤ 0: the reference gives it no mask)`,
        });
        return;
      }
      targets.push({ ...target, sparsity: planned.targetSparsity, sparsityFrom: 'plan', allowed: planned.targetNnz });
    });
    const unused = layerSparsity.filter((l) => !used.has(l.pattern));
    if (unused.length > 0) {
      const layers = candidates.map((c) => printable(c.weight.name)).join(', ') || 'none';
      throw new SriglStepError(
        `--layer-sparsity ${printable(unused[0].pattern)} matches no layer with a gradient (or an earlier pattern took them); layers with a gradient: ${layers}`,
      );
    }
    if (targets.length === 0) {
      const why = unchanged.map((u) => `${printable(u.name)}: ${u.reason}`).join('; ');
      throw new SriglStepError(
        `nothing to update: no layer of ${printable(weights.file)} has a gradient in ${printable(grads.file)} and a sparsity above 0${why ? ` (${why})` : ''}`,
      );
    }

    const layers: SriglStepLayer[] = [];
    const tensors: NewTensor[] = [];
    for (const t of targets) {
      signal?.throwIfAborted();
      const { layer, weights: newWeights, mask } = await updateLayer(t, weights.file, grads.file, masks, f);
      layers.push(layer);
      tensors.push(
        { name: t.weight.name, dtype: 'float32', shape: t.weight.shape, bytes: new Uint8Array(newWeights.buffer) },
        { name: `${t.weight.name}.mask`, dtype: 'uint8', shape: t.weight.shape, bytes: mask },
      );
    }
    const outputNames = new Set<string>();
    for (const t of tensors) {
      if (outputNames.has(t.name))
        throw new SriglStepError(`the output would hold two tensors named "${printable(t.name)}" (a layer's name is another's mask name)`);
      outputNames.add(t.name);
    }

    const metadata = {
      ...(await provenanceOf(weights.file, request.toolVersion ?? 'unknown')),
      'sparsity_lens.srigl_step': JSON.stringify({
        grads: nodePath.basename(grads.file),
        masks: masks ? nodePath.basename(masks.file) : null,
        dropFraction: f,
        masksAs: '<name>.mask',
      }),
    };
    const written = await asStepError(() =>
      writeNewFile({ output: request.output, tensors, metadata, inputs, force: request.force, signal }),
    );
    return {
      input: weights.file,
      grads: grads.file,
      masks: masks?.file ?? null,
      output: request.output,
      written,
      dropFraction: f,
      plan: request.sparsity === undefined ? null : { sparsity: request.sparsity, distribution },
      layers,
      unchanged,
    };
  } finally {
    for (const c of opened) await c.release?.();
  }
}

function patternOf(option: string, pattern: string): RegExp {
  try {
    return matcherOf(pattern);
  } catch (e) {
    throw new SriglStepError(`${option}: ${(e as Error).message}`);
  }
}

/** Runs `f`, giving its PruneErrors (existing outputs, unwritable folders) as SriglStepErrors. */
async function asStepError<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof PruneError) throw new SriglStepError(e.message);
    throw e;
  }
}

/**
 * The weights with a gradient, in WEIGHTS' order, that the update takes; the others with a
 * gradient listed with the reason. Refuses gradients of tensors WEIGHTS lacks, gradients whose
 * shape differs from their weight's, and tensors either file cannot read.
 */
function candidatesOf(weights: Checkpoint, grads: Checkpoint): { candidates: Candidate[]; unchanged: { name: string; reason: string }[] } {
  const weightNames = new Set(weights.tensors.map((t) => t.name));
  const weightsSkipped = new Map(weights.skipped.map((s) => [s.name, s.reason]));
  for (const g of grads.tensors) {
    if (weightNames.has(g.name)) continue;
    const skipped = weightsSkipped.get(g.name);
    if (skipped !== undefined)
      throw new SriglStepError(`${printable(weights.file)}: tensor "${printable(g.name)}" has a gradient but cannot be read: ${skipped}`);
    throw new SriglStepError(
      `${printable(grads.file)} holds a gradient "${printable(g.name)}" for a tensor that ${printable(weights.file)} does not hold (gradients are matched to weights by name)`,
    );
  }
  const gradsByName = new Map(grads.tensors.map((t) => [t.name, t]));
  const gradsSkipped = new Map(grads.skipped.map((s) => [s.name, s.reason]));
  const candidates: Candidate[] = [];
  const unchanged: { name: string; reason: string }[] = [];
  for (const w of weights.tensors) {
    const grad = gradsByName.get(w.name);
    if (!grad) {
      const skipped = gradsSkipped.get(w.name);
      if (skipped !== undefined)
        throw new SriglStepError(`${printable(grads.file)}: the gradient "${printable(w.name)}" cannot be read: ${skipped}`);
      continue;
    }
    const name = printable(w.name);
    if (grad.shape.join() !== w.shape.join())
      throw new SriglStepError(
        `${printable(grads.file)}: the gradient "${name}" has shape [${grad.shape.join(', ')}], but the weight in ${printable(weights.file)} has [${w.shape.join(', ')}]`,
      );
    if (!FLOAT_DTYPES.has(w.dtype))
      throw new SriglStepError(`${printable(weights.file)}: "${name}" is ${w.dtype}; srigl-step updates floating-point weights`);
    if (!FLOAT_DTYPES.has(grad.dtype))
      throw new SriglStepError(`${printable(grads.file)}: the gradient "${name}" is ${grad.dtype}, not a floating-point type`);
    if (w.shape.length < 2) {
      unchanged.push({
        name: w.name,
        reason: `${w.shape.length === 0 ? 'a scalar' : 'a 1-D tensor'} has no fan-in (biases and norms are never sparsified)`,
      });
      continue;
    }
    if (numelOf(w.shape) === 0) {
      unchanged.push({ name: w.name, reason: 'it is empty' });
      continue;
    }
    candidates.push({ weight: w, grad, layout: w.layout ?? OUT_IN_LAYOUT, layoutFrom: w.layout ? 'file' : 'convention' });
  }
  return { candidates, unchanged };
}

/** The planner's allocation over the candidates (spec §1: ERK, ER or uniform at global sparsity S). */
function planOf(candidates: readonly Candidate[], sparsity: number, distribution: Distribution) {
  if (candidates.length === 0) return undefined;
  try {
    return planDensities(
      candidates.map((c) => ({
        name: c.weight.name,
        shape: c.weight.shape,
        nOut: c.weight.shape[c.layout.outAxis],
        nIn: c.weight.shape[c.layout.inAxis],
      })),
      { density: densityFromSparsity(sparsity), distribution },
    );
  } catch (e) {
    if (e instanceof PlanError || e instanceof RangeError) throw new SriglStepError(`--sparsity ${sparsity}: ${e.message}`);
    throw e;
  }
}

/** The index of storage element `i` of a C-order tensor of `shape`, as "[a, b, …]". */
function positionText(shape: readonly number[], i: number): string {
  const strides = stridesOf(shape);
  return `[${strides.map((s, axis) => Math.floor(i / s) % shape[axis]).join(', ')}]`;
}

/** The mask of a layer from MASKS (`<name>.mask` first, then `<name>`), checked to hold only 0 and 1. */
async function maskOf(masks: Checkpoint, weight: TensorEntry): Promise<Uint8Array> {
  const byName = new Map(masks.tensors.map((t) => [t.name, t]));
  const skipped = new Map(masks.skipped.map((s) => [s.name, s.reason]));
  const candidates = [`${weight.name}.mask`, weight.name];
  const entry = candidates.map((n) => byName.get(n)).find((t) => t !== undefined);
  const file = printable(masks.file);
  if (!entry) {
    const unreadable = candidates.find((n) => skipped.has(n));
    if (unreadable !== undefined)
      throw new SriglStepError(`${file}: the mask "${printable(unreadable)}" cannot be read: ${skipped.get(unreadable)}`);
    throw new SriglStepError(
      `${file} holds no mask for "${printable(weight.name)}" (looked for "${printable(candidates[0])}" and "${printable(candidates[1])}")`,
    );
  }
  const name = printable(entry.name);
  if (entry.shape.join() !== weight.shape.join())
    throw new SriglStepError(
      `${file}: the mask "${name}" has shape [${entry.shape.join(', ')}], but the weight has [${weight.shape.join(', ')}]`,
    );
  if (entry.dtype === 'complex64' || entry.dtype === 'complex128')
    throw new SriglStepError(`${file}: the mask "${name}" is ${entry.dtype}; masks hold 0 or 1`);
  const numel = numelOf(entry.shape);
  const mask = new Uint8Array(numel);
  for await (const chunk of tensorChunks(entry.source, entry.dtype, numel)) {
    const values = decodeToFloat64(entry.dtype, chunk.bytes, chunk.count);
    for (let i = 0; i < chunk.count; i++) {
      const v = values[i];
      if (v !== 0 && v !== 1)
        throw new SriglStepError(
          `${file}: the mask "${name}" holds ${v} at ${positionText(entry.shape, chunk.first + i)}; masks hold 0 or 1`,
        );
      mask[chunk.first + i] = v;
    }
  }
  return mask;
}

/**
 * One layer: its weights, mask and gradient gathered into the [neurons, fan-in] view, updated,
 * and scattered back to storage order.
 */
async function updateLayer(
  t: Target,
  weightsFile: string,
  gradsFile: string,
  masks: Checkpoint | undefined,
  f: number,
): Promise<{ layer: SriglStepLayer; weights: Float32Array; mask: Uint8Array }> {
  const { weight } = t;
  const name = printable(weight.name);
  const shape = weight.shape;
  const numel = numelOf(shape);
  const view = new NeuronView(shape, t.layout);
  const { rows, cols } = view;
  // The reference refuses k = 0 before any ablation (get_fan_in_after_ablation at init), as the planner does.
  if (Math.floor(t.allowed / rows) === 0)
    throw new SriglStepError(
      `layer "${name}" [${shape.join(', ')}] at sparsity ${t.sparsity}: its fan-in would be 0 (${t.allowed} weights for ${rows} neurons): lower the sparsity or widen the layer`,
    );
  const w = Float32Array.from(await readValues(weight));
  const g = Float32Array.from(await readValues(t.grad));
  const m = masks ? await maskOf(masks, weight) : Uint8Array.from(w, (v) => (v !== 0 ? 1 : 0));
  for (let i = 0; i < numel; i++) {
    if (!Number.isFinite(g[i]))
      throw new SriglStepError(
        `${printable(gradsFile)}: the gradient "${name}" is ${g[i]} at ${positionText(shape, i)}; gradients must be finite`,
      );
    if (m[i] && !Number.isFinite(w[i]))
      throw new SriglStepError(
        `${printable(weightsFile)}: the weight "${name}" is ${w[i]} at ${positionText(shape, i)}, an active position`,
      );
  }

  let active = 0;
  for (let i = 0; i < numel; i++) active += m[i];
  // An update keeps a layer within its budget; it does not prune a denser layer to it (the reference starts from a constant fan-in mask).
  if (active > t.allowed)
    throw new SriglStepError(
      `${masks ? `${printable(masks.file)}: the mask of "${name}"` : `${printable(weightsFile)}: "${name}"`} has ${active} active weights, more than the ${t.allowed} its sparsity ${t.sparsity} allows: SRigL moves a mask that already has its layer's sparsity; prune to it first (sparsity-lens prune --fan-in)`,
    );

  let order: Uint32Array | undefined;
  if (!view.rowMajor) {
    order = new Uint32Array(numel);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) order[r * cols + c] = view.index(r, c);
  }
  const gather = <T extends Float32Array | Uint8Array>(storage: T, into: T): T => {
    if (!order) return storage;
    for (let i = 0; i < numel; i++) into[i] = storage[order[i]];
    return into;
  };
  let update;
  try {
    update = sriglLayerUpdate(
      {
        rows,
        cols,
        weights: gather(w, new Float32Array(numel)),
        mask: gather(m, new Uint8Array(numel)),
        grads: gather(g, new Float32Array(numel)),
      },
      { sparsity: sparsityForCount(numel, t.allowed), dropFraction: f, gammaSal: t.gammaSal },
    );
  } catch (e) {
    if (e instanceof SriglUpdateError)
      throw new SriglStepError(`layer "${name}" [${shape.join(', ')}] at sparsity ${t.sparsity}: ${e.message}`);
    throw e;
  }
  let newWeights = update.weights;
  let newMask = update.mask;
  if (order) {
    newWeights = new Float32Array(numel);
    newMask = new Uint8Array(numel);
    for (let i = 0; i < numel; i++) {
      newWeights[order[i]] = update.weights[i];
      newMask[order[i]] = update.mask[i];
    }
  }
  const count = (values: ArrayLike<number>, test: (v: number) => boolean) => {
    let n = 0;
    for (let i = 0; i < values.length; i++) if (test(values[i])) n++;
    return n;
  };
  const layer: SriglStepLayer = {
    name: weight.name,
    ...(weight.displayName ? { displayName: weight.displayName } : {}),
    shape,
    layout: { outAxis: t.layout.outAxis, inAxis: t.layout.inAxis, from: t.layoutFrom },
    dtype: weight.dtype,
    sparsity: t.sparsity,
    sparsityFrom: t.sparsityFrom,
    allowedNonZeros: t.allowed,
    k: update.k,
    nKeep: update.nKeep,
    nPrune: update.nPrune,
    ablated: update.ablated,
    threshold: update.threshold,
    gammaSal: t.gammaSal,
    grown: update.grown,
    dropped: update.dropped,
    activeBefore: active,
    activeAfter: count(newMask, (v) => v === 1),
    nonZerosBefore: count(w, (v) => v !== 0),
    nonZerosAfter: count(newWeights, (v) => v !== 0),
  };
  return { layer, weights: newWeights, mask: newMask };
}
