// Shapes, strides and layouts of a tensor, and the [neurons, fan-in positions] view of a weight.
// The index maths mirror src/core/neuronView.ts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dtype.h"

namespace sl {

struct TensorGeom {
  std::vector<uint64_t> shape;
  uint64_t numel = 0;
  DType dtype = DType::F32;
  int bits = 32;
  bool hasLayout = false;
  int outAxis = -1, inAxis = -1;
  // Derived (valid when hasLayout and numel > 0)
  uint64_t outDim = 0, outStride = 1, outHi = 0;  // numel = outHi * outDim * outStride
  uint64_t inDim = 0, inStride = 1, inBlocks = 0;  // numel = inBlocks * inDim * inStride

  void derive();
  /** First byte of element e (for float4, the byte holding it). */
  uint64_t byteOf(uint64_t e) const { return (e * uint64_t(bits)) >> 3; }
  /** Bytes covering elements [e0, e1). */
  uint64_t bytesOf(uint64_t e0, uint64_t e1) const {
    return bits == 4 ? ((e1 + 1) >> 1) - (e0 >> 1) : (e1 - e0) * uint64_t(bits / 8);
  }
  size_t parityOf(uint64_t e) const { return bits == 4 ? size_t(e & 1) : 0; }
};

/** Row-major stride (in elements) of `axis` of `shape`. */
uint64_t strideOf(const std::vector<uint64_t>& shape, int axis);

/** A rectangle of a [neurons, fan-in positions] view; ends are exclusive. */
struct ViewWindow {
  uint64_t rowStart, rowEnd, colStart, colEnd;
};

/**
 * The [neurons, fan-in positions] view of a tensor with a layout: row r is output neuron r,
 * column c the flat C-order index over every other axis.
 */
struct NeuronView {
  uint64_t rows = 0, cols = 0, outStride = 1;

  explicit NeuronView(const TensorGeom& g);
  /** Storage index of (row, col). */
  uint64_t index(uint64_t row, uint64_t col) const {
    const uint64_t hi = col / outStride;
    const uint64_t lo = col - hi * outStride;
    return hi * rows * outStride + row * outStride + lo;
  }
  /** Whether w is a non-empty window inside the view. */
  bool fits(const ViewWindow& w) const {
    return w.rowStart < w.rowEnd && w.rowEnd <= rows && w.colStart < w.colEnd && w.colEnd <= cols;
  }
};

/**
 * The window [rowStart, rowEnd) × [colStart, colEnd) of g's view; throws, with the message the
 * TypeScript NeuronView.checkWindow gives (after `fn: `), unless it is non-empty and inside.
 */
ViewWindow checkedWindow(const TensorGeom& g, int64_t rowStart, int64_t rowEnd, int64_t colStart, int64_t colEnd, const std::string& fn);

}  // namespace sl
