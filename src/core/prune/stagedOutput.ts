import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import type { Checkpoint } from '../checkpoint';
import { openCheckpoint } from '../formats/registry';
import type { StoredEdit } from '../formats/writer';
import { writerFor } from '../formats/writers';
import { asWriteError, makeFolder, renamePath, STAGING_PREFIX, syncFile, syncFolder, WriteError, writeWholeFile } from '../outputFiles';
import { readProcFile } from '../procFile';
import { withFile } from '../randomAccessFile';
import { storedPlaces } from '../storedTensor';
import { PruneError } from './pruneSelection';

/** `.sparsity-lens-<pid>-<start>-<random>`: the writing process and when it started (its pid may be reused later). */
const STAGING_NAME = new RegExp(`^${STAGING_PREFIX.replace(/\./g, '\\.')}(\\d+)-(\\d+)-`);

/** The list of names a staging folder is publishing, written before its first rename when there are several. */
const PUBLISHING = `${STAGING_PREFIX}publishing.json`;

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

/**
 * When process `pid` started (clock ticks after boot, from /proc), or undefined when no such
 * process runs: none has the pid, or it is a zombie (dead, waiting to be reaped). 0 where /proc
 * is missing (not Linux); the pid alone then tells, as `kill(pid, 0)` sees it.
 */
async function processStart(pid: number): Promise<number | undefined> {
  const stat = await readProcFile(`/proc/${pid}/stat`);
  if (stat === undefined) {
    if (await exists('/proc/self/stat')) return undefined;
    try {
      process.kill(pid, 0);
      return 0;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM' ? 0 : undefined;
    }
  }
  // The fields after the command's closing parenthesis: state is the first, starttime the 20th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' || fields[0] === 'X' ? undefined : Number(fields[19]);
}

/**
 * Removes the staging folders in `folder` of processes that died mid-write (a kill), never one
 * of a live process. A process killed while renaming several files into place (shards, then
 * their index) leaves its list of them: the files it had moved are removed too, unless the last
 * (the main file) made it, since then the output is whole.
 */
export async function removeStaleStaging(folder: string): Promise<void> {
  const names = await fs.readdir(folder).catch(() => [] as string[]);
  for (const name of names) {
    const match = STAGING_NAME.exec(name);
    if (!match || Number(match[1]) === process.pid || (await processStart(Number(match[1]))) === Number(match[2])) continue;
    const staging = nodePath.join(folder, name);
    const listed = await withFile(nodePath.join(staging, PUBLISHING), async (list) =>
      JSON.parse(new TextDecoder().decode(await list.read(0, list.size))),
    ).catch(() => undefined);
    // Only plain names in this folder: a list written by anyone else must not reach other files.
    const publishing = Array.isArray(listed) && listed.every(isPlainName) ? (listed as string[]) : undefined;
    if (publishing?.length && (await exists(nodePath.join(staging, publishing[publishing.length - 1])))) {
      for (const moved of publishing) {
        if (!(await exists(nodePath.join(staging, moved)))) await fs.rm(nodePath.join(folder, moved), { force: true });
      }
    }
    await fs.rm(staging, { recursive: true, force: true });
  }
}

const isPlainName = (name: unknown): boolean =>
  typeof name === 'string' && name !== '' && name !== '.' && name !== '..' && nodePath.basename(name) === name && !name.includes('/');

