#include "sparse_layout.h"

#include <cstddef>

namespace sl::train {

SparseLayout SparseLayout::fromMask(const uint8_t* mask, int64_t rows, int64_t cols) {
  SparseLayout layout;
  layout.rows = rows;
  layout.cols = cols;
  layout.rowStart.reserve(size_t(rows) + 1);
  layout.rowStart.push_back(0);
  layout.colStart.assign(size_t(cols) + 1, 0);
  for (int64_t r = 0; r < rows; r++) {
    const uint8_t* row = mask + r * cols;
    for (int64_t c = 0; c < cols; c++) {
      if (!row[c]) continue;
      layout.colIndex.push_back(int32_t(c));
      layout.colStart[size_t(c) + 1]++;
    }
    layout.rowStart.push_back(int64_t(layout.colIndex.size()));
  }
  for (int64_t c = 0; c < cols; c++) layout.colStart[size_t(c) + 1] += layout.colStart[size_t(c)];
  layout.rowIndex.resize(layout.colIndex.size());
  layout.valueIndex.resize(layout.colIndex.size());
  std::vector<int64_t> next(layout.colStart.begin(), layout.colStart.end() - 1);
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t t = layout.rowStart[size_t(r)]; t < layout.rowStart[size_t(r) + 1]; t++) {
      const int64_t slot = next[size_t(layout.colIndex[size_t(t)])]++;
      layout.rowIndex[size_t(slot)] = int32_t(r);
      layout.valueIndex[size_t(slot)] = t;
    }
  }
  return layout;
}

}  // namespace sl::train
