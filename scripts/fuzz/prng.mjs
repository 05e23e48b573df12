// A small seeded PRNG (mulberry32 over a 32-bit state) for the fuzzer: every input is derived from
// (seed, format, index) alone, so a run and any one input can be reproduced exactly.

/**
 * FNV-1a over the UTF-8 bytes of a string: the 32-bit starting state of one input's generator.
 * @param {string} text
 * @returns {number}
 */
export function hash32(text) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Rng {
  /** @param {number} state */
  constructor(state) {
    this.state = state >>> 0;
  }

  /**
   * The generator of one fuzz input.
   * @param {number} seed
   * @param {string} format
   * @param {number} index
   */
  static forInput(seed, format, index) {
    return new Rng(hash32(`${seed}/${format}/${index}`));
  }

  /** @returns {number} an unsigned 32-bit integer */
  u32() {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** @returns {number} in [0, 1) */
  float() {
    return this.u32() / 4294967296;
  }

  /**
   * @param {number} n
   * @returns {number} an integer in [0, n), 0 when n <= 0
   */
  int(n) {
    return n <= 0 ? 0 : Math.floor(this.float() * n);
  }

  /**
   * @param {number} lo
   * @param {number} hi
   * @returns {number} an integer in [lo, hi]
   */
  range(lo, hi) {
    return lo + this.int(hi - lo + 1);
  }

  /** @param {number} p */
  chance(p) {
    return this.float() < p;
  }

  /**
   * @template T
   * @param {readonly T[]} items
   * @returns {T}
   */
  pick(items) {
    return items[this.int(items.length)];
  }
}
