import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import type { Checkpoint } from '../checkpoint';
import { openCheckpoint } from '../formats/registry';
import type { StoredEdit } from '../formats/writer';
import { writerFor } from '../formats/writers';
import { storedPlaces } from '../storedTensor';
import { PruneError } from './pruneSelection';

/** The prefix of staging folders: `.sparsity-lens-<pid>-<random>` beside the output. */
export const STAGING_PREFIX = '.sparsity-lens-';
const STAGING_NAME = /^\.sparsity-lens-(\d+)-/;

async function realPathOf(path: string): Promise<string> {
  return fs.realpath(path).catch(() => nodePath.resolve(path));
}

/**
 * Refuses outputs that would replace an input file (the model, a shard, an external data file)
 * or, without `force`, any existing file.
 */
export async function checkOutputs(outputs: readonly string[], inputs: readonly string[], force: boolean): Promise<void> {
  const inputPaths = new Set(await Promise.all(inputs.map(realPathOf)));
  for (const output of outputs) {
    if (inputPaths.has(await realPathOf(output))) throw new PruneError(`${output} is a file of the input: write the output elsewhere`);
    const exists = await fs.lstat(output).then(
      () => true,
      () => false,
    );
    if (exists && !force) throw new PruneError(`${output} exists; pass --force to replace it`);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes staging folders in `folder` left by processes that died mid-write (a kill); never one of a live process. */
async function removeStaleStaging(folder: string): Promise<void> {
  const names = await fs.readdir(folder).catch(() => [] as string[]);
  for (const name of names) {
    const pid = STAGING_NAME.exec(name)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !isRunning(Number(pid)))
      await fs.rm(nodePath.join(folder, name), { recursive: true, force: true });
  }
}

/**
 * Files written into a fresh folder beside the output, made durable, and only then renamed into
 * place (the main file last): a failure or a cancel before the rename leaves nothing at the
 * output paths, and `discard` removes the folder.
 */
export class StagedOutput {
  private constructor(
    readonly folder: string,
    private readonly target: string,
  ) {}

  /** A staging folder in the output's folder (the same file system, so renames are atomic). */
  static async create(output: string): Promise<StagedOutput> {
    const target = nodePath.dirname(nodePath.resolve(output));
    await removeStaleStaging(target);
    const folder = await fs.mkdtemp(nodePath.join(target, `${STAGING_PREFIX}${process.pid}-`)).catch((e: NodeJS.ErrnoException) => {
      throw new PruneError(`cannot write in ${target}: ${e.code === 'ENOENT' ? 'no such folder' : (e.code ?? e.message)}`);
    });
    return new StagedOutput(folder, target);
  }

  /** Where a staged file goes. */
  finalPath(name: string): string {
    return nodePath.join(this.target, name);
  }

  /** Flushes each staged file to the disk. */
  async sync(names: readonly string[]): Promise<void> {
    for (const name of names) {
      const handle = await fs.open(nodePath.join(this.folder, name), 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }

  /**
   * Renames the staged files into place in order (the main file, last, makes the output
   * appear whole); if a rename fails, the files already moved are removed again.
   */
  async publish(names: readonly string[]): Promise<string[]> {
    const moved: string[] = [];
    try {
      for (const name of names) {
        await fs.rename(nodePath.join(this.folder, name), this.finalPath(name));
        moved.push(this.finalPath(name));
      }
    } catch (e) {
      await Promise.all(moved.map((m) => fs.rm(m, { force: true })));
      throw e;
    }
    const dir = await fs.open(this.target, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    await this.discard();
    return moved;
  }

  async discard(): Promise<void> {
    await fs.rm(this.folder, { recursive: true, force: true });
  }
}

export interface VerifiedWrite<T> {
  /** The input as its reader opened it, and the edits of its stored bytes. */
  readonly checkpoint: Checkpoint;
  readonly edits: readonly StoredEdit[];
  readonly provenance: Readonly<Record<string, string>>;
  readonly output: string;
  readonly force: boolean;
  /** Checks the staged copy, re-opened by the readers (with `reopen`'s adjustments), and returns what it found. */
  readonly verify: (written: Checkpoint) => Promise<T>;
  readonly reopen?: (written: Checkpoint) => Checkpoint;
  readonly onPhase?: (phase: 'writing' | 'verifying') => void;
  readonly signal?: AbortSignal;
}

/**
 * Writes a copy of a checkpoint with some stored bytes replaced, in the input's format, into a
 * staging folder beside the output; makes it durable, re-opens and verifies it, and only then
 * renames it into place. The input's files are never written; on any failure nothing is left.
 */
export async function writeVerified<T>(request: VerifiedWrite<T>): Promise<{ readonly paths: string[]; readonly verified: T }> {
  const { checkpoint, signal } = request;
  const staged = await StagedOutput.create(request.output);
  try {
    request.onPhase?.('writing');
    const names = await writerFor(checkpoint)({
      checkpoint,
      edits: request.edits,
      provenance: request.provenance,
      output: request.output,
      folder: staged.folder,
      signal,
    });
    await staged.sync(names);
    request.onPhase?.('verifying');
    const opened = await openCheckpoint(nodePath.join(staged.folder, names[names.length - 1]));
    const written = request.reopen ? request.reopen(opened) : opened;
    let verified: T;
    try {
      verified = await request.verify(written);
    } finally {
      await written.release?.();
    }
    await checkOutputs(
      names.map((n) => staged.finalPath(n)),
      inputFiles(checkpoint),
      request.force,
    );
    signal?.throwIfAborted();
    return { paths: await staged.publish(names), verified };
  } catch (e) {
    await staged.discard();
    throw e;
  }
}

/** Every file a checkpoint reads: the model and what its tensors' bytes come from. */
export function inputFiles(checkpoint: Checkpoint): string[] {
  return [...new Set([checkpoint.file, ...checkpoint.tensors.flatMap((t) => storedPlaces(t.stored).map((p) => p.file))])];
}
