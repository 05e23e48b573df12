import { appendFileSync, promises as fs } from 'node:fs';
import * as nodePath from 'node:path';

/**
 * The one door through which writers put bytes on disk: creating a file, writing, flushing,
 * renaming, making a folder. Going through it lets tests fail any step with a real error code
 * (a full disk, a permission lost, an I/O error, the folder removed) or freeze the process just
 * before a step so that it can be killed there.
 *
 * Tests drive it through the environment variable `SPARSITY_LENS_TEST_WRITES`, which the
 * workers inherit:
 *   `trace`             log `N STEP PATH` before each step
 *   `stop:N`            log step N, then freeze before it (the test kills the process group)
 *   `fail:STEP:N:CODE`  the Nth STEP fails with CODE (ENOSPC, EACCES, EIO, folder-removed)
 * The log is the file named by `SPARSITY_LENS_TEST_WRITES_LOG`, else stderr.
 */
export const WRITE_STEPS = ['folder', 'create', 'write', 'sync', 'rename'] as const;
export type WriteStep = (typeof WRITE_STEPS)[number];

export const WRITE_FAULTS = ['ENOSPC', 'EACCES', 'EIO', 'folder-removed'] as const;
export type WriteFault = (typeof WRITE_FAULTS)[number];

export type WriteTest =
  | { readonly kind: 'trace' }
  | { readonly kind: 'stop'; readonly before: number }
  | { readonly kind: 'fail'; readonly step: WriteStep; readonly nth: number; readonly fault: WriteFault };

/** Parses the environment's test setting: undefined when it is unset; a typo throws (a test must notice it). */
export function parseWriteTest(text: string | undefined): WriteTest | undefined {
  if (!text) return undefined;
  if (text === 'trace') return { kind: 'trace' };
  const stop = /^stop:(\d+)$/.exec(text);
  if (stop) return { kind: 'stop', before: Number(stop[1]) };
  const fail = /^fail:(\w+):(\d+):([\w-]+)$/.exec(text);
  if (fail && WRITE_STEPS.includes(fail[1] as WriteStep) && WRITE_FAULTS.includes(fail[3] as WriteFault))
    return { kind: 'fail', step: fail[1] as WriteStep, nth: Number(fail[2]), fault: fail[3] as WriteFault };
  throw new Error(`SPARSITY_LENS_TEST_WRITES=${text}: expected trace, stop:N or fail:STEP:N:CODE`);
}

const test: WriteTest | undefined = parseWriteTest(process.env.SPARSITY_LENS_TEST_WRITES);
let stepsTaken = 0;
const stepsOfKind = new Map<WriteStep, number>();

const MESSAGES: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EACCES: 'permission denied',
  EIO: 'input/output error',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or folder',
};

function faultError(fault: WriteFault, path: string): NodeJS.ErrnoException {
  const code = fault === 'folder-removed' ? 'ENOENT' : fault;
  return Object.assign(new Error(`${code}: ${MESSAGES[code]}, ${path}`), { code, path });
}

/** The prefix of the staging folders writers write into, beside the output (`.sparsity-lens-<pid>-<start>-<random>`). */
export const STAGING_PREFIX = '.sparsity-lens-';

/** The folder the output goes to, for a path in it or in a staging folder of it. */
function outputFolderOf(path: string): string {
  const staged = path.lastIndexOf(`${nodePath.sep}${STAGING_PREFIX}`);
  return staged >= 0 ? path.slice(0, staged) : nodePath.dirname(path);
}

function log(line: string): void {
  const file = process.env.SPARSITY_LENS_TEST_WRITES_LOG;
  if (file) appendFileSync(file, line);
  else process.stderr.write(line);
}

/**
 * Counts a step and applies the test setting to it (trace, freeze, or fail). `folder` is the
 * output's folder, which the `folder-removed` fault removes.
 */
async function step(kind: WriteStep, path: string, folder = outputFolderOf(path)): Promise<void> {
  if (!test) return;
  const n = ++stepsTaken;
  const ofKind = (stepsOfKind.get(kind) ?? 0) + 1;
  stepsOfKind.set(kind, ofKind);
  if (test.kind === 'trace' || (test.kind === 'stop' && test.before === n)) log(`${n} ${kind} ${path}\n`);
  if (test.kind === 'stop' && test.before === n) {
    // Freeze where we are, without returning to the event loop: the test kills the process group now.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  }
  if (test.kind === 'fail' && test.step === kind && test.nth === ofKind) {
    if (test.fault === 'folder-removed') await fs.rm(folder, { recursive: true, force: true });
    throw faultError(test.fault, path);
  }
}

/** A new file being written. */
export interface OutputFile {
  /** Writes all of `bytes` at `position` (one step, however many system calls it takes). */
  write(bytes: Uint8Array, position: number): Promise<void>;
  close(): Promise<void>;
}

/** Creates a new file at `path`, refusing one that exists (writers write into a fresh folder). */
export async function createFile(path: string): Promise<OutputFile> {
  await step('create', path);
  const handle = await fs.open(path, 'wx');
  return {
    async write(bytes, position) {
      await step('write', path);
      for (let done = 0; done < bytes.length;) done += (await handle.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
    },
    close: () => handle.close(),
  };
}

/** Writes a whole new file at once. */
export async function writeWholeFile(path: string, bytes: Uint8Array): Promise<void> {
  const file = await createFile(path);
  try {
    await file.write(bytes, 0);
  } finally {
    await file.close();
  }
}

/** A new folder named `prefix` + random characters. */
export async function makeFolder(prefix: string): Promise<string> {
  await step('folder', prefix, nodePath.dirname(prefix));
  return fs.mkdtemp(prefix);
}

/** Flushes a file to the disk. */
export const syncFile = (path: string): Promise<void> => sync(path, outputFolderOf(path));

/** Flushes a folder's entries (the names renamed into it) to the disk. */
export const syncFolder = (path: string): Promise<void> => sync(path, path);

async function sync(path: string, folder: string): Promise<void> {
  await step('sync', path, folder);
  const handle = await fs.open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function renamePath(from: string, to: string): Promise<void> {
  await step('rename', to, nodePath.dirname(to));
  await fs.rename(from, to);
}

/** A write that the system refused (a full disk, a permission, an I/O error, a folder gone), naming the output. */
export class WriteError extends Error {
  override readonly name = 'WriteError';
  constructor(
    readonly file: string,
    readonly code: string,
    readonly detail = MESSAGES[code] ? `${MESSAGES[code]} (${code})` : code,
  ) {
    super(`cannot write ${file}: ${detail}`);
  }
}

/** `e` as a WriteError for `file` when it is a system error; otherwise `e` itself. */
export function asWriteError(e: unknown, file: string): unknown {
  if (e instanceof WriteError) return e;
  const { code, path } = (e ?? {}) as NodeJS.ErrnoException;
  // An error about a file elsewhere (the input, read while writing) is not the output's.
  const elsewhere =
    path !== undefined && nodePath.relative(nodePath.dirname(nodePath.resolve(file)), nodePath.resolve(path)).startsWith('..');
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) && !elsewhere ? new WriteError(file, code) : e;
}
