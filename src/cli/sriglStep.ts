import { statSync } from 'node:fs';
import * as path from 'node:path';
import { DISTRIBUTIONS, type Distribution } from '../core/analysis/plan';
import { alignedTable } from '../core/analysis/textTable';
import { formatBytes, formatCount } from '../core/checkpoint';
import { printable } from '../core/errors';
import type { RoleOverrides } from '../core/roles/roleOverrides';
import {
  DEFAULT_ALPHA,
  SriglStepError,
  type DropFractionSetting,
  type LayerSparsity,
  type SriglStepRequest,
  type SriglStepResult,
} from '../core/train/sriglStep';

/** The options of `sparsity-lens srigl-step` as parseArgs gives them. */
export interface SriglStepArgs {
  readonly grads?: string;
  readonly masks?: string;
  readonly output?: string;
  readonly force?: boolean;
  readonly sparsity?: string;
  readonly distribution?: string;
  readonly 'layer-sparsity'?: readonly string[];
  readonly 'drop-fraction'?: string;
  readonly step?: string;
  readonly 't-end'?: string;
  readonly alpha?: string;
  readonly 'gamma-sal'?: string;
  readonly 'no-ablation'?: boolean;
  readonly 'no-ablation-layers'?: readonly string[];
}

/** A decimal as a user writes one: digits with an optional fraction (no sign, exponent or hex). */
const DECIMAL = /^(\d+(\.\d*)?|\.\d+)$/;
const WHOLE = /^\d+$/;

function decimal(option: string, text: string, what: string, check: (v: number) => boolean): number {
  const v = Number(text);
  if (!DECIMAL.test(text) || !check(v)) throw new SriglStepError(`${option} must be ${what}, not "${printable(text)}"`);
  return v;
}

function whole(option: string, text: string, min: number): number {
  const v = Number(text);
  if (!WHOLE.test(text) || !Number.isSafeInteger(v) || v < min)
    throw new SriglStepError(`${option} must be a whole number ≥ ${min}, not "${printable(text)}"`);
  return v;
}

const sparsityRange = (v: number) => v >= 0 && v < 1;

/** The request a command line makes, every option checked (the files are checked when opened). */
export function sriglStepRequestOf(weights: string, o: SriglStepArgs, roles: RoleOverrides = [], toolVersion?: string): SriglStepRequest {
  if (!o.grads) throw new SriglStepError('srigl-step needs the dense gradients: --grads GRADS (a checkpoint with the weights’ names)');
  if (!o.output) throw new SriglStepError('srigl-step needs an output file: -o OUT.safetensors, OUT.npz or OUT.pt');

  const sparsity = o.sparsity === undefined ? undefined : decimal('--sparsity', o.sparsity, 'a decimal in [0, 1)', sparsityRange);
  const distribution = (o.distribution ?? 'erk') as Distribution;
  if (!DISTRIBUTIONS.includes(distribution))
    throw new SriglStepError(`--distribution must be erk, er or uniform, not "${printable(String(o.distribution))}"`);
  const layerSparsity = (o['layer-sparsity'] ?? []).map((text): LayerSparsity => {
    const at = text.lastIndexOf('=');
    if (at <= 0)
      throw new SriglStepError(`--layer-sparsity takes NAME=S (a tensor name or pattern, then its sparsity), not "${printable(text)}"`);
    const pattern = text.slice(0, at);
    return {
      pattern,
      sparsity: decimal(`--layer-sparsity ${printable(pattern)}`, text.slice(at + 1), 'a decimal in [0, 1)', sparsityRange),
    };
  });
  if (sparsity === undefined && layerSparsity.length === 0)
    throw new SriglStepError('srigl-step needs the layers’ sparsity: --sparsity S (planned over the layers) or --layer-sparsity NAME=S');

  const scheduled = o.step !== undefined || o['t-end'] !== undefined;
  let drop: DropFractionSetting;
  if (o['drop-fraction'] !== undefined) {
    if (scheduled || o.alpha !== undefined)
      throw new SriglStepError('give --drop-fraction F, or --step T --t-end T_END [--alpha A], not both');
    drop = { fraction: decimal('--drop-fraction', o['drop-fraction'], 'a decimal in [0, 1]', (v) => v >= 0 && v <= 1) };
  } else if (scheduled) {
    if (o.step === undefined || o['t-end'] === undefined) throw new SriglStepError('--step T and --t-end T_END go together');
    drop = {
      step: whole('--step', o.step, 0),
      tEnd: whole('--t-end', o['t-end'], 1),
      alpha: o.alpha === undefined ? DEFAULT_ALPHA : decimal('--alpha', o.alpha, 'a decimal in [0, 1]', (v) => v >= 0 && v <= 1),
    };
  } else {
    throw new SriglStepError(
      o.alpha !== undefined
        ? '--alpha needs --step T --t-end T_END'
        : 'srigl-step needs the drop fraction: --drop-fraction F, or --step T --t-end T_END [--alpha A] (the cosine schedule)',
    );
  }

  if (o['no-ablation'] && o['gamma-sal'] !== undefined) throw new SriglStepError('give --gamma-sal G or --no-ablation, not both');
  const gammaSal = o['no-ablation']
    ? null
    : o['gamma-sal'] === undefined
      ? undefined
      : decimal('--gamma-sal', o['gamma-sal'], 'a number > 0 (≥ 1: a count)', (v) => v > 0 && Number.isFinite(v));

  return {
    weights,
    grads: o.grads,
    ...(o.masks !== undefined ? { masks: o.masks } : {}),
    output: o.output,
    force: o.force ?? false,
    ...(sparsity !== undefined ? { sparsity, distribution } : {}),
    layerSparsity,
    drop,
    ...(gammaSal !== undefined ? { gammaSal } : {}),
    noAblation: o['no-ablation-layers'] ?? [],
    roles,
    ...(toolVersion !== undefined ? { toolVersion } : {}),
  };
}

