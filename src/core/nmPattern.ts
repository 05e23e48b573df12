/** An N:M sparsity pattern: at most `n` non-zeros in every group of `m` consecutive inputs. */
export interface NmPattern {
  readonly n: number;
  readonly m: number;
}

export const DEFAULT_NM: NmPattern = { n: 2, m: 4 };

/** The largest group size the kernels take (their group counters are 16-bit). */
const MAX_NM_GROUP = 65535;

/** The one validity rule of a pattern: whole numbers with 0 <= N < M <= MAX_NM_GROUP. */
function isValidNmPattern(nm: NmPattern): boolean {
  return Number.isInteger(nm.n) && Number.isInteger(nm.m) && nm.n >= 0 && nm.n < nm.m && nm.m <= MAX_NM_GROUP;
}

/** Throws a RangeError unless `nm` is a valid pattern; kernels call it before any work. */
export function checkNmPattern(nm: NmPattern): void {
  if (!isValidNmPattern(nm)) throw new RangeError(`invalid N:M pattern ${nm.n}:${nm.m}`);
}

/** Parses "N:M" (for example "2:4"). */
export function parseNmPattern(text: string): NmPattern {
  const match = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(text);
  const nm = match ? { n: Number(match[1]), m: Number(match[2]) } : undefined;
  if (!nm || !isValidNmPattern(nm)) {
    throw new RangeError(`"${text}" is not an N:M pattern with 0 <= N < M <= ${MAX_NM_GROUP}, such as 2:4`);
  }
  return nm;
}
