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
