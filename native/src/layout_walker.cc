#include "layout_walker.h"

#include <algorithm>

#include "simd.h"

namespace sl {

namespace {

/** A group of `count` non-zeros against the limit n: adds to the compliant groups or to the excess. */
inline void countGroup(uint64_t count, uint64_t n, uint64_t& compliant, uint64_t& excess) {
  if (count <= n) compliant++;
  else excess += count - n;
}

/** The `groups` groups of 4 mask bytes at z: those holding at most n non-zeros, and the non-zeros past n in the others. */
inline void groupsOf4(const uint8_t* z, uint64_t groups, uint64_t n, uint64_t& compliant, uint64_t& excess) {
  uint64_t g = 0;
#ifdef __AVX2__
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  const __m256i lim = _mm256_set1_epi32(int(std::min<uint64_t>(n, 4)));
  __m256i over = _mm256_setzero_si256();
  uint64_t c = 0;
  const auto flushOver = [&]() {
    alignas(32) int32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), over);
    for (int32_t lane : lanes) excess += uint64_t(lane);
    over = _mm256_setzero_si256();
  };
  uint32_t steps = 0;
  for (; g + 8 <= groups; g += 8) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(z + 4 * g));
    const __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(v, ones8), ones16);  // 8 sums of 4 bytes
    const unsigned bad = unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(sums, lim))));
    c += 8 - uint64_t(__builtin_popcount(bad));
    over = _mm256_add_epi32(over, _mm256_max_epi32(_mm256_sub_epi32(sums, lim), _mm256_setzero_si256()));
    // Each lane grows by at most 4 per step: flushed long before 32 bits could overflow.
    if (++steps == (1u << 24)) {
      flushOver();
      steps = 0;
    }
  }
  flushOver();
  compliant += c;
#endif
  for (; g < groups; g++) countGroup(uint64_t(z[4 * g] + z[4 * g + 1] + z[4 * g + 2] + z[4 * g + 3]), n, compliant, excess);
}

}  // namespace

void LayoutWalker::init(const TensorGeom& g, uint64_t nn, uint64_t mm, uint64_t e0, uint32_t* sharedFanIn, uint32_t* sharedFanOut) {
  if (!g.hasLayout || g.numel == 0) return;
  fan = true;
  outDim = g.outDim;
  outStride = g.outStride;
  outHi = g.outHi;
  if (sharedFanIn) {
    fanIn = sharedFanIn;
    fanOut = sharedFanOut;
  } else {
    fanInOwn.assign(size_t(outDim), 0);
    fanOutOwn.assign(size_t(g.numel / outDim), 0);
    fanIn = fanInOwn.data();
    fanOut = fanOutOwn.data();
  }
  if (outStride == 1) acc8.assign(size_t(outDim), 0);
  else if (outHi == 1) acc8.assign(size_t(outStride), 0);
  lo = e0 % outStride;
  o = (e0 / outStride) % outDim;
  hi = e0 / (outStride * outDim);
  if (mm > 0) {
    nm = true;
    m = mm;
    n = nn;
    inDim = g.inDim;
    inStride = g.inStride;
    fullEnd = inDim / m * m;
    q = e0 % inStride;
    j = (e0 / inStride) % inDim;
    gpos = j % m;  // thread ranges start at group starts: 0 unless past the last full group
    if (inStride > 1) {
      if (m <= 255) cnt8.assign(size_t(inStride), 0);
      else cnt.assign(size_t(inStride), 0);
    }
  }
}

void LayoutWalker::add(const uint8_t* z, size_t count) {
  if (fan) {
    if (outStride == 1) addFanByNeuron(z, count);
    else if (outHi == 1) addFanByPosition(z, count);
    else addFanGeneral(z, count);
  }
  if (nm) {
    if (inStride == 1) addNmContiguous(z, count);
    else addNmStrided(z, count);
  }
}

void LayoutWalker::flush() {
  if (acc8.empty()) return;
  uint32_t* dst = outStride == 1 ? fanIn : fanOut;
  addBytesTo32(dst, acc8.data(), acc8.size());
  std::fill(acc8.begin(), acc8.end(), 0);
  acc8Rows = 0;
}

