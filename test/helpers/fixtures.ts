import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { buildReport, type SparsityReport } from '../../src/core/analysis/report';
import type { NmPattern } from '../../src/core/nmPattern';
import { openCheckpoint } from '../../src/core/formats/registry';
import { createKernels, type KernelBackend } from '../../src/kernels/createKernels';

/** The repository root (tests run from out/test/...). */
export const REPO = path.resolve(__dirname, '..', '..', '..');
export const FIXTURES = path.join(REPO, 'test', 'fixtures');
export const CLI = path.join(REPO, 'dist', 'cli.js');

/** Runs the built CLI (dist/cli.js) from the repository root, as a user would. */
export function runCli(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function fixture(...parts: string[]): string {
  return path.join(FIXTURES, ...parts);
}

/** The backends every report test runs on: the figures must not depend on the kernels. */
export const BACKENDS: readonly KernelBackend[] = ['reference', 'native'];

export async function reportOf(file: string, nm?: NmPattern, backend: KernelBackend = 'reference'): Promise<SparsityReport> {
  const kernels = createKernels({ backend, root: REPO });
  try {
    return await buildReport(await openCheckpoint(file), kernels, { nm });
  } finally {
    await kernels.dispose();
  }
}

/**
 * A temporary folder removed after the suite. Call in `before`, clean up in `after`; `write`
 * puts a file in it and returns its path.
 */
export function makeTempDir(): { dir: string; remove: () => void; write: (name: string, bytes: Uint8Array) => string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'sparsity-lens-test-'));
  return {
    dir,
    remove: () => rmSync(dir, { recursive: true, force: true }),
    write: (name, bytes) => {
      const file = path.join(dir, name);
      writeFileSync(file, bytes);
      return file;
    },
  };
}