/** The CLI's summary: the drop fraction, one row per updated layer, the unchanged ones with their reason, the file written. */
export function formatSriglStepResult(result: SriglStepResult, request: Pick<SriglStepRequest, 'drop'>): string {
  const drop = request.drop;
  const how =
    'fraction' in drop ? 'as given' : `cosine schedule at step ${drop.step} of T_end ${drop.tEnd}, α ${drop.alpha ?? DEFAULT_ALPHA}`;
  const plan = result.plan ? `; ${result.plan.distribution.toUpperCase()} plan at sparsity ${result.plan.sparsity}` : '';
  const rows = result.layers.map((l) => [
    printable(l.displayName ? `${l.displayName} (${l.name})` : l.name),
    `[${l.shape.join(', ')}]`,
    `${l.sparsity.toFixed(4)}${l.sparsityFrom === 'layer-sparsity' ? ' (given)' : ''}`,
    `${l.k} of ${l.shape.reduce((a, d) => a * d, 1) / l.shape[l.layout.outAxis]}`,
    formatCount(l.nKeep),
    formatCount(l.nPrune),
    formatCount(l.dropped),
    formatCount(l.grown),
    l.gammaSal === null ? 'off' : `${l.ablated.length} (threshold ${l.threshold})`,
    `${formatCount(l.activeBefore)} → ${formatCount(l.activeAfter)}`,
  ]);
  const table = alignedTable(
    [['layer', 'shape', 'sparsity', 'fan-in k', 'kept', 'pruned', 'dropped', 'grown', 'ablated', 'active'], ...rows],
    (i) => i >= 4 && i <= 7,
  );
  const lines = [
    `SRigL step on ${path.basename(result.input)} with ${path.basename(result.grads)}${result.masks ? ` and masks ${path.basename(result.masks)}` : ''}: drop fraction ${result.dropFraction} (${how})${plan}`,
    ...table.map((line) => `  ${line}`),
    ...result.unchanged.map((u) => `  unchanged ${printable(u.name)}: ${u.reason}`),
    ...result.written.map(
      (w) =>
        `wrote ${w} (${formatBytes(statSync(w).size)}): the new weights of ${result.layers.length} layer${result.layers.length === 1 ? '' : 's'} (float32) and their masks (<name>.mask, uint8); verified by reading it back`,
    ),
  ];
  return lines.join('\n') + '\n';
}
