import * as vscode from 'vscode';
import * as path from 'node:path';
import { headline, isCheckpointError, printable } from '../core/errors';

/** Jobs that take longer than this show a cancellable notification too. */
const NOTIFY_AFTER_MS = 400;

export interface JobProgress {
  /** The step under way, e.g. the tensor being analysed. */
  readonly message: string;
  /** Share of the whole job this step completes, in percent. */
  readonly increment: number;
}

export interface JobOptions {
  readonly title: string;
  readonly output: vscode.OutputChannel;
  readonly notifyAfterMs?: number;
  /** Cancels the job from outside (an editor closed while its analysis runs). */
  readonly cancel?: AbortSignal;
}

/**
 * Runs a long job the way every job of the extension runs: progress in the status bar at once,
 * a cancellable notification only once it runs past `notifyAfterMs` (quick jobs do not flash
 * one), and on failure the details in the output channel. A cancel aborts the job's signal; the
 * job then rejects with vscode.CancellationError.
 */
export async function runJob<T>(
  options: JobOptions,
  job: (signal: AbortSignal, report: (progress: JobProgress) => void) => Promise<T>,
): Promise<T> {
  const abort = new AbortController();
  if (options.cancel?.aborted) abort.abort();
  options.cancel?.addEventListener('abort', () => abort.abort(), { once: true });
  let message = '';
  let percent = 0;
  let toNotification: ((progress: JobProgress) => void) | undefined;
  const report = (progress: JobProgress) => {
    message = progress.message;
    percent += progress.increment;
    toNotification?.(progress);
  };
  const work = job(abort.signal, report).catch((e: unknown) => {
    if (abort.signal.aborted) throw new vscode.CancellationError();
    options.output.appendLine(`[error] ${options.title}: ${(e as Error).stack ?? String(e)}`);
    throw e;
  });
  const settled = work.then(
    () => undefined,
    () => undefined,
  );
  void vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: options.title }, () => settled);
  const notify = setTimeout(() => {
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: options.title, cancellable: true },
      (progress, token) => {
        const subscription = token.onCancellationRequested(() => abort.abort());
        progress.report({ message, increment: percent });
        toNotification = (p) => progress.report({ message: p.message, increment: p.increment });
        return settled.finally(() => subscription.dispose());
      },
    );
  }, options.notifyAfterMs ?? NOTIFY_AFTER_MS);
  void settled.finally(() => clearTimeout(notify));
  return work;
}

/** The one sentence a user is shown for an error (checkpoint errors name the file and the problem). */
export function userMessage(e: unknown, context = 'Sparsity Lens failed'): string {
  return isCheckpointError(e) ? `${printable(path.basename(e.file))}: ${headline(e)}` : `${context}: ${(e as Error).message ?? String(e)}`;
}

/** Shows one sentence; the details go to the output channel. A cancel shows nothing. */
export function showError(output: vscode.OutputChannel, e: unknown): void {
  if (e instanceof vscode.CancellationError) return;
  output.appendLine(`[error] ${(e as Error).stack ?? String(e)}`);
  void vscode.window.showErrorMessage(userMessage(e));
}
