/**
 * A deterministic pseudo-random generator (a 32-bit linear congruential one), so that tests and
 * benchmarks built on random data reproduce: each call of the result gives the next number in
 * [0, 1) of the sequence `seed` starts.
 */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
