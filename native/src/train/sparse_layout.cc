#include "sparse_layout.h"

#include <cstddef>

namespace sl::train {

namespace {

/** The column-by-column index of a layout whose rows are filled: per column, its rows ascending. */
void indexColumns(SparseLayout& layout) {
  for (int64_t c = 0; c < layout.cols; c++) layout.colStart[size_t(c) + 1] += layout.colStart[size_t(c)];
  layout.rowIndex.resize(layout.colIndex.size());
  layout.valueIndex.resize(layout.colIndex.size());
  std::vector<int64_t> next(layout.colStart.begin(), layout.colStart.end() - 1);
  for (int64_t r = 0; r < layout.rows; r++) {
    for (int64_t t = layout.rowStart[size_t(r)]; t < layout.rowStart[size_t(r) + 1]; t++) {
      const int64_t slot = next[size_t(layout.colIndex[size_t(t)])]++;
      layout.rowIndex[size_t(slot)] = int32_t(r);
      layout.valueIndex[size_t(slot)] = t;
    }
  }
}

}  // namespace

SparseLayout SparseLayout::fromMask(const uint8_t* mask, int64_t rows, int64_t cols) {
  SparseLayout layout;
  layout.rows = rows;
  layout.cols = cols;
  int64_t nnz = 0;
  for (int64_t i = 0; i < rows * cols; i++) nnz += mask[i] != 0;
  // Without branches (a sparse mask's would mispredict): every position is written, the next one
  // overwrites it unless active; so one slot past the last.
  layout.colIndex.resize(size_t(nnz) + 1);
  layout.rowStart.resize(size_t(rows) + 1);
  layout.colStart.assign(size_t(cols) + 1, 0);
  int32_t* colIndex = layout.colIndex.data();
  int64_t* colCount = layout.colStart.data() + 1;
  int64_t n = 0;
  layout.rowStart[0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    const uint8_t* row = mask + r * cols;
    for (int64_t c = 0; c < cols; c++) {
      const int64_t on = row[c] != 0;
      colIndex[n] = int32_t(c);
      colCount[c] += on;
      n += on;
    }
    layout.rowStart[size_t(r) + 1] = n;
  }
  layout.colIndex.resize(size_t(nnz));
  indexColumns(layout);
  return layout;
}

SparseLayout SparseLayout::fromMaskTransposed(const uint8_t* mask, int64_t rows, int64_t cols) {
  // The stored mask read row by row is the layout column by column: build that one, then swap.
  SparseLayout stored = fromMask(mask, cols, rows);
  SparseLayout layout;
  layout.rows = rows;
  layout.cols = cols;
  layout.rowStart = std::move(stored.colStart);
  layout.colIndex = std::move(stored.rowIndex);
  layout.colStart = std::move(stored.rowStart);
  layout.rowIndex = std::move(stored.colIndex);
  // stored.valueIndex maps our row order to our column order; we need the inverse.
  layout.valueIndex.resize(stored.valueIndex.size());
  for (size_t s = 0; s < stored.valueIndex.size(); s++) layout.valueIndex[size_t(stored.valueIndex[s])] = int64_t(s);
  return layout;
}

}  // namespace sl::train
