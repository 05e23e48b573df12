import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_NM, parseNmPattern } from '../core/nmPattern';
import { formatReport, type ExportFormat } from '../core/analysis/reportExport';
import { formatReportTable } from '../core/analysis/reportText';
import { isCheckpointError } from '../core/errors';
import { readJsonValue } from '../core/formats/shared/jsonDocument';
import { parseRoleOverrides, parseRoleOverridesJson, RoleOverrideError, type RoleOverrides } from '../core/roles/roleOverrides';
import { withFile } from '../core/randomAccessFile';
import { createKernels, type KernelBackend } from '../kernels/createKernels';
import type { Kernels } from '../kernels/kernels';
import { KernelCrashError, NativeUnavailableError } from '../kernels/native/workerProcess';

const USAGE = `Usage: sparsity-lens <command> [options]

Commands:
  report FILE [--nm N:M] [--json]   per-layer sparsity, fan-in and N:M compliance of a checkpoint
                                    (FILE may be a TF.js model.json or a model.safetensors.index.json)

Options:
  --nm N:M      the N:M pattern to check (default 2:4)
  --json        print the report as JSON (same as --format json)
  --format F    table (default), json, csv or markdown
  --backend B   kernels: auto (native if it loads, default), native, reference
  --roles R     override layer roles and layouts: JSON text or a .json file mapping tensor-name
                patterns (* and ?, or /regex/) to {"role": "linear"|"conv"|"other",
                "layout": "out,in"|"in,out"} or {"role": …, "outAxis": A, "inAxis": B};
                e.g. --roles '{"*.c_attn.weight": {"role": "linear", "layout": "in,out"}}'
                The first matching pattern wins; patterns that are plain integers ("0") come
                first in an object, so give a list [{"pattern": …, "role": …}, …] to order them.
  -h, --help    show this help
`;

/** What main may be given instead of making its own: kernels kept across calls (a fuzzer running many inputs). */
export interface MainDependencies {
  readonly kernels?: Kernels;
}

/** Exit codes: 0 success, 1 unexpected failure, 2 bad input or bad usage. */
export async function main(
  argv: readonly string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  deps: MainDependencies = {},
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        nm: { type: 'string' },
        json: { type: 'boolean' },
        format: { type: 'string' },
        backend: { type: 'string', default: 'auto' },
        roles: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    err.write(`error: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const [command, ...files] = parsed.positionals;
  if (parsed.values.help || !command) {
    (parsed.values.help ? out : err).write(USAGE);
    return parsed.values.help ? 0 : 2;
  }
  if (command !== 'report') {
    err.write(`error: unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  if (files.length !== 1) {
    err.write(`error: report takes exactly one FILE\n${USAGE}`);
    return 2;
  }
  let nm = DEFAULT_NM;
  try {
    if (parsed.values.nm !== undefined) nm = parseNmPattern(parsed.values.nm);
  } catch (e) {
    err.write(`error: --nm: ${(e as Error).message}\n`);
    return 2;
  }
  const format = parsed.values.json ? 'json' : (parsed.values.format ?? 'table');
  if (!['table', 'json', 'csv', 'markdown'].includes(format)) {
    err.write(`error: --format must be table, json, csv or markdown, not "${format}"\n`);
    return 2;
  }
  const backend = parsed.values.backend as KernelBackend;
  if (!['auto', 'native', 'reference'].includes(backend)) {
    err.write(`error: --backend must be auto, native or reference, not "${backend}"\n`);
    return 2;
  }
  let roles: RoleOverrides = [];
  if (parsed.values.roles !== undefined) {
    try {
      roles = await readRoleOverrides(parsed.values.roles);
    } catch (e) {
      err.write(`error: --roles: ${(e as Error).message}\n`);
      return 2;
    }
  }
  // The bundle lives in dist/; the addon and the worker are found from the package root.
  const kernels = deps.kernels ?? createKernels({ backend, root: path.resolve(__dirname, '..'), onWarning: (m) => err.write(m + '\n') });
  try {
    // The file is opened and scanned where the kernels run (the worker process, for native ones).
    const { report, unusedRoles } = await kernels.analyseFile({ file: files[0], roles, nm, zeroThreshold: 0 });
    for (const pattern of unusedRoles) err.write(`warning: --roles: pattern "${pattern}" matches no tensor\n`);
    out.write(format === 'table' ? formatReportTable(report) : formatReport(report, format as ExportFormat));
    return 0;
  } catch (e) {
    if (isCheckpointError(e)) {
      err.write(`error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof RoleOverrideError) {
      err.write(`error: --roles: ${e.message}\n`);
      return 2;
    }
    if (e instanceof NativeUnavailableError || e instanceof KernelCrashError) {
      err.write(`error: ${e.message}\n`);
      return 1;
    }
    err.write(`error: ${files[0]}: unexpected failure: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  } finally {
    if (!deps.kernels) await kernels.dispose();
  }
}

/** Role override files are small; anything larger is not one. */
const MAX_ROLES_FILE_BYTES = 1 << 20;

/** `--roles` takes JSON text (starting with "{" or "[") or the path of a JSON file. */
async function readRoleOverrides(value: string): Promise<RoleOverrides> {
  if (/^\s*[[{]/.test(value)) return parseRoleOverridesJson(value);
  let json: unknown;
  try {
    json = await withFile(value, (file) => readJsonValue(file, MAX_ROLES_FILE_BYTES));
  } catch (e) {
    if (!isCheckpointError(e)) throw e;
    throw new Error(e.problem === 'io' ? `cannot read "${value}" (${e.detail}); give JSON text or a JSON file` : e.message);
  }
  try {
    return parseRoleOverrides(json);
  } catch (e) {
    throw new Error(`${value}: ${(e as Error).message}`);
  }
}
