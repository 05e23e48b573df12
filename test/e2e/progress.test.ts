import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectText, useWorkbench } from './harness';

// The kernel worker's test hook: each batch of a *.slow-scan.* file takes 2 s longer. The server
// inherits this process's environment; only such files are slowed.
process.env.SPARSITY_LENS_TEST_SLOW_SCAN_MS = '2000';

/** A safetensors file of three 4096 × 4096 float32 weights of zeros (a sparse file: nothing written but the header). */
function writeLargeZeros(file: string): void {
  const bytes = 4096 * 4096 * 4;
  const header: Record<string, unknown> = {};
  ['a', 'b', 'c'].forEach((name, i) => {
    header[`${name}.weight`] = { dtype: 'F32', shape: [4096, 4096], data_offsets: [i * bytes, (i + 1) * bytes] };
  });
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, Buffer.concat([length, json]));
    fs.ftruncateSync(fd, 8 + json.length + 3 * bytes);
  } finally {
    fs.closeSync(fd);
  }
}

describe('e2e: progress on a large file', () => {
  const wb = useWorkbench();

  it('shows the share of bytes scanned and the tensors scanned so far, then the whole editor', async () => {
    writeLargeZeros(path.join(wb().workspace, 'big.slow-scan.safetensors'));
    await wb()
      .waitForView('Sparsity Report')
      .catch(() => undefined);
    await wb().runCommand('Refresh Explorer');
    await wb().openFromExplorer('big.slow-scan.safetensors');
    const view = wb().webview();
    // Each tensor is a third of the bytes, in a batch of its own.
    await expectText(view.locator('.loading-screen'), /Analysing checkpoint… 33% · 64\.0 MiB of 192\.0 MiB/, 60_000);
    const rows = view.locator('table.provisional tbody tr');
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().innerText(), /a\.weight\s+4096 × 4096\s+100(\.0)?%/);
    await wb().screenshot('progress-partial', view.locator('body'));
    await expectText(view.locator('.verdict'), /./, 60_000);
    assert.equal(await view.locator('table.provisional').count(), 0, 'the full editor replaced the partial table');
  });
});
