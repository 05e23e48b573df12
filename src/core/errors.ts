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
    super(
      `${printable(file, MAX_FILE_NAME_CHARS)}: ${printable(detail, MAX_DETAIL_CHARS)}${offset === undefined ? '' : ` (at byte ${offset})`}`,
    );
    this.name = 'CheckpointError';
  }
}

/** Longest file name and detail a message quotes; what a hostile file puts there can be any size. */
const MAX_FILE_NAME_CHARS = 512;
const MAX_DETAIL_CHARS = 1000;

/** Characters that would break a message's one line or reorder what a terminal or view shows. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` on one printable line: control characters (NUL, CR, LF, ESC…), line separators and
 * bidirectional overrides are written as escapes (`\n`, `\x00`, `\u202e`), and past `max`
 * characters it is cut with an ellipsis. Messages quote file content and file names this way.
 */
export function printable(text: string, max = Infinity): string {
  const escaped = text.replace(UNPRINTABLE, (c) => {
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    const code = c.charCodeAt(0);
    return named[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
  return escaped.length > max ? `${escaped.slice(0, max - 1)}…` : escaped;
}

export function isCheckpointError(e: unknown): e is CheckpointError {
  return e instanceof CheckpointError;
}
