import { statSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_NM, parseNmPattern } from '../core/nmPattern';
import { formatReport, type ExportFormat } from '../core/analysis/reportExport';
import { formatReportTable } from '../core/analysis/reportText';
import {
  formatPlanCsv,
  formatPlanMarkdown,
  formatPlanTable,
  planRequestOf,
  planWithAblation,
  type CheckpointPlanRequest,
} from '../core/analysis/checkpointPlan';
import { formatDiffTable, renamedFor } from '../core/analysis/diff';
import { PlanError } from '../core/analysis/plan';
import { WriteError } from '../core/outputFiles';
import { PruneError } from '../core/prune/pruneSelection';
import { formatPruneResult, runPrune } from './prune';
import { formatCondenseResult, runCondense } from './condense';
import { fineTuneRequestOf, formatTrainResult, runTrain } from './train';
import { formatSriglStepResult, sriglStepRequestOf } from './sriglStep';
import { toolVersion } from './toolVersion';
import { sriglStep, SriglStepError } from '../core/train/sriglStep';
import { TrainingError } from '../core/train/trainingError';
import { isCheckpointError } from '../core/errors';
import { readJsonValue } from '../core/formats/shared/jsonDocument';
import { parseRoleOverrides, parseRoleOverridesJson, RoleOverrideError, type RoleOverrides } from '../core/roles/roleOverrides';
import { withFile } from '../core/randomAccessFile';
import { createKernels, type KernelBackend } from '../kernels/createKernels';
import type { Kernels } from '../kernels/kernels';
import { KernelCrashError, NativeUnavailableError, WorkerMemoryError } from '../kernels/native/workerProcess';
import { TrainingStoppedError } from '../core/train/fineTune';

