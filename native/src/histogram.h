// The bins of the log2|w| histogram (histogramBin in src/kernels/kernels.ts): bins
// 0..127 hold exponents -64..63 of the non-zero values, one bin the zeros, one NaN and ±Inf.
#pragma once

#include <cstdint>

#include "dtype.h"

namespace sl {

constexpr int kZeroBin = 128;
constexpr int kNonFiniteBin = 129;
constexpr int kHistBins = 130;

/** Histogram bin of a value (decoded as float64) that is not zero: bins 0..127 = exponent -64..63, 129 = NaN/±Inf. */
inline int histBinOfNonZero(double v) {
  const int biased = int((bitsOf(v) >> 52) & 0x7ff);
  if (biased == 0x7ff) return 129;
  int e = biased == 0 ? -1023 : biased - 1023;
  if (e < -64) e = -64;
  if (e > 63) e = 63;
  return e + 64;
}

}  // namespace sl
