// heatmap: a window of the [neurons, fan-in positions] view downsampled to cells (density and
// mean |w|), reading only the window's rows/segments.
#include "heatmap.h"

#include <algorithm>

#include "pool.h"

namespace sl {

namespace {

/** b[i] = start + floor(i * span / cells), i = 0..cells. */
std::vector<uint64_t> cellBounds(uint64_t start, uint64_t span, uint64_t cells) {
  std::vector<uint64_t> b(size_t(cells + 1));
  for (uint64_t i = 0; i <= cells; i++) b[size_t(i)] = start + uint64_t((unsigned __int128)i * span / cells);
  return b;
}

/** The cell holding position x: the last i with b[i] <= x. */
uint64_t cellOf(const std::vector<uint64_t>& b, uint64_t x) {
  return uint64_t(std::upper_bound(b.begin(), b.end() - 1, x) - b.begin()) - 1;
}

constexpr size_t kDecodeBlock = 4096;

struct Cells {
  std::vector<uint64_t> nnz, finite;
  std::vector<double> sum;
};

}  // namespace

void heatmapKernel(const Source& src, const TensorGeom& g, const HeatmapWindow& w, double threshold, unsigned threads,
                   float* density, float* meanAbs) {
  const uint64_t R = w.rowEnd - w.rowStart, C = w.colEnd - w.colStart;
  const uint64_t Hc = w.rows, Wc = w.cols;
  if (Hc == 0 || Wc == 0) return;
  const auto rowB = cellBounds(w.rowStart, R, Hc);
  const auto colB = cellBounds(w.colStart, C, Wc);
  const uint64_t outDim = g.outDim, os = g.outStride;
  Cells cells;
  cells.nnz.assign(size_t(Hc * Wc), 0);
  cells.finite.assign(size_t(Hc * Wc), 0);
  cells.sum.assign(size_t(Hc * Wc), 0.0);

  // Adds elements of one run (consecutive in storage) to cells, in storage order: each cell's sum
  // is accumulated element by element, as the reference does.
  auto addRun = [&](const uint8_t* p, size_t parity, size_t count, auto&& cellOfElem, double* absBuf, uint8_t* nzBuf) {
    for (size_t o = 0; o < count; o += kDecodeBlock) {
      const size_t c = std::min(kDecodeBlock, count - o);
      if (g.bits == 4) decodeAbs(g.dtype, p, parity + o, c, threshold, absBuf, nzBuf);
      else decodeAbs(g.dtype, p + o * size_t(g.bits / 8), 0, c, threshold, absBuf, nzBuf);
      size_t t = 0;
      while (t < c) {
        uint64_t runEnd;
        const size_t cell = cellOfElem(o + t, runEnd);  // runEnd: index (in this run) where the cell changes
        const size_t e = size_t(std::min<uint64_t>(runEnd, o + c) - o);
        uint64_t nz = 0, fin = 0;
        double s = cells.sum[cell];
        for (; t < e; t++) {
          const double a = absBuf[t];
          const bool finite = a < std::numeric_limits<double>::infinity();
          nz += nzBuf[t];
          fin += finite;
          s += finite ? a : 0.0;
        }
        cells.sum[cell] = s;
        cells.nnz[cell] += nz;
        cells.finite[cell] += fin;
      }
    }
  };

  if (os > 1) {
    // Runs along columns: (hi, view row r, lo range). Threads own ranges of cell rows.
    const uint64_t hiA = w.colStart / os, hiB = (w.colEnd - 1) / os;
    const unsigned T = resolveThreads(threads, std::max<uint64_t>(1, std::min<uint64_t>(Hc, R * C >> 16)));
    parallelRun(T, [&](unsigned th) {
      const uint64_t i0 = Hc * th / T, i1 = Hc * (th + 1) / T;
      if (i0 == i1) return;
      const uint64_t ra = rowB[size_t(i0)], rb = rowB[size_t(i1)], nr = rb - ra;
      std::vector<double> absBuf(kDecodeBlock);
      std::vector<uint8_t> nzBuf(kDecodeBlock);
      SegmentReader reader(src, g);
      auto segOf = [&](size_t s, uint64_t& hi, uint64_t& r, uint64_t& loA, uint64_t& loB) {
        hi = hiA + s / nr;
        r = ra + s % nr;
        loA = hi == hiA ? w.colStart - hi * os : 0;
        loB = hi == hiB ? w.colEnd - hi * os : os;
      };
      reader.read(
          size_t((hiB - hiA + 1) * nr),
          [&](size_t s) {
            uint64_t hi, r, loA, loB;
            segOf(s, hi, r, loA, loB);
            return Segment{hi * outDim * os + r * os + loA, loB - loA};
          },
          [&](size_t s, uint64_t off, const uint8_t* p, size_t parity, size_t count) {
            uint64_t hi, r, loA, loB;
            segOf(s, hi, r, loA, loB);
            const uint64_t row = cellOf(rowB, r) * Wc;
            const uint64_t c0 = hi * os + loA + off;  // view column of the piece's first element
            uint64_t j = cellOf(colB, c0);
            addRun(
                p, parity, count,
                [&](size_t t, uint64_t& runEnd) {
                  while (colB[size_t(j + 1)] <= c0 + t) j++;
                  runEnd = colB[size_t(j + 1)] - c0;
                  return size_t(row + j);
                },
                absBuf.data(), nzBuf.data());
          });
    });
  } else {
    // The output axis is the last one: runs along view rows, one per view column. Threads own
    // ranges of cell columns, so each reads a contiguous part of the file.
    const unsigned T = resolveThreads(threads, std::max<uint64_t>(1, std::min<uint64_t>(Wc, R * C >> 16)));
    parallelRun(T, [&](unsigned th) {
      const uint64_t j0 = Wc * th / T, j1 = Wc * (th + 1) / T;
      if (j0 == j1) return;
      const uint64_t ca = colB[size_t(j0)], cb = colB[size_t(j1)];
      std::vector<double> absBuf(kDecodeBlock);
      std::vector<uint8_t> nzBuf(kDecodeBlock);
      SegmentReader reader(src, g);
      reader.read(
          size_t(cb - ca), [&](size_t s) { return Segment{(ca + s) * outDim + w.rowStart, R}; },
          [&](size_t s, uint64_t off, const uint8_t* p, size_t parity, size_t count) {
            const uint64_t col = cellOf(colB, ca + s);
            const uint64_t r0 = w.rowStart + off;
            uint64_t i = cellOf(rowB, r0);
            addRun(
                p, parity, count,
                [&](size_t t, uint64_t& runEnd) {
                  while (rowB[size_t(i + 1)] <= r0 + t) i++;
                  runEnd = rowB[size_t(i + 1)] - r0;
                  return size_t(i * Wc + col);
                },
                absBuf.data(), nzBuf.data());
          });
    });
  }

  for (uint64_t i = 0; i < Hc; i++) {
    const double rowsIn = double(rowB[size_t(i + 1)] - rowB[size_t(i)]);
    for (uint64_t j = 0; j < Wc; j++) {
      const size_t c = size_t(i * Wc + j);
      const double count = rowsIn * double(colB[size_t(j + 1)] - colB[size_t(j)]);
      density[c] = float(double(cells.nnz[c]) / count);
      meanAbs[c] = cells.finite[c] ? float(cells.sum[c] / double(cells.finite[c])) : 0.0f;
    }
  }
}

}  // namespace sl
