import * as path from 'node:path';
import { planCheckpoint, type CheckpointPlanRequest } from '../core/analysis/checkpointPlan';
import { formatBytes, formatCount as count } from '../core/checkpoint';
import type { NmPattern } from '../core/nmPattern';
import type { PruneResult } from '../core/prune/pruneCheckpoint';
import { pruneMethod, skippedText, selectFanIn, selectNm, type LayerFilter, PruneError } from '../core/prune/pruneSelection';
import { alignedTable } from '../core/analysis/textTable';
import { toolVersion } from './toolVersion';
import { matcherOf, type RoleOverrides } from '../core/roles/roleOverrides';
import type { Kernels } from '../kernels/kernels';

/** What `sparsity-lens prune` was asked. */
export interface PruneCommand {
  readonly file: string;
  readonly output: string | undefined;
  readonly force: boolean;
  readonly roles: RoleOverrides;
  readonly nm: NmPattern;
  readonly transposable: boolean;
  /** Set for `--fan-in`: the plan whose k each layer is pruned to. */
  readonly plan?: CheckpointPlanRequest;
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  /** --sparsity or --density was given (they only mean something with --fan-in). */
  readonly planOptionsGiven: boolean;
}

function patterns(option: string, values: readonly string[]): RegExp[] {
  return values.map((p) => {
    try {
      return matcherOf(p);
    } catch (e) {
      throw new PruneError(`${option}: ${(e as Error).message}`);
    }
  });
}

/** Analyses the file, selects the layers (N:M or the plan's constant fan-in) and has the kernels prune and write it. */
export async function runPrune(command: PruneCommand, kernels: Kernels, warn: (line: string) => void): Promise<PruneResult> {
  if (!command.output) throw new PruneError('prune needs an output file: -o OUT');
  if (command.plan && command.transposable) throw new PruneError('--transposable is an N:M option; --fan-in takes none');
  if (!command.plan && command.planOptionsGiven) throw new PruneError('--sparsity and --density choose the plan of --fan-in; add --fan-in');
  const filter: LayerFilter = { include: patterns('--include', command.include), exclude: patterns('--exclude', command.exclude) };
  const { file, roles } = command;
  const analysis = await kernels.analyseFile({ file, roles, nm: command.nm, zeroThreshold: 0 });
  for (const pattern of analysis.unusedRoles) warn(`warning: --roles: pattern "${pattern}" matches no tensor`);
  const selection = command.plan
    ? selectFanIn(analysis, planCheckpoint(analysis, command.plan), filter)
    : selectNm(analysis, command.nm, command.transposable, filter);
  if (selection.layers.length === 0) throw new PruneError(`no selected layer can be pruned: ${skippedText(selection.skipped)}`);
  return kernels.pruneFile({
    file,
    roles,
    output: command.output,
    force: command.force,
    layers: selection.layers,
    skipped: selection.skipped,
    method: pruneMethod(command.plan ?? command.nm, command.transposable),
    toolVersion: await toolVersion(),
  });
}

/** The CLI's summary of a prune: one line per layer, the skipped ones with their reason, what was checked. */
export function formatPruneResult(result: PruneResult, outputBytes: number): string {
  const rows = result.layers.map((l) => [
    l.name,
    `[${l.shape.join(', ')}]`,
    l.rule,
    `${count(l.nnzBefore)} → ${count(l.nnzAfter)}`,
    `${((100 * l.nnzAfter) / Math.max(1, l.numel)).toFixed(1)} %`,
  ]);
  const table = alignedTable([['layer', 'shape', 'rule', 'non-zeros', 'density'], ...rows], (c) => c === 4);
  const lines = [
    `Pruned ${path.basename(result.input)} → ${result.written.map((w) => path.basename(w)).join(', ')} (${formatBytes(outputBytes)}): ${result.method}`,
    ...table.map((line) => `  ${line}`),
    ...result.skipped.map((s) => `  skipped ${s.name}: ${s.reason}`),
    `Removed ${count(result.removed)} weights; each pruned weight is a zero of its own sign (-0.0 where it was negative), as w * mask leaves it.`,
    'Verified before writing: re-opened, every other tensor identical, every pruned layer follows its rule with its kept weights unchanged.',
  ];
  return lines.join('\n') + '\n';
}