const USAGE = `Usage: sparsity-lens <command> [options]

Commands:
  report FILE [--nm N:M] [--json]   per-layer sparsity, fan-in and N:M compliance of a checkpoint
                                    (FILE may be a TF.js model.json or a model.safetensors.index.json)
  plan FILE (--sparsity S | --density D) [--distribution erk|er|uniform] [--power P]
            [--dense PATTERN]... [--dense-first] [--gamma-sal G] [--json]
                                    each linear and conv weight's target density and constant
                                    fan-in k, as SRigL's reference allocates them, beside what
                                    the checkpoint holds now

  prune FILE -o OUT [--nm N:M [--transposable] | --fan-in (--sparsity S | --density D)
             [--distribution erk|er|uniform] [--power P] [--dense PATTERN]...]
             [--include PATTERN]... [--exclude PATTERN]... [--force] [--json]
                                    prunes linear and conv weights to N:M (default 2:4, NVIDIA
                                    ASP's rule) or to the plan's constant fan-in k, and writes OUT
                                    in FILE's format: only the pruned bytes change, and OUT appears
                                    only once re-opened and verified

  condense FILE -o OUT.safetensors [--force] [--json]
                                    writes FILE (any format read) as safetensors with each constant
                                    fan-in weight in SRigL's condensed layout (values, indices,
                                    active rows); report reads it back as the dense weights

  train MODEL.onnx --data DATA.npz -o OUT.onnx [--method dense|fixed] [--nm N:M]
             [--epochs E | --steps N] [--batch B] [--lr LR] [--optimizer sgd|adamw]
             [--momentum M] [--nesterov] [--weight-decay WD] [--schedule cosine|constant|step]
             [--warmup N] [--seed S] [--temperature T] [--freeze PATTERN]...
             [--method srigl --sparsity S [--distribution erk|uniform|er] [--delta-t N]
             [--alpha A] [--t-end-fraction F] [--gamma-sal G | --no-ablation]
             [--no-ablation-layers PATTERN]... [--init checkpoint|random] [--grad-accumulation N]
             [--reset-optimizer-state]] [--checkpoint-every N] [--resume FILE] [--save-masks FILE]
             [--memory-limit MiB] [--force] [--json]
                                    fine-tunes the model in the native engine and writes it with
                                    new weights: dense, with its zeros fixed (--method fixed),
                                    pruned to N:M first and trained with that mask fixed (--nm 2:4,
                                    NVIDIA ASP's recipe), or sparse with constant fan-in and masks
                                    that move (SRigL; --sparsity alone implies it); without labels
                                    in DATA it distils the input model's own outputs

  srigl-step WEIGHTS --grads GRADS [--masks MASKS] -o OUT
             (--sparsity S [--distribution erk|er|uniform] | --layer-sparsity NAME=S ...)
             (--drop-fraction F | --step T --t-end T_END [--alpha A]) [--gamma-sal G]
             [--no-ablation] [--no-ablation-layers PATTERN]... [--force] [--json]
                                    one SRigL mask update, as the paper's code makes it, of every
                                    linear/conv weight GRADS holds a dense gradient for (any format
                                    read; tensors matched by name): drop the smallest |w| of each
                                    layer, ablate neurons with too few salient weights, regrow each
                                    kept neuron to the same fan-in k by |gradient|. Each layer's
                                    mask must already be within its sparsity (prune --fan-in first).
                                    OUT (.safetensors, .npz or .pt) holds only the updated layers:
                                    each one's new weights under its name, as float32 (the update
                                    computes in float32), and its new mask as <name>.mask (uint8
                                    0/1); OUT appears only once re-opened and verified

  diff A B [--map JSON] [--json]    what changed between two checkpoints, tensor by tensor (matched
                                    by name): positions turned on and off, |Δw| of kept weights,
                                    density, fan-in and N:M on each side

Options:
  --nm N:M      the N:M pattern to check (default 2:4)
  --json        print the report as JSON (same as --format json)
  --format F    table (default), json, csv or markdown (diff: table or json)
  --sparsity S  plan: the global sparsity, a decimal in [0, 1) taken as written (0.9 is density 0.1)
  --density D   plan: the global density, in (0, 1]
  --distribution  plan: erk (default), er (kernel dimensions left out) or uniform
  --power P     plan: ERK / ER power scale (default 1)
  --dense PATTERN  plan: keep the weights whose names match dense (the --roles pattern syntax);
                repeatable
  --dense-first plan: keep the first weight layer dense
  --gamma-sal G plan: SRigL's γ_sal for the neuron-ablation candidates (default 0.3; ≥ 1 is a count)
  --no-ablation-layers PATTERN  plan: layers never ablated besides the last weight layer; repeatable
  --grads FILE  srigl-step: the dense (unmasked) gradients, under the weights' names
  --masks FILE  srigl-step: 0/1 masks (any numeric dtype) as <name> or <name>.mask (a previous OUT);
                default: the non-zeros of WEIGHTS
  --layer-sparsity NAME=S  srigl-step: layer NAME (or a pattern, the --roles syntax) at sparsity
                S, taken as the decimal written; wins over --sparsity; repeatable
  --sparsity S  srigl-step: planned over the updated layers by --distribution (default erk), as
                plan does; layers it makes dense are left unchanged. For one layer ERK keeps
                int(numel · S) zeros; --layer-sparsity takes S literally
  --drop-fraction F  srigl-step: the share of each layer's active weights dropped, in [0, 1]
  --step T, --t-end T_END, --alpha A  srigl-step: f = A/2 · (1 + cos(π T / T_END)) (A default
                0.3); T must be before T_END, where SRigL stops updating
  --gamma-sal G srigl-step: γ_sal of neuron ablation (default 0.3; ≥ 1 is a count)
  --no-ablation srigl-step: no neuron ablation in any layer
  --no-ablation-layers PATTERN  srigl-step: layers never ablated (the --roles pattern syntax);
                repeatable. No layer is protected otherwise: the tool sees tensors, not which
                layer is the model's last
  -o, --output OUT  prune, condense, train, srigl-step: the file to write (beside it: shards, external data); never FILE itself
  --force       prune, condense, train, srigl-step: replace OUT if it exists
  --transposable  prune: 2:4 along rows and columns of every 4 × 4 block (ASP m4n2_2d), so the
                transposed weight is 2:4 too
  --fan-in      prune: every neuron keeps its k largest |w|, k from the plan (--sparsity …, as plan)
  --include PATTERN, --exclude PATTERN  prune: the weights to prune (the --roles pattern syntax,
                matched against file and display names); repeatable
  --data FILE   train: .npz with x_train, y_train, x_test, y_test (keys: --x, --y, --test-x,
                --test-y), or an .npy of inputs with --y LABELS.npy [--test-x … --test-y …]
  --method M    train: dense (default), fixed (the input's zeros stay zero) or srigl
  --epochs E, --steps N  train: length of the run (default 20 epochs)
  --batch B     train: samples per step (default 128)
  --lr LR       train: learning rate (default 0.01 for SGD, 0.05 for SGD with SRigL, 0.001 for AdamW)
  --optimizer O train: sgd (default: momentum 0.9) or adamw (weight decay 0.01 by default)
  --schedule S  train: cosine (default: to 0 at the last step), constant, or step (÷10 at 50 % and 75 %)
  --warmup N    train: steps of linear warm-up
  --seed S      train: the shuffling seed (default 0); a seed reproduces a run bit for bit
  --temperature T  train: softmax temperature of distillation (default 2)
  --freeze PATTERN  train: keep matching initializers as they are (the --roles pattern syntax)
  --sparsity S  train (SRigL): the global sparsity, spread over the layers by --distribution (ERK
                by default) exactly as plan shows it; each layer keeps a constant fan-in k
  --delta-t N   train (SRigL): steps between mask updates (default: T_end / 36, so 35 updates)
  --alpha A     train (SRigL): the first update's drop fraction, f(t) = A/2 (1 + cos(pi t / T_end))
                (default 0.3)
  --t-end-fraction F  train (SRigL): masks move until F of the steps (default 0.75)
  --gamma-sal G train (SRigL): neurons with fewer salient weights than max(1, int(G k)) are
                ablated (default 0.3; >= 1 is a count); never the last layer
  --no-ablation train (SRigL): no neuron ablation
  --init I      train (SRigL): checkpoint (default: each neuron keeps its k largest |w|) or random
                (random k inputs per neuron, weights drawn from N(0, 2/k) as the reference does)
  --grad-accumulation N  train (SRigL): an update regrows by the mean dense gradient of the last
                N batches (default 1)
  --reset-optimizer-state  train (SRigL): newly grown weights start with zero AdamW moments
                (default: they continue, as in the SRigL reference; SGD momentum always starts at 0)
  --checkpoint-every N  train: also write OUT.stepN.onnx every N steps (verified, atomic)
  --memory-limit MiB  train: stop the training worker if its resident memory passes this; the last
                    checkpoint stays on disk
  --resume FILE     train: go on from FILE, a checkpoint of the same run (OUT.stepN.onnx): its
                    weights and masks, from its step (the optimizer's state starts again at 0)
  --save-masks FILE  train: write the final masks to FILE (.safetensors, .npz or .pt; uint8 per
                weight, named <weight>.mask)
  --map JSON    diff: tensors renamed between A and B, as {"name in A": "name in B", …}; a key
                /regex/ renames every name it matches ("$1" … in the replacement)
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
        sparsity: { type: 'string' },
        density: { type: 'string' },
        distribution: { type: 'string', default: 'erk' },
        power: { type: 'string' },
        dense: { type: 'string', multiple: true },
        'dense-first': { type: 'boolean' },
        map: { type: 'string' },
        'gamma-sal': { type: 'string' },
        'no-ablation-layers': { type: 'string', multiple: true },
        output: { type: 'string', short: 'o' },
        force: { type: 'boolean' },
        transposable: { type: 'boolean' },
        'fan-in': { type: 'boolean' },
        include: { type: 'string', multiple: true },
        exclude: { type: 'string', multiple: true },
        data: { type: 'string' },
        method: { type: 'string' },
        epochs: { type: 'string' },
        steps: { type: 'string' },
        batch: { type: 'string' },
        lr: { type: 'string' },
        optimizer: { type: 'string' },
        momentum: { type: 'string' },
        nesterov: { type: 'boolean' },
        'weight-decay': { type: 'string' },
        schedule: { type: 'string' },
        warmup: { type: 'string' },
        seed: { type: 'string' },
        temperature: { type: 'string' },
        x: { type: 'string' },
        y: { type: 'string' },
        'test-x': { type: 'string' },
        'test-y': { type: 'string' },
        freeze: { type: 'string', multiple: true },
        threads: { type: 'string' },
        grads: { type: 'string' },
        masks: { type: 'string' },
        'layer-sparsity': { type: 'string', multiple: true },
        'drop-fraction': { type: 'string' },
        step: { type: 'string' },
        't-end': { type: 'string' },
        'delta-t': { type: 'string' },
        alpha: { type: 'string' },
        't-end-fraction': { type: 'string' },
        'no-ablation': { type: 'boolean' },
        init: { type: 'string' },
        'grad-accumulation': { type: 'string' },
        'reset-optimizer-state': { type: 'boolean' },
        'checkpoint-every': { type: 'string' },
        'save-masks': { type: 'string' },
        resume: { type: 'string' },
        'memory-limit': { type: 'string' },
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
  if (!['report', 'plan', 'diff', 'prune', 'condense', 'train', 'srigl-step'].includes(command)) {
    err.write(`error: unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  const fileCount = command === 'diff' ? 2 : 1;
  if (files.length !== fileCount) {
    err.write(`error: ${command} takes exactly ${fileCount === 2 ? 'two files, A and B' : 'one FILE'}\n${USAGE}`);
    return 2;
  }
  let renames: [string, string][] = [];
  if (parsed.values.map !== undefined) {
    try {
      renames = renamesOf(parsed.values.map);
    } catch (e) {
      err.write(`error: --map: ${(e as Error).message}\n`);
      return 2;
    }
  }
  let planRequest: CheckpointPlanRequest | undefined;
  if (command === 'plan' || (command === 'prune' && parsed.values['fan-in'])) {
    try {
      planRequest = planRequestOf(parsed.values);
    } catch (e) {
      err.write(`error: ${(e as Error).message}\n`);
      return 2;
    }
  }
  let nm = DEFAULT_NM;
  try {
    if (parsed.values.nm !== undefined) nm = parseNmPattern(parsed.values.nm);
  } catch (e) {
    err.write(`error: --nm: ${(e as Error).message}\n`);
    return 2;
  }
  const format = parsed.values.json ? 'json' : (parsed.values.format ?? 'table');
  const formats = ['diff', 'prune', 'condense', 'train', 'srigl-step'].includes(command)
    ? ['table', 'json']
    : ['table', 'json', 'csv', 'markdown'];
  if (!formats.includes(format)) {
    err.write(`error: --format must be ${formats.slice(0, -1).join(', ')} or ${formats.at(-1)}, not "${format}"\n`);
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
  const memoryLimitText = parsed.values['memory-limit'];
  const memoryLimit = memoryLimitText === undefined ? undefined : Number(memoryLimitText) * 2 ** 20;
  if (memoryLimit !== undefined && !(memoryLimit > 0)) {
    err.write(`error: --memory-limit takes a number of MiB > 0, not "${memoryLimitText}"\n`);
    return 2;
  }
  // The bundle lives in dist/; the addon and the worker are found from the package root.
  const kernels =
    deps.kernels ??
    createKernels({
      backend,
      root: path.resolve(__dirname, '..'),
      onWarning: (m) => err.write(m + '\n'),
      jobMemoryLimitBytes: memoryLimit,
    });
  try {
    // The file is opened and scanned where the kernels run (the worker process, for native ones).
    if (command === 'diff') {
      const diff = await kernels.diffFiles({ a: { file: files[0], roles }, b: { file: files[1], roles }, renames, nm });
      out.write(format === 'table' ? formatDiffTable(diff) : JSON.stringify(diff, null, 2) + '\n');
      return 0;
    }
    if (command === 'prune') {
      const result = await runPrune(
        {
          file: files[0],
          output: parsed.values.output,
          force: parsed.values.force ?? false,
          roles,
          nm,
          transposable: parsed.values.transposable ?? false,
          plan: planRequest,
          include: parsed.values.include ?? [],
          exclude: parsed.values.exclude ?? [],
          planOptionsGiven: parsed.values.sparsity !== undefined || parsed.values.density !== undefined,
        },
        kernels,
        (line) => err.write(line + '\n'),
      );
      const bytes = result.written.reduce((s, w) => s + statSync(w).size, 0);
      out.write(format === 'table' ? formatPruneResult(result, bytes) : JSON.stringify(result, null, 2) + '\n');
      return 0;
    }
    if (command === 'train') {
      const request = await fineTuneRequestOf(files[0], {
        ...parsed.values,
        ...(parsed.values.nm !== undefined ? { nm } : { nm: undefined }),
      });
      // Ctrl-C stops at the next step boundary and writes that step's weights; a second one quits.
      const stop = new AbortController();
      const interrupt = () => {
        if (stop.signal.aborted) process.exit(130);
        err.write('stopping at the next step (Ctrl-C again quits without writing)\n');
        stop.abort();
      };
      process.on('SIGINT', interrupt);
      try {
        const result = await runTrain(request, kernels, (line) => err.write(line + '\n'), stop.signal);
        out.write(format === 'table' ? formatTrainResult(result) : JSON.stringify(result, null, 2) + '\n');
        return result.status === 'done' ? 0 : 130;
      } finally {
        process.off('SIGINT', interrupt);
      }
    }
    if (command === 'srigl-step') {
      const request = sriglStepRequestOf(files[0], parsed.values, roles, await toolVersion());
      const result = await sriglStep(request);
      out.write(format === 'table' ? formatSriglStepResult(result, request) : JSON.stringify(result, null, 2) + '\n');
      return 0;
    }
    if (command === 'condense') {
      const result = await runCondense(
        { file: files[0], output: parsed.values.output, force: parsed.values.force ?? false, roles },
        kernels,
      );
      const inputBytes = statSync(files[0]).size;
      const bytes = result.written.reduce((s, w) => s + statSync(w).size, 0);
      out.write(format === 'table' ? formatCondenseResult(result, inputBytes, bytes) : JSON.stringify(result, null, 2) + '\n');
      return 0;
    }
    const analysis = await kernels.analyseFile({ file: files[0], roles, nm, zeroThreshold: 0 });
    for (const pattern of analysis.unusedRoles) err.write(`warning: --roles: pattern "${pattern}" matches no tensor\n`);
    if (planRequest) {
      const plan = await planWithAblation(analysis, planRequest, kernels, { file: files[0], roles });
      const text = {
        table: formatPlanTable,
        json: (p: typeof plan) => JSON.stringify(p, null, 2) + '\n',
        csv: formatPlanCsv,
        markdown: formatPlanMarkdown,
      };
      out.write(text[format as keyof typeof text](plan));
    } else {
      out.write(format === 'table' ? formatReportTable(analysis.report) : formatReport(analysis.report, format as ExportFormat));
    }
    return 0;
  } catch (e) {
    if (isCheckpointError(e)) {
      err.write(`error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof PlanError || e instanceof PruneError || e instanceof TrainingError || e instanceof SriglStepError) {
      err.write(`error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof RoleOverrideError) {
      err.write(`error: --roles: ${e.message}\n`);
      return 2;
    }
    if (
      e instanceof NativeUnavailableError ||
      e instanceof KernelCrashError ||
      e instanceof WorkerMemoryError ||
      e instanceof WriteError ||
      e instanceof TrainingStoppedError
    ) {
      err.write(`error: ${e.message}\n`);
      return 1;
    }
    err.write(`error: ${files[0]}: unexpected failure: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  } finally {
    if (!deps.kernels) await kernels.dispose();
  }
}

/** `--map`: a JSON object of tensor names in A to their names in B. */
function renamesOf(text: string): [string, string][] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('give a JSON object {"name in A": "name in B", …}');
  const renames = Object.entries(value).map(([a, b]): [string, string] => {
    if (typeof b !== 'string') throw new Error(`the name in B for "${a}" is not a string`);
    return [a, b];
  });
  try {
    renamedFor(renames);
  } catch (e) {
    throw new Error(`not a valid regular expression: ${(e as Error).message}`);
  }
  return renames;
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