const exists = (path: string) =>
  fs.lstat(path).then(
    () => true,
    () => false,
  );

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
    const start = (await processStart(process.pid)) ?? 0;
    const folder = await makeFolder(nodePath.join(target, `${STAGING_PREFIX}${process.pid}-${start}-`)).catch(
      (e: NodeJS.ErrnoException) => {
        throw e.code === 'ENOENT' ? new WriteError(output, 'ENOENT', `no such folder ${target}`) : asWriteError(e, output);
      },
    );
    return new StagedOutput(folder, target);
  }

  /** Where a staged file goes. */
  finalPath(name: string): string {
    return nodePath.join(this.target, name);
  }

  /** Flushes each staged file to the disk. */
  async sync(names: readonly string[]): Promise<void> {
    for (const name of names) await syncFile(nodePath.join(this.folder, name));
  }

  /**
   * Renames the staged files into place in order (the main file, last, makes the output
   * appear whole); if a rename or the folder's flush fails, the files already moved are removed again. With several
   * files, their list is kept first, so that a kill between the renames is undone by the next run.
   */
  async publish(names: readonly string[]): Promise<string[]> {
    if (names.length > 1) {
      const list = nodePath.join(this.folder, PUBLISHING);
      await writeWholeFile(list, new TextEncoder().encode(JSON.stringify(names)));
      await syncFile(list);
    }
    const moved: string[] = [];
    try {
      for (const name of names) {
        await renamePath(nodePath.join(this.folder, name), this.finalPath(name));
        moved.push(this.finalPath(name));
      }
      // A folder whose new names may not survive a power cut is a failed write too.
      await syncFolder(this.target);
    } catch (e) {
      await Promise.all(moved.map((m) => fs.rm(m, { force: true })));
      throw e;
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

/** A new output written through a staging folder: what to write, and how to check it. */
export interface StagedWrite<T> {
  readonly output: string;
  /** The input's files, which the output may never replace. */
  readonly inputs: readonly string[];
  readonly force: boolean;
  /** Writes the output's files into `folder` and returns their names, the main file last. */
  readonly write: (folder: string) => Promise<readonly string[]>;
  /** Checks the staged main file, opened by the readers, and returns what it found. */
  readonly verify: (written: Checkpoint) => Promise<T>;
  readonly onPhase?: (phase: 'writing' | 'verifying') => void;
  readonly signal?: AbortSignal;
}

/**
 * Writes files into a staging folder beside the output, makes them durable, re-opens and
 * verifies the main one, and only then renames them into place. On any failure nothing is left
 * (a system error becomes one WriteError naming the output); the input is only ever read.
 */
export async function writeStaged<T>(request: StagedWrite<T>): Promise<{ readonly paths: string[]; readonly verified: T }> {
  const { signal } = request;
  const staged = await StagedOutput.create(request.output);
  try {
    request.onPhase?.('writing');
    const names = await request.write(staged.folder);
    await staged.sync(names);
    request.onPhase?.('verifying');
    const written = await openCheckpoint(nodePath.join(staged.folder, names[names.length - 1]));
    let verified: T;
    try {
      verified = await request.verify(written);
    } finally {
      await written.release?.();
    }
    await checkOutputs(
      names.map((n) => staged.finalPath(n)),
      request.inputs,
      request.force,
    );
    signal?.throwIfAborted();
    return { paths: await staged.publish(names), verified };
  } catch (e) {
    await staged.discard();
    throw asWriteError(e, request.output);
  }
}

/**
 * Writes a copy of a checkpoint with some stored bytes replaced, in the input's format, through
 * a staging folder (`writeStaged`). The input's files are never written.
 */
export async function writeVerified<T>(request: VerifiedWrite<T>): Promise<{ readonly paths: string[]; readonly verified: T }> {
  const { checkpoint, signal, reopen } = request;
  return writeStaged({
    output: request.output,
    inputs: inputFiles(checkpoint),
    force: request.force,
    signal,
    onPhase: request.onPhase,
    write: (folder) =>
      writerFor(checkpoint)({ checkpoint, edits: request.edits, provenance: request.provenance, output: request.output, folder, signal }),
    verify: (opened) => request.verify(reopen ? reopen(opened) : opened),
  });
}

/** Every file a checkpoint reads: the model and what its tensors' bytes come from. */
export function inputFiles(checkpoint: Checkpoint): string[] {
  return [...new Set([checkpoint.file, ...checkpoint.tensors.flatMap((t) => storedPlaces(t.stored).map((p) => p.file))])];
}
