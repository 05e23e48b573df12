// Every command that writes a checkpoint, as a user runs it, on a small real input: the cases
// the kill harness and the write-fault tests put through every step of their writes.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { WRITE_STEPS } from '../../src/core/outputFiles';
import { CLI, fixture, REPO } from './fixtures';
import { SHARED_DATA } from './onnxAccuracy';

export interface WritingCommand {
  readonly name: string;
  /** Files copied into the input folder; the first is the model the command reads. */
  readonly inputs: readonly string[];
  /** The command line after `node`, given the copied model and the output folder. */
  readonly argv: (model: string, outputs: string) => string[];
  /** Every file an uninterrupted run leaves in the output folder, the main output first. */
  readonly outputs: readonly string[];
  /** Whether the outputs are written one by one (a run's checkpoints), not as one whole. */
  readonly separateWrites?: boolean;
}

const cli = (...args: string[]) => [CLI, ...args];

/** The editor's export: the extension's call (`kernels.pruneFile` in the kernel worker, `force` as the save dialog gives it). */
export const EDITOR_EXPORT = path.join(REPO, 'out', 'test', 'helpers', 'editorExport.js');

export const WRITING_COMMANDS: readonly WritingCommand[] = [
  {
    name: 'prune safetensors',
    inputs: [fixture('digits_mlp.safetensors')],
    argv: (m, o) => cli('prune', m, '--nm', '2:4', '-o', path.join(o, 'out.safetensors')),
    outputs: ['out.safetensors'],
  },
  {
    name: 'prune sharded safetensors',
    inputs: ['model.safetensors.index.json', ...[1, 2, 3].map((i) => `model-0000${i}-of-00003.safetensors`)].map((n) =>
      fixture('shards', 'sharded', n),
    ),
    argv: (m, o) => cli('prune', m, '--nm', '2:4', '-o', path.join(o, 'out.safetensors.index.json')),
    outputs: ['out.safetensors.index.json', ...[1, 2, 3].map((i) => `out-0000${i}-of-00003.safetensors`)],
  },
  {
    name: 'prune onnx',
    inputs: [fixture('digits_mlp.onnx')],
    argv: (m, o) => cli('prune', m, '--fan-in', '--sparsity', '0.9', '-o', path.join(o, 'out.onnx')),
    outputs: ['out.onnx'],
  },
  {
    name: 'prune onnx with external data',
    inputs: [fixture('generated', 'external', 'model.onnx'), fixture('generated', 'external', 'weights.bin')],
    argv: (m, o) => cli('prune', m, '--nm', '2:4', '-o', path.join(o, 'out.onnx')),
    outputs: ['out.onnx', 'out.onnx.data'],
  },
  {
    name: 'prune npz',
    inputs: [fixture('numpy', 'mlp.npz')],
    argv: (m, o) => cli('prune', m, '--nm', '2:4', '-o', path.join(o, 'out.npz')),
    outputs: ['out.npz'],
  },
  {
    name: 'prune npy',
    inputs: [fixture('numpy', 'w_c.weight.npy')],
    argv: (m, o) => cli('prune', m, '--nm', '2:4', '-o', path.join(o, 'out.npy')),
    outputs: ['out.npy'],
  },
  {
    name: 'prune pytorch zip',
    inputs: [fixture('pytorch', 'mlp.pt')],
    argv: (m, o) => cli('prune', m, '--nm', '2:4', '-o', path.join(o, 'out.pt')),
    outputs: ['out.pt'],
  },
  {
    name: 'prune pytorch legacy',
    inputs: [fixture('pytorch', 'mlp_legacy.pt')],
    argv: (m, o) => cli('prune', m, '--nm', '2:4', '-o', path.join(o, 'out.pt')),
    outputs: ['out.pt'],
  },
  {
    name: 'condense',
    inputs: [fixture('digits_mlp.safetensors')],
    // The input is pruned to constant fan-in first (`prepare`), then condensed.
    argv: (m, o) => cli('condense', m.replace(/\.safetensors$/, '.fanin.safetensors'), '-o', path.join(o, 'out.safetensors')),
    outputs: ['out.safetensors'],
  },
  {
    name: 'train with --checkpoint-every and --save-masks',
    inputs: [path.join(SHARED_DATA, 'digits_mlp.onnx'), path.join(SHARED_DATA, 'digits.npz')],
    argv: (m, o) =>
      cli(
        'train',
        m,
        '--data',
        path.join(path.dirname(m), 'digits.npz'),
        '--sparsity',
        '0.9',
        '--epochs',
        '2',
        '--checkpoint-every',
        '10',
        '--save-masks',
        path.join(o, 'masks.safetensors'),
        '-o',
        path.join(o, 'out.onnx'),
      ),
    outputs: ['out.onnx', 'out.step10.onnx', 'out.step20.onnx', 'masks.safetensors'],
    separateWrites: true,
  },
  {
    name: "the editor's export (prune in the kernel worker)",
    inputs: [fixture('digits_mlp.onnx')],
    argv: (m, o) => [EDITOR_EXPORT, m, path.join(o, 'out.onnx')],
    outputs: ['out.onnx'],
  },
];

