// heatmap: a window of the [neurons, fan-in positions] view downsampled to cells (density and
// mean |w|), reading only the window's rows/segments.
#pragma once

#include <cstdint>

#include "geometry.h"
#include "source.h"

namespace sl {

struct HeatmapWindow {
  uint64_t rowStart, rowEnd, colStart, colEnd;  // inside the view, not empty
  uint64_t rows, cols;                          // output cells
};

/** density, meanAbs: rows × cols cells each; g has a layout. */
void heatmapKernel(const Source& src, const TensorGeom& g, const HeatmapWindow& w, double threshold, unsigned threads,
                   float* density, float* meanAbs);

}  // namespace sl
