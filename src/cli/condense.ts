import * as path from 'node:path';
import { formatBytes, formatCount as count } from '../core/checkpoint';
import type { CondenseResult } from '../core/prune/condense';
import { PruneError } from '../core/prune/pruneSelection';
import { alignedTable } from '../core/analysis/textTable';
import { toolVersion } from './toolVersion';
import type { RoleOverrides } from '../core/roles/roleOverrides';
import type { Kernels } from '../kernels/kernels';

/** What `sparsity-lens condense` was asked. */
export interface CondenseCommand {
  readonly file: string;
  readonly output: string | undefined;
  readonly force: boolean;
  readonly roles: RoleOverrides;
}

/** Has the kernels write FILE as safetensors with its constant fan-in layers condensed. */
export async function runCondense(command: CondenseCommand, kernels: Kernels): Promise<CondenseResult> {
  if (!command.output) throw new PruneError('condense needs an output file: -o OUT.safetensors');
  return kernels.condenseFile({
    file: command.file,
    roles: command.roles,
    output: command.output,
    force: command.force,
    toolVersion: await toolVersion(),
  });
}

/** The CLI's summary of a condense: one line per condensed layer, the weights left dense with their reason, the file sizes. */
export function formatCondenseResult(result: CondenseResult, inputBytes: number, outputBytes: number): string {
  const rows = result.layers.map((l) => [
    l.name,
    `[${l.shape.join(', ')}]`,
    `k = ${l.k} of ${l.denseFanIn}`,
    `${count(l.activeRows)}${l.removedRows ? ` (${count(l.removedRows)} removed)` : ''}`,
    l.indexDtype,
    `${formatBytes(l.denseBytes)} → ${formatBytes(l.condensedBytes)}`,
  ]);
  const table = alignedTable([['layer', 'shape', 'fan-in', 'active rows', 'indices', 'bytes'], ...rows]);
  const lines = [
    `Condensed ${path.basename(result.input)} (${formatBytes(inputBytes)}) → ${result.written.map((w) => path.basename(w)).join(', ')} (${formatBytes(outputBytes)}): ${result.layers.length} layer${result.layers.length === 1 ? '' : 's'} condensed`,
    ...(result.layers.length > 0 ? table.map((line) => `  ${line}`) : []),
    ...result.skipped.map((s) => `  left dense ${s.name}: ${s.reason}`),
    ...result.converted.map((c) => `  written as analysed ${c.name}: ${c.note}`),
    ...result.notWritten.map((s) => `  not written ${s.name}: ${s.reason}`),
    'Condensed layers store no zeros: read back, each expands with +0.0 wherever it holds no weight (the sign of pruned zeros is dropped).',
    'Verified before writing: re-opened, every condensed layer expands to the input weight, every other tensor identical.',
  ];
  return lines.join('\n') + '\n';
}