/** Copies a command's inputs into `folder` (and makes what it reads from them); returns the model's path there. */
export function prepareInputs(command: WritingCommand, folder: string): string {
  mkdirSync(folder, { recursive: true });
  for (const input of command.inputs) copyFileSync(input, path.join(folder, path.basename(input)));
  const model = path.join(folder, path.basename(command.inputs[0]));
  if (command.name === 'condense') {
    const r = spawnSync(
      process.execPath,
      cli('prune', model, '--fan-in', '--sparsity', '0.9', '-o', model.replace(/\.safetensors$/, '.fanin.safetensors')),
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`preparing the condense input: ${r.stderr}`);
  }
  return model;
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** The sha256 of every file in a folder, by name (staging folders and other subfolders listed as such). */
export function folderDigests(folder: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(folder, { withFileTypes: true })) out[e.name] = e.isFile() ? sha256(path.join(folder, e.name)) : 'folder';
  return out;
}

/** One command set up in its own folders: the copied input, the output folder, the write log. */
export interface CommandSetup {
  readonly inputFolder: string;
  readonly outputs: string;
  readonly log: string;
  readonly inputDigests: Record<string, string>;
  readonly argv: string[];
}

export function setUpCommand(command: WritingCommand, temp: string): CommandSetup {
  const root = path.join(temp, command.name.replace(/\W+/g, '-'));
  const inputFolder = path.join(root, 'in');
  const outputs = path.join(root, 'out');
  const model = prepareInputs(command, inputFolder);
  return {
    inputFolder,
    outputs,
    log: path.join(root, 'steps.log'),
    inputDigests: folderDigests(inputFolder),
    argv: command.argv(model, outputs),
  };
}

/** Empties the output folder and runs the command to its end, the file layer's test setting in `env`. */
export function runInto(setup: CommandSetup, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  rmSync(setup.outputs, { recursive: true, force: true });
  mkdirSync(setup.outputs, { recursive: true });
  return spawnSync(process.execPath, setup.argv, {
    encoding: 'utf8',
    env: { ...process.env, SPARSITY_LENS_TEST_WRITES_LOG: setup.log, ...env },
  });
}

/** An uninterrupted run: the digests of what it wrote, the steps of its write (`N STEP PATH`) and its wall time. */
export function referenceRun(
  command: WritingCommand,
  setup: CommandSetup,
): { expected: Record<string, string>; steps: string[]; ms: number } {
  rmSync(setup.log, { force: true });
  const started = Date.now();
  const r = runInto(setup, { SPARSITY_LENS_TEST_WRITES: 'trace' });
  const ms = Date.now() - started;
  if (r.status !== 0) throw new Error(`${command.name}: ${r.stderr}`);
  const expected = folderDigests(setup.outputs);
  if (Object.keys(expected).sort().join() !== [...command.outputs].sort().join())
    throw new Error(`${command.name} wrote ${Object.keys(expected).join(', ')}, not ${command.outputs.join(', ')}`);
  const steps = readFileSync(setup.log, 'utf8').trim().split('\n');
  rmSync(setup.log);
  for (const kind of WRITE_STEPS)
    if (!steps.some((l) => l.split(' ')[1] === kind)) throw new Error(`${command.name}: the write has no ${kind} step`);
  return { expected, steps, ms };
}
