/** An N:M sparsity pattern: at most `n` non-zeros in every group of `m` consecutive inputs. */
export interface NmPattern {
  readonly n: number;
  readonly m: number;
}

export const DEFAULT_NM: NmPattern = { n: 2, m: 4 };

/** Parses "N:M" (for example "2:4"); N < M, both whole numbers, M at most 65535. */
export function parseNmPattern(text: string): NmPattern {
  const match = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(text);
  const n = match ? Number(match[1]) : NaN;
  const m = match ? Number(match[2]) : NaN;
  if (!match || !(n < m) || m < 1 || m > 65535) {
    throw new RangeError(`"${text}" is not an N:M pattern with 0 <= N < M <= 65535, such as 2:4`);
  }
  return { n, m };
}
