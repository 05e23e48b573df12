/**
 * Histogram of log2|w|: bins 0..127 hold floor(log2|w|) = -64..63 (clamped) of the non-zero
 * finite weights, bin 128 the zeros, bin 129 NaN and ±Inf.
 */
export const HISTOGRAM_BINS = 130;
export const HISTOGRAM_MIN_EXPONENT = -64;
export const HISTOGRAM_ZERO_BIN = 128;
export const HISTOGRAM_NONFINITE_BIN = 129;

const exponentView = new Float64Array(1);
const exponentBits = new Uint32Array(exponentView.buffer);

/** The histogram bin of a non-zero value: its exact binary exponent, read from the float64 bits. */
export function histogramBin(value: number): number {
  if (!Number.isFinite(value)) return HISTOGRAM_NONFINITE_BIN;
  exponentView[0] = value;
  const biased = (exponentBits[1] >>> 20) & 0x7ff;
  const exponent = biased === 0 ? -1023 : biased - 1023;
  return Math.min(63, Math.max(HISTOGRAM_MIN_EXPONENT, exponent)) - HISTOGRAM_MIN_EXPONENT;
}
