#include "geometry.h"

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

NeuronView::NeuronView(const TensorGeom& g)
    : rows(g.shape[size_t(g.outAxis)]), cols(rows == 0 ? 0 : g.numel / rows), outStride(strideOf(g.shape, g.outAxis)) {}

}  // namespace sl
