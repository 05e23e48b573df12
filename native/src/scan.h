// scan: non-zeros, -0.0s, fan-in, fan-out, N:M compliance and the log2|w| histogram in one pass.
#pragma once

#include <cstdint>

#include "geometry.h"
#include "histogram.h"
#include "source.h"

namespace sl {

struct ScanResultNative {
  uint64_t nnz = 0;
  uint64_t negativeZeros = 0;
  uint64_t nmGroups = 0, nmCompliant = 0, nmPartial = 0, nmExcess = 0;
  double histogram[kHistBins] = {};
};

/** fanIn (outDim) and fanOut (numel / outDim) are zeroed arrays when geom.hasLayout, else null. m = 0: no N:M. */
void scanKernel(const Source& src, const TensorGeom& g, uint64_t n, uint64_t m, double threshold, unsigned threads,
                uint32_t* fanIn, uint32_t* fanOut, ScanResultNative& out);

}  // namespace sl
