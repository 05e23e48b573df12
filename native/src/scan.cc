// scan: non-zeros, -0.0s, fan-in, fan-out, N:M compliance and the log2|w| histogram in one pass.
// The driver: splits the tensor among threads (at N:M group starts), reads each range in chunks,
// classifies sub-blocks (classify.h) and walks their zero masks (layout_walker.h).
#include "scan.h"

#include <algorithm>
#include <memory>

#include "classify.h"
#include "layout_walker.h"
#include "pool.h"

namespace sl {

namespace {

struct ThreadResult {
  Acc acc;
  LayoutWalker walker;
};

template <DType D>
void scanRange(const Source& src, const TensorGeom& g, const Classifier<D>& cls, uint64_t e0, uint64_t e1,
               ThreadResult& res) {
  using E = Elem<D>;
  SegmentReader reader(src, g);
  Scratch scratch;
  reader.readRange(e0, e1, [&](size_t, uint64_t, const uint8_t* p, size_t parity, size_t count) {
    for (size_t o = 0; o < count; o += kSubBlock) {
      const size_t c = std::min(kSubBlock, count - o);
      if constexpr (E::packed) cls.run(p, parity + o, c, scratch, res.acc);
      else cls.run(p + o * size_t(E::bytes), 0, c, scratch, res.acc);
      res.walker.add(scratch.nz.data(), c);
    }
  });
}

/** The first group start at or after element x (N:M groups must not straddle two threads). */
uint64_t alignToGroup(const TensorGeom& g, uint64_t m, uint64_t x) {
  if (m == 0 || !g.hasLayout || x >= g.numel) return std::min(x, g.numel);
  const uint64_t block = g.inDim * g.inStride;
  const uint64_t b = x / block, r = x % block;
  const uint64_t span = m * g.inStride;
  const uint64_t j = (r + span - 1) / span * m;
  return j >= g.inDim ? (b + 1) * block : b * block + j * g.inStride;
}

}  // namespace

void scanKernel(const Source& src, const TensorGeom& g, uint64_t n, uint64_t m, double threshold, unsigned threads,
                uint32_t* fanIn, uint32_t* fanOut, ScanResultNative& out) {
  if (g.numel == 0) return;
  const uint64_t nm = g.hasLayout ? m : 0;
  unsigned T = resolveThreads(threads, std::max<uint64_t>(1, g.numel / (uint64_t(1) << 18)));
  if (g.hasLayout) {
    // Threads past the first count fan-in/fan-out into copies: keep those copies modest.
    const uint64_t copyBytes = (g.outDim + g.numel / g.outDim) * 4;
    while (T > 1 && (T - 1) * copyBytes > (uint64_t(256) << 20)) T--;
  }
  std::vector<uint64_t> bounds(T + 1);
  for (unsigned t = 0; t <= T; t++) bounds[t] = alignToGroup(g, nm, g.numel / T * t + std::min<uint64_t>(t, g.numel % T));
  bounds[T] = g.numel;
  std::vector<std::unique_ptr<ThreadResult>> results(T);
  dispatchDType(g.dtype, [&](auto tag) {
    constexpr DType D = decltype(tag)::value;
    const Classifier<D> cls(threshold);
    parallelRun(T, [&](unsigned t) {
      auto res = std::make_unique<ThreadResult>();
      res->walker.init(g, n, nm, bounds[t], t == 0 ? fanIn : nullptr, t == 0 ? fanOut : nullptr);
      if (bounds[t] < bounds[t + 1]) scanRange<D>(src, g, cls, bounds[t], bounds[t + 1], *res);
      results[t] = std::move(res);
    });
  });
  uint64_t hist[kHistBins] = {};
  for (auto& r : results) {
    for (int b = 0; b < kHistBins; b++) hist[b] += r->acc.hist[b];
    out.negativeZeros += r->acc.negz;
    if (g.hasLayout) {
      auto& w = r->walker;
      w.flush();
      if (w.fanIn != fanIn) {
        for (size_t i = 0; i < w.fanInOwn.size(); i++) fanIn[i] += w.fanInOwn[i];
        for (size_t i = 0; i < w.fanOutOwn.size(); i++) fanOut[i] += w.fanOutOwn[i];
      }
      out.nmCompliant += w.compliant;
      out.nmExcess += w.excess;
    }
  }
  for (int b = 0; b < kHistBins; b++) out.histogram[b] = double(hist[b]);
  out.nnz = g.numel - hist[kZeroBin];
  if (g.hasLayout && nm > 0) {
    out.nmGroups = g.inBlocks * (g.inDim / nm) * g.inStride;
    out.nmPartial = g.inDim % nm ? g.inBlocks * g.inStride : 0;
  }
}

}  // namespace sl
