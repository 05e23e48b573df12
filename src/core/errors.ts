/** What went wrong with a checkpoint file, in words a user can act on. */
export type CheckpointProblem = 'empty' | 'truncated' | 'corrupt' | 'unsupported' | 'unsafe' | 'unknown-format' | 'io';

/**
 * The one error type for bad input: names the file, the problem and, where known,
 * the byte offset. Its message is the line the CLI prints after `error: `.
 */
export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    readonly problem: CheckpointProblem,
    readonly detail: string,
    readonly offset?: number,
  ) {
    super(`${file}: ${detail}${offset === undefined ? '' : ` (at byte ${offset})`}`);
    this.name = 'CheckpointError';
  }
}

export function isCheckpointError(e: unknown): e is CheckpointError {
  return e instanceof CheckpointError;
}
