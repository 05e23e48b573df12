// The kernels, free of N-API: the binding (addon.cc) validates arguments and owns the JS arrays.
#pragma once

#include "geometry.h"
#include "histogram.h"
#include "source.h"

namespace sl {

struct ScanResultNative {
  uint64_t nnz = 0;
  uint64_t negativeZeros = 0;
  uint64_t nmGroups = 0, nmCompliant = 0, nmPartial = 0;
  double histogram[kHistBins] = {};
};

/** fanIn (outDim) and fanOut (numel / outDim) are zeroed arrays when geom.hasLayout, else null. */
void scanKernel(const Source& src, const TensorGeom& g, uint64_t n, uint64_t m, double threshold, unsigned threads,
                uint32_t* fanIn, uint32_t* fanOut, ScanResultNative& out);

/** mask: numel zeroed bytes. */
void nmMaskKernel(const Source& src, const TensorGeom& g, uint64_t n, uint64_t m, unsigned threads, uint8_t* mask);
void fanInMaskKernel(const Source& src, const TensorGeom& g, uint64_t k, unsigned threads, uint8_t* mask);

struct HeatmapWindow {
  uint64_t rowStart, rowEnd, colStart, colEnd;
  uint64_t rows, cols;  // output cells
};
void heatmapKernel(const Source& src, const TensorGeom& g, const HeatmapWindow& w, double threshold, unsigned threads,
                   float* density, float* meanAbs);

/** y[batch, out] = x · Wᵀ + b; bias (or 0) for inactive rows. The caller checks activeRows and the sizes; indices are checked here. */
void condensedForwardKernel(uint64_t outF, uint64_t inF, uint64_t k, const int32_t* activeRows, uint64_t nActive,
                            const float* values, const int32_t* indices, const float* bias, const float* x, uint64_t batch,
                            unsigned threads, float* y);
void denseForwardKernel(const float* w, const float* bias, uint64_t outF, uint64_t inF, const float* x, uint64_t batch,
                        unsigned threads, float* y);

}  // namespace sl
