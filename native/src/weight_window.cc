#include "weight_window.h"

#include <algorithm>
#include <string>
#include <vector>

namespace sl {

void checkWindowSpan(const TensorGeom& g, const ViewWindow& w) {
  const NeuronView view(g);
  // The span as readWeightWindow measures it: first to last weight, the first rounded down to a byte.
  uint64_t first = UINT64_MAX, last = 0;
  for (const uint64_t r : {w.rowStart, w.rowEnd - 1}) {
    for (const uint64_t c : {w.colStart, w.colEnd - 1}) {
      first = std::min(first, view.index(r, c));
      last = std::max(last, view.index(r, c));
    }
  }
  const uint64_t bits = uint64_t(g.bits);
  if (bits < 8) first -= first % (8 / bits);
  const uint64_t spanBytes = ((last - first + 1) * bits + 7) / 8;
  if (spanBytes > kMaxWindowSpanBytes) {
    throw Error("weightWindow: the window spans " + std::to_string(spanBytes) +
                " bytes of the tensor, more than the 64 MiB read at most; zoom in further");
  }
}

void weightWindowKernel(const Source& src, const TensorGeom& g, const ViewWindow& w, float* out) {
  const NeuronView view(g);
  const uint64_t rows = view.rows, os = view.outStride;
  const uint64_t outCols = w.colEnd - w.colStart;
  // Elements per read: a run longer than a buffer is read in pieces.
  uint64_t maxElems = std::max<uint64_t>(2, uint64_t(kReadBufferBytes) * 8 / uint64_t(g.bits));
  maxElems -= maxElems % 2;
  std::vector<uint8_t> buf;
  if (!src.isMemory()) {
    const uint64_t cells = (w.rowEnd - w.rowStart) * outCols;
    buf.resize(size_t(g.bytesOf(0, std::min(maxElems, cells))) + 1);
  }
  dispatchDType(g.dtype, [&](auto tag) {
    using E = Elem<decltype(tag)::value>;
    // Decodes storage elements [e0, e0 + count), all inside the window, into their cells of out.
    auto emit = [&](uint64_t e0, uint64_t count) {
      for (uint64_t done = 0; done < count; done += maxElems) {
        const uint64_t e = e0 + done;
        const size_t n = size_t(std::min(maxElems, count - done));
        const uint8_t* p = src.bytes(g.byteOf(e), size_t(g.bytesOf(e, e + n)), buf.data());
        const size_t parity = g.parityOf(e);
        // The view position of e: e = hi * rows * os + r * os + lo, column hi * os + lo.
        uint64_t hi = e / (rows * os), r = e % (rows * os) / os, lo = e % os;
        for (size_t i = 0; i < n; i++) {
          out[(r - w.rowStart) * outCols + (hi * os + lo - w.colStart)] = float(E::value(E::load(p, parity + i)));
          if (++lo == os) {
            lo = 0;
            if (++r == rows) {
              r = 0;
              hi++;
            }
          }
        }
      }
    };
    // The window's runs in storage order: for each block hi of os columns and each row r, the
    // columns [loA, loB) of the block. Runs that touch are read as one.
    const uint64_t hiA = w.colStart / os, hiB = (w.colEnd - 1) / os;
    uint64_t runStart = 0, runCount = 0;
    for (uint64_t hi = hiA; hi <= hiB; hi++) {
      const uint64_t loA = hi == hiA ? w.colStart - hi * os : 0;
      const uint64_t loB = hi == hiB ? w.colEnd - hi * os : os;
      for (uint64_t r = w.rowStart; r < w.rowEnd; r++) {
        const uint64_t e = hi * rows * os + r * os + loA;
        if (runCount > 0 && e == runStart + runCount) {
          runCount += loB - loA;
        } else {
          if (runCount > 0) emit(runStart, runCount);
          runStart = e;
          runCount = loB - loA;
        }
      }
    }
    if (runCount > 0) emit(runStart, runCount);
  });
}

}  // namespace sl
