#include "geometry.h"

#include "error.h"

namespace sl {

uint64_t strideOf(const std::vector<uint64_t>& shape, int axis) {
  uint64_t s = 1;
  for (size_t a = size_t(axis) + 1; a < shape.size(); a++) s *= shape[a];
  return s;
}

void TensorGeom::derive() {
  if (!hasLayout || numel == 0) return;
  outDim = shape[size_t(outAxis)];
  outStride = strideOf(shape, outAxis);
  outHi = numel / (outDim * outStride);
  inDim = shape[size_t(inAxis)];
  inStride = strideOf(shape, inAxis);
  inBlocks = numel / (inDim * inStride);
}

ViewWindow checkedWindow(const TensorGeom& g, int64_t rowStart, int64_t rowEnd, int64_t colStart, int64_t colEnd, const std::string& fn) {
  const NeuronView view(g);
  const bool fits = rowStart >= 0 && rowEnd >= 0 && colStart >= 0 && colEnd >= 0 &&
                    view.fits({uint64_t(rowStart), uint64_t(rowEnd), uint64_t(colStart), uint64_t(colEnd)});
  if (!fits) {
    throw Error(fn + ": window rows " + std::to_string(rowStart) + ".." + std::to_string(rowEnd) + ", cols " + std::to_string(colStart) +
                ".." + std::to_string(colEnd) + " does not fit a " + std::to_string(view.rows) + "×" + std::to_string(view.cols) + " weight");
  }
  return {uint64_t(rowStart), uint64_t(rowEnd), uint64_t(colStart), uint64_t(colEnd)};
}

NeuronView::NeuronView(const TensorGeom& g)
    : rows(g.shape[size_t(g.outAxis)]), cols(rows == 0 ? 0 : g.numel / rows), outStride(strideOf(g.shape, g.outAxis)) {}

}  // namespace sl
