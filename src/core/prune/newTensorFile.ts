import * as nodePath from 'node:path';
import { numelOf, type Checkpoint } from '../checkpoint';
import { printable } from '../errors';
import { VerificationError } from './pruneCheckpoint';
import { checkOutputs, writeStaged } from './stagedOutput';
import { tensorChunks } from '../tensorBytes';
import { createNpz } from '../formats/numpy/create';
import { createTorchSave } from '../formats/pytorch/create';
import { createSafetensors } from '../formats/safetensors/create';
import type { NewTensor } from '../formats/shared/newTensors';

/**
 * New checkpoint files from tensors held in memory (srigl-step's output, a training run's
 * masks), in the format their extension names, written as every output is: staged beside their
 * place, made durable, re-opened by the readers and checked byte for byte, then renamed.
 */

/** A file of tensors from memory, in one format. */
type Creator = (path: string, tensors: readonly NewTensor[], metadata: Readonly<Record<string, string>>) => Promise<void>;

const CREATORS: Readonly<Record<string, Creator>> = {
  '.safetensors': createSafetensors,
  '.npz': (path, tensors) => createNpz(path, tensors),
  '.pt': (path, tensors) => createTorchSave(path, tensors),
};

/** The extensions a new file may have. */
export const NEW_FILE_EXTENSIONS: readonly string[] = Object.keys(CREATORS);

/** Why `output` cannot be written as a new file of tensors (its extension), or undefined when it can. */
export function newFileProblem(output: string): string | undefined {
  const ext = nodePath.extname(output).toLowerCase();
  if (CREATORS[ext]) return undefined;
  return `${NEW_FILE_EXTENSIONS.join(', ')} files can be written; ${printable(nodePath.basename(output))} has ${ext ? `the extension ${printable(ext)}` : 'no extension'}`;
}

export interface NewFileRequest {
  readonly output: string;
  readonly tensors: readonly NewTensor[];
  /** Key–value metadata, where the format has a place for it (safetensors' `__metadata__`). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Files the output may not be. */
  readonly inputs: readonly string[];
  readonly force: boolean;
  readonly signal?: AbortSignal;
}

/**
 * Writes the tensors into a staging folder beside `output`, makes the file durable, re-opens it
 * with the readers and checks every tensor (name, dtype, shape, bytes), and only then renames it
 * into place; on any failure the staging folder goes and nothing is left at `output`. An existing
 * output, or one that is an input, is a PruneError (as for every written file).
 */
export async function writeNewFile({ output, tensors, metadata = {}, inputs, force, signal }: NewFileRequest): Promise<string[]> {
  const problem = newFileProblem(output);
  if (problem) throw new RangeError(problem);
  const create = CREATORS[nodePath.extname(output).toLowerCase()];
  await checkOutputs([output], inputs, force);
  const name = nodePath.basename(output);
  const { paths } = await writeStaged({
    output,
    inputs,
    force,
    signal,
    write: async (folder) => {
      await create(nodePath.join(folder, name), tensors, metadata);
      return [name];
    },
    verify: (written) => verifyWritten(written, tensors, signal),
  });
  return paths;
}

/** The written file read back: exactly `tensors`, each with its dtype, shape and bytes. */
export async function verifyWritten(written: Checkpoint, tensors: readonly NewTensor[], signal?: AbortSignal): Promise<void> {
  const fail = (what: string): never => {
    throw new VerificationError(`the written file did not verify: ${what}; it was not kept`);
  };
  if (written.skipped.length > 0)
    fail(`its reader lists ${written.skipped.length} tensors apart (${written.skipped[0].name}: ${written.skipped[0].reason})`);
  if (written.tensors.length !== tensors.length) fail(`it reads back as ${written.tensors.length} tensors, not ${tensors.length}`);
  // A torch.save file whose names all start with "module." reads back without it, as DDP checkpoints do.
  const prefix = written.metadata['prefix stripped'] ?? '';
  const byName = new Map(written.tensors.map((t) => [prefix + t.name, t]));
  for (const t of tensors) {
    const b = byName.get(t.name);
    if (!b) return fail(`tensor "${t.name}" is missing`);
    if (b.dtype !== t.dtype || b.shape.join() !== t.shape.join())
      fail(`tensor "${t.name}" reads back as ${b.dtype} [${b.shape.join(', ')}], not ${t.dtype} [${t.shape.join(', ')}]`);
    let at = 0;
    for await (const chunk of tensorChunks(b.source, b.dtype, numelOf(b.shape), undefined, signal)) {
      if (Buffer.compare(chunk.bytes, t.bytes.subarray(at, at + chunk.bytes.length)) !== 0)
        fail(`tensor "${t.name}" holds other bytes than written`);
      at += chunk.bytes.length;
    }
    if (at !== t.bytes.length) fail(`tensor "${t.name}" holds ${at} bytes, not ${t.bytes.length}`);
  }
}
