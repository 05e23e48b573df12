// A weight trained sparse: per output row, the positions of its active weights along the flattened
// fan-in axis (in for a linear [out, in] weight, in/groups · kh · kw for a conv weight), ascending.
// With constant fan-in k every row holds k of them: the condensed layout of the spec (§5.1: values
// [rows, k] + indices); rows of an ablated neuron hold none. A weight tensor trained this way
// stores only its active values, row by row in this order, and so do its gradient and optimizer
// state: inactive positions do not exist, so they stay exactly zero.
#pragma once

#include <cstdint>
#include <vector>

namespace sl::train {

struct SparseLayout {
  int64_t rows = 0;                // output neurons
  int64_t cols = 0;                // fan-in positions of a dense row
  std::vector<int64_t> rowStart;   // rows + 1 offsets into colIndex / values
  std::vector<int32_t> colIndex;   // ascending within a row
  // The same positions column by column (for Wᵀ products without scattered writes): per column,
  // its rows ascending and where each value sits in the row order.
  std::vector<int64_t> colStart;   // cols + 1 offsets
  std::vector<int32_t> rowIndex;
  std::vector<int64_t> valueIndex;

  int64_t nnz() const { return rowStart.empty() ? 0 : rowStart.back(); }
  /** Built from a 0/1 mask of rows × cols (the only way to build one: it fills both indices). */
  static SparseLayout fromMask(const uint8_t* mask, int64_t rows, int64_t cols);
  /** The same from a mask stored transposed, cols × rows (mask[c · rows + r]), without transposing it. */
  static SparseLayout fromMaskTransposed(const uint8_t* mask, int64_t rows, int64_t cols);
};

}  // namespace sl::train
