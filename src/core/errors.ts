import { formatBytes } from './checkpoint';

/** What went wrong with a checkpoint file, in words a user can act on. */
export type CheckpointProblem = 'empty' | 'truncated' | 'corrupt' | 'unsupported' | 'unsafe' | 'unknown-format' | 'io' | 'timeout';

/**
 * The one error type for bad input: names the file, the problem and, where known,
 * the byte offset. Its message is the line the CLI prints after `error: `.
 */
export class CheckpointError extends Error {
  /** For a truncation: the file's size, and how far `neededBy` (its graph, header, data) needs it to go. Plain fields: they cross process boundaries. */
  readonly fileSize?: number;
  readonly neededBytes?: number;
  readonly neededBy?: string;

  constructor(
    readonly file: string,
    readonly problem: CheckpointProblem,
    readonly detail: string,
    readonly offset?: number,
    shortfall?: { readonly fileSize: number; readonly needed: number; readonly what: string },
  ) {
    super(
      `${printable(file, MAX_FILE_NAME_CHARS)}: ${printable(detail, MAX_DETAIL_CHARS)}${offset === undefined ? '' : ` (at byte ${offset})`}`,
    );
    this.name = 'CheckpointError';
    if (shortfall) {
      this.fileSize = shortfall.fileSize;
      this.neededBytes = shortfall.needed;
      this.neededBy = shortfall.what;
    }
  }
}

/** Longest file name and detail a message quotes; what a hostile file puts there can be any size. */
const MAX_FILE_NAME_CHARS = 512;
const MAX_DETAIL_CHARS = 1000;

/**
 * Characters a message must not hold: controls (NUL, CR, LF, ESC…), format characters (the
 * bidirectional overrides among them), private-use, unassigned and lone surrogate code points, line
 * separators, and U+FFFD (the trace of bytes that were not text).
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\u2028\u2029\ufffd]/gu;

/**
 * `text` on one printable line: the characters above written as escapes (`\n`, `\x00`,
 * `\u202e`, `\u{f0000}`), and past `max` characters cut with an ellipsis. Messages quote file
 * content and file names this way.
 */
export function printable(text: string, max = Infinity): string {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
  const escaped = text.replace(UNPRINTABLE, (c) => {
    const code = c.codePointAt(0)!;
    if (named[c]) return named[c];
    if (code < 0x100) return `\\x${code.toString(16).padStart(2, '0')}`;
    return code < 0x10000 ? `\\u${code.toString(16).padStart(4, '0')}` : `\\u{${code.toString(16)}}`;
  });
  if (escaped.length <= max) return escaped;
  const cut = escaped.slice(0, max - 1);
  return `${/[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut}…`; // never half a surrogate pair
}

/**
 * What went wrong, in one sentence for someone who has never seen the format's insides:
 * "Truncated: the file ends at 30.0 MiB but its graph needs 44.7 MiB." The parser's words stay
 * in `message` (the CLI's line, the log).
 */
export function headline(e: CheckpointError): string {
  const detail = printable(e.detail, MAX_DETAIL_CHARS);
  switch (e.problem) {
    case 'empty':
      return 'The file is empty.';
    case 'truncated':
      return e.fileSize !== undefined && e.neededBytes !== undefined && e.neededBytes > e.fileSize
        ? `Truncated: the file ends at ${formatBytes(e.fileSize)} but its ${e.neededBy ?? 'data'} needs ${formatBytes(e.neededBytes)}.`
        : /^not an? /.test(detail)
          ? `${detail[0].toUpperCase()}${detail.slice(1)}.`
          : `Truncated or damaged: ${detail}.`;
    case 'corrupt':
      return /^not an? /.test(detail) ? `${detail[0].toUpperCase()}${detail.slice(1)}.` : `Damaged file: ${detail}.`;
    case 'unsafe':
      return `Not opened, for safety: ${detail}.`;
    case 'unsupported':
      return `Not supported yet: ${detail}.`;
    case 'unknown-format':
      return `Not a checkpoint Sparsity Lens reads: ${detail}.`;
    case 'io':
      return `Could not read the file: ${detail}.`;
    case 'timeout':
      return `Stopped: ${detail}.`;
  }
}

export function isCheckpointError(e: unknown): e is CheckpointError {
  return e instanceof CheckpointError;
}
