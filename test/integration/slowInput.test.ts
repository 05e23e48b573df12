import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import { closeAllEditors, extensionApi, openWithCustomEditor, waitFor, workspaceFile } from './helpers';

const VIEW_TYPE = 'sparsityLens.checkpoint';

/** The longest the extension host's event loop went without running a timer, over `ms`. */
async function longestStall(ms: number): Promise<number> {
  let longest = 0;
  let last = Date.now();
  const end = last + ms;
  while (Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    const now = Date.now();
    longest = Math.max(longest, now - last);
    last = now;
  }
  return longest;
}

describe('extension host: a checkpoint whose reader never returns', function () {
  this.timeout(120_000);
  beforeEach(() => closeAllEditors());

  it('leaves the editor responsive, and closing its editor cancels the analysis within the grace period', async () => {
    const { analyses } = await extensionApi();
    // The test hook (SPARSITY_LENS_TEST_SLOW_OPEN_MS, set by the test runner) makes the worker
    // block for 30 s opening a *.slow-open.* file, as a reader stuck in a loop would.
    const slow = workspaceFile('stuck.slow-open.safetensors');
    await vscode.workspace.fs.copy(workspaceFile('digits_mlp_24.safetensors'), slow, { overwrite: true });
    await openWithCustomEditor(slow, VIEW_TYPE);
    const pending = analyses.get(slow);
    const outcome = pending.then(
      () => 'analysed',
      (e: unknown) => (e instanceof vscode.CancellationError ? 'cancelled' : `failed: ${(e as Error).message}`),
    );
    // The reader runs in the worker: this process keeps running its timers and commands.
    const stall = await longestStall(1500);
    assert.ok(stall < 250, `the extension host's event loop stalled ${stall} ms`);
    const started = Date.now();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    assert.equal(await outcome, 'cancelled');
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 3000, `the analysis stopped ${elapsed} ms after its editor closed`);
    // The next checkpoint is analysed by a fresh worker.
    const next = workspaceFile('digits_mlp_24.onnx');
    await openWithCustomEditor(next, VIEW_TYPE);
    const analysis = await waitFor('the next analysis', () => analyses.find(next), { timeoutMs: 60_000 });
    assert.equal(analysis.report.weights.nnz, 25216);
    await vscode.workspace.fs.delete(slow);
  });
});