// [.., out] layouts (outStride == 1): runs along the neurons, once per input position.
void LayoutWalker::addFanByNeuron(const uint8_t* z, size_t count) {
  size_t i = 0;
  while (i < count) {
    const size_t len = size_t(std::min<uint64_t>(count - i, outDim - o));
    addBytes(acc8.data() + o, z + i, len);
    fanOut[hi] += uint32_t(sumBytes(z + i, len));
    i += len;
    o += len;
    if (o == outDim) {
      o = 0;
      hi++;
      if (++acc8Rows == 255) flush();
    }
  }
}

// [out, ..] layouts (outHi == 1): runs along the input positions, once per neuron.
void LayoutWalker::addFanByPosition(const uint8_t* z, size_t count) {
  size_t i = 0;
  while (i < count) {
    const size_t len = size_t(std::min<uint64_t>(count - i, outStride - lo));
    addBytes(acc8.data() + lo, z + i, len);
    fanIn[size_t(o)] += uint32_t(sumBytes(z + i, len));
    i += len;
    lo += len;
    if (lo == outStride) {
      lo = 0;
      if (++o == outDim) o = 0;
      if (++acc8Rows == 255) flush();
    }
  }
}

void LayoutWalker::addFanGeneral(const uint8_t* z, size_t count) {
  size_t i = 0;
  while (i < count) {
    const size_t len = size_t(std::min<uint64_t>(count - i, outStride - lo));
    addBytesTo32(fanOut + hi * outStride + lo, z + i, len);
    fanIn[size_t(o)] += uint32_t(sumBytes(z + i, len));
    i += len;
    lo += len;
    if (lo == outStride) {
      lo = 0;
      if (++o == outDim) {
        o = 0;
        hi++;
      }
    }
  }
}

void LayoutWalker::closeGroups() {
  if (!cnt8.empty()) {
    const uint64_t c = countAtMost(cnt8.data(), cnt8.size(), uint8_t(std::min<uint64_t>(n, 255)));
    compliant += c;
    if (c < cnt8.size())
      for (uint8_t v : cnt8) excess += v > n ? v - n : 0;
    std::fill(cnt8.begin(), cnt8.end(), 0);
    return;
  }
  for (auto& v : cnt) {
    countGroup(v, n, compliant, excess);
    v = 0;
  }
}

void LayoutWalker::addNmStrided(const uint8_t* z, size_t count) {
  size_t i = 0;
  while (i < count) {
    const size_t len = size_t(std::min<uint64_t>(count - i, inStride - q));
    if (j < fullEnd) {
      if (!cnt8.empty()) addBytes(cnt8.data() + q, z + i, len);
      else addBytesTo32(cnt.data() + q, z + i, len);
    }
    i += len;
    q += len;
    if (q == inStride) {
      q = 0;
      j++;
      if (j <= fullEnd && ++gpos == m) {
        gpos = 0;
        closeGroups();
      }
      if (j == inDim) {
        j = 0;
        gpos = 0;
      }
    }
  }
}

void LayoutWalker::addNmContiguous(const uint8_t* z, size_t count) {
  size_t i = 0;
  while (i < count) {
    if (j >= fullEnd) {  // the trailing short group: counted apart, from the shape alone
      const size_t skip = size_t(std::min<uint64_t>(count - i, inDim - j));
      i += skip;
      j += skip;
      if (j == inDim) {
        j = 0;
        gpos = 0;
      }
      continue;
    }
    if (gpos == 0) {
      const uint64_t groups = std::min<uint64_t>((count - i) / m, (fullEnd - j) / m);
      if (groups) {
        const uint8_t* zz = z + i;
        if (m == 4) {
          groupsOf4(zz, groups, n, compliant, excess);
        } else if (m == 8) {
          for (uint64_t g = 0; g < groups; g++) countGroup(uint64_t(__builtin_popcountll(loadLE<uint64_t>(zz + 8 * g))), n, compliant, excess);
        } else {
          for (uint64_t g = 0; g < groups; g++) countGroup(sumBytes(zz + g * m, size_t(m)), n, compliant, excess);
        }
        i += size_t(groups * m);
        j += groups * m;
        if (j == inDim) j = 0;
        continue;
      }
    }
    // A group cut by the end of this block of masks.
    const size_t len = size_t(std::min<uint64_t>(count - i, m - gpos));
    cnt0 += uint32_t(sumBytes(z + i, len));
    i += len;
    j += len;
    gpos += len;
    if (gpos == m) {
      gpos = 0;
      countGroup(cnt0, n, compliant, excess);
      cnt0 = 0;
    }
    if (j == inDim) {
      j = 0;
      gpos = 0;
    }
  }
}

}  // namespace sl
