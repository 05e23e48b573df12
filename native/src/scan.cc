// scan: non-zeros, -0.0s, fan-in, fan-out, N:M compliance and the log2|w| histogram in one pass.
#include <algorithm>
#include <memory>

#include "kernels.h"
#include "pool.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace sl {

namespace {

constexpr size_t kSubBlock = 16384;  // elements classified at a time (the zero mask stays in L1)

/** Per-thread counts. */
struct Acc {
  uint64_t hist[kHistBins] = {};
  uint64_t negz = 0;
};

// ---------------------------------------------------------------------------------------------
// Byte-mask helpers (masks hold 0 or 1 per element)

/** dst[t] += src[t] (bytes, no overflow by construction). */
inline void addBytes(uint8_t* __restrict dst, const uint8_t* __restrict src, size_t n) {
  size_t t = 0;
#ifdef __AVX2__
  for (; t + 32 <= n; t += 32) {
    const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(dst + t));
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + t));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + t), _mm256_add_epi8(d, v));
  }
#endif
  for (; t < n; t++) dst[t] = uint8_t(dst[t] + src[t]);
}

inline uint64_t sumBytes(const uint8_t* src, size_t n) {
  uint64_t s = 0;
  size_t t = 0;
#ifdef __AVX2__
  __m256i acc = _mm256_setzero_si256();
  for (; t + 32 <= n; t += 32) {
    acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + t)),
                                                _mm256_setzero_si256()));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc);
  s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
#endif
  for (; t < n; t++) s += src[t];
  return s;
}

/** dst[t] += src[t], widening bytes to 32-bit counts. */
inline void addBytesTo32(uint32_t* __restrict dst, const uint8_t* __restrict src, size_t n) {
  for (size_t t = 0; t < n; t++) dst[t] += src[t];
}

/** How many of v[0..n) are <= limit. */
inline uint64_t countAtMost(const uint8_t* v, size_t n, uint8_t limit) {
  uint64_t c = 0;
  size_t t = 0;
#ifdef __AVX2__
  const __m256i lim = _mm256_set1_epi8(char(limit));
  for (; t + 32 <= n; t += 32) {
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + t));
    c += uint64_t(__builtin_popcount(unsigned(_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(x, lim), x)))));
  }
#endif
  for (; t < n; t++) c += v[t] <= limit;
  return c;
}

/** Of the `groups` groups of 4 mask bytes at z, how many hold at most n non-zeros. */
inline uint64_t compliantGroupsOf4(const uint8_t* z, uint64_t groups, uint64_t n) {
  uint64_t c = 0;
  uint64_t g = 0;
#ifdef __AVX2__
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  const __m256i lim = _mm256_set1_epi32(int(std::min<uint64_t>(n, 4)));
  for (; g + 8 <= groups; g += 8) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(z + 4 * g));
    const __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(v, ones8), ones16);  // 8 sums of 4 bytes
    const unsigned over = unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(sums, lim))));
    c += 8 - uint64_t(__builtin_popcount(over));
  }
#endif
  for (; g < groups; g++) c += uint64_t(z[4 * g] + z[4 * g + 1] + z[4 * g + 2] + z[4 * g + 3]) <= n;
  return c;
}

/**
 * Fan-in, fan-out and N:M counts from zero masks given in storage order (see LayoutCounter in the
 * reference). Per-position counts are kept in bytes and flushed to 32-bit counts every 255 rows.
 */
struct LayoutWalker {
  bool fan = false;
  uint64_t outDim = 1, outStride = 1, hi = 0, o = 0, lo = 0, outHi = 1;
  uint32_t* fanIn = nullptr;  // the result arrays (first thread) or this walker's own copies
  uint32_t* fanOut = nullptr;
  std::vector<uint32_t> fanInOwn, fanOutOwn;
  // Byte counts of the array vector-added per row: fanOut (outStride > 1, outHi == 1) or fanIn (outStride == 1).
  std::vector<uint8_t> acc8;
  uint32_t acc8Rows = 0;

  bool nm = false;
  uint64_t m = 0, n = 0, inDim = 1, inStride = 1, fullEnd = 0, j = 0, q = 0, gpos = 0;
  std::vector<uint32_t> cnt;
  std::vector<uint8_t> cnt8;  // group counts in bytes when m <= 255
  uint32_t cnt0 = 0;          // the group count when inStride == 1
  uint64_t compliant = 0;

  /** sharedFanIn/sharedFanOut: zeroed result arrays to count into directly, or null for own copies. */
  void init(const TensorGeom& g, uint64_t nn, uint64_t mm, uint64_t e0, uint32_t* sharedFanIn, uint32_t* sharedFanOut) {
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

  void add(const uint8_t* z, size_t count) {
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

  /** Moves the byte counts into the 32-bit ones (call before reading fanIn/fanOut). */
  void flush() {
    if (acc8.empty()) return;
    uint32_t* dst = outStride == 1 ? fanIn : fanOut;
    addBytesTo32(dst, acc8.data(), acc8.size());
    std::fill(acc8.begin(), acc8.end(), 0);
    acc8Rows = 0;
  }

  // [.., out] layouts (outStride == 1): runs along the neurons, once per input position.
  void addFanByNeuron(const uint8_t* z, size_t count) {
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
  void addFanByPosition(const uint8_t* z, size_t count) {
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

  void addFanGeneral(const uint8_t* z, size_t count) {
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

  void closeGroups() {
    if (!cnt8.empty()) {
      compliant += countAtMost(cnt8.data(), cnt8.size(), uint8_t(std::min<uint64_t>(n, 255)));
      std::fill(cnt8.begin(), cnt8.end(), 0);
      return;
    }
    uint64_t c = 0;
    for (auto& v : cnt) {
      c += v <= n;
      v = 0;
    }
    compliant += c;
  }

  void addNmStrided(const uint8_t* z, size_t count) {
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

  void addNmContiguous(const uint8_t* z, size_t count) {
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
          uint64_t c = 0;
          if (m == 4) {
            c = compliantGroupsOf4(zz, groups, n);
          } else if (m == 8) {
            for (uint64_t g = 0; g < groups; g++) c += uint64_t(__builtin_popcountll(loadLE<uint64_t>(zz + 8 * g))) <= n;
          } else {
            for (uint64_t g = 0; g < groups; g++) c += sumBytes(zz + g * m, size_t(m)) <= n;
          }
          compliant += c;
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
        compliant += cnt0 <= n;
        cnt0 = 0;
      }
      if (j == inDim) {
        j = 0;
        gpos = 0;
      }
    }
  }
};

/** Counts bins[0..count) into acc.hist, through 8 interleaved local tables (short dependency chains). */
void countBins(const uint8_t* bins, size_t count, Acc& acc) {
  uint32_t h[8][kHistBins + 2] = {};
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    h[0][bins[i]]++;
    h[1][bins[i + 1]]++;
    h[2][bins[i + 2]]++;
    h[3][bins[i + 3]]++;
    h[4][bins[i + 4]]++;
    h[5][bins[i + 5]]++;
    h[6][bins[i + 6]]++;
    h[7][bins[i + 7]]++;
  }
  for (; i < count; i++) h[0][bins[i]]++;
  for (int b = 0; b < kHistBins; b++) {
    acc.hist[b] += uint64_t(h[0][b]) + h[1][b] + h[2][b] + h[3][b] + h[4][b] + h[5][b] + h[6][b] + h[7][b];
  }
}

#ifdef __AVX2__
/** For each 8-bit mask, the pshufb pattern that packs the selected bytes to the front. */
struct LeftPack {
  alignas(16) uint8_t pattern[256][16];
  uint8_t count[256];
  LeftPack() {
    for (int m = 0; m < 256; m++) {
      int k = 0;
      for (int b = 0; b < 8; b++)
        if (m & (1 << b)) pattern[m][k++] = uint8_t(b);
      count[m] = uint8_t(k);
      for (; k < 16; k++) pattern[m][k] = 0x80;
    }
  }
};
const LeftPack& leftPack() {
  static const LeftPack* t = new LeftPack();
  return *t;
}
#endif

/**
 * countBins, but zeros (usually most elements of a sparse weight) are counted in bulk: the other
 * bins are first packed together (SSE left-pack), then counted. `packed` holds count + 16 bytes.
 */
void countBinsSparse(const uint8_t* bins, size_t count, uint8_t* packed, Acc& acc) {
#ifdef __AVX2__
  const LeftPack& lp = leftPack();
  const __m128i zeroBin = _mm_set1_epi8(char(kZeroBin));
  uint8_t* out = packed;
  size_t i = 0;
  for (; i + 16 <= count; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bins + i));
    const unsigned keep = ~unsigned(_mm_movemask_epi8(_mm_cmpeq_epi8(v, zeroBin))) & 0xffffu;
    const unsigned lo = keep & 0xff, hi = keep >> 8;
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out),
                     _mm_shuffle_epi8(v, _mm_load_si128(reinterpret_cast<const __m128i*>(lp.pattern[lo]))));
    out += lp.count[lo];
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out),
                     _mm_shuffle_epi8(_mm_srli_si128(v, 8), _mm_load_si128(reinterpret_cast<const __m128i*>(lp.pattern[hi]))));
    out += lp.count[hi];
  }
  for (; i < count; i++) {
    *out = bins[i];
    out += bins[i] != kZeroBin;
  }
  const size_t kept = size_t(out - packed);
  acc.hist[kZeroBin] += count - kept;
  countBins(packed, kept, acc);
#else
  (void)packed;
  countBins(bins, count, acc);
#endif
}

/** Scratch buffers of one thread. */
struct Scratch {
  std::vector<uint8_t> nz = std::vector<uint8_t>(kSubBlock);
  std::vector<uint8_t> bins = std::vector<uint8_t>(kSubBlock);
  std::vector<uint8_t> packed = std::vector<uint8_t>(kSubBlock + 16);
};

/**
 * Histogram bins (kZeroBin for zeros), zero mask and -0.0 count of a run of elements; one
 * implementation per dtype family.
 */
template <DType D>
struct Classifier {
  using E = Elem<D>;
  static constexpr bool kTable = sizeof(typename E::Raw) <= 2 && (E::packed || E::bytes <= 2);
  // float32, bfloat16 and float16 (widened exactly to float32) have a vectorised path.
  static constexpr bool kVector = D == DType::F32 || D == DType::BF16
#ifdef __F16C__
                                  || D == DType::F16
#endif
      ;
  // Table dtypes: bin (kZeroBin = zero) per raw value, with the threshold applied.
  std::vector<uint8_t> table;
  uint32_t negzPattern = 0xffffffffu;
  double threshold;
  float thresholdF = 0;  // the largest float <= threshold: for floats f, |f| <= threshold iff |f| <= thresholdF
  uint16_t bf16ZeroLimit = 0;  // bfloat16: |v| <= threshold iff (bits & 0x7fff) <= this

  explicit Classifier(double thr) : threshold(thr) {
    if constexpr (kTable) {
      const size_t size = E::packed ? 16 : (size_t(1) << (8 * E::bytes));
      table.resize(size);
      for (size_t r = 0; r < size; r++) {
        const auto raw = typename E::Raw(r);
        const double v = E::value(raw);
        const bool zero = threshold > 0 ? std::fabs(v) <= threshold : !E::nz(raw);
        table[r] = uint8_t(zero ? kZeroBin : histBinOfNonZero(v));
        if (E::negZero(raw)) negzPattern = uint32_t(r);
      }
    }
    if (threshold > 0) {
      thresholdF = float(threshold);
      if (double(thresholdF) > threshold) thresholdF = std::nextafter(thresholdF, 0.0f);
      if constexpr (D == DType::BF16) {
        for (uint32_t b = 0; b <= 0x7f80; b++) {  // patterns ascend with the magnitude up to +Inf
          if (E::value(uint16_t(b)) <= threshold) bf16ZeroLimit = uint16_t(b);
          else break;
        }
      }
    }
  }

#ifdef __AVX2__
  /** Elements 8q..8q+7 as float32 bits. */
  static __m256i load8(const uint8_t* p, size_t i) {
    if constexpr (D == DType::F32) {
      return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 4 * i));
    } else if constexpr (D == DType::BF16) {
      return _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i))), 16);
    } else {
#ifdef __F16C__
      return _mm256_castps_si256(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i))));
#else
      return _mm256_setzero_si256();
#endif
    }
  }

  /** Bins and zero mask of float32 bit patterns, 32 elements at a time; returns how many it did. */
  template <bool kThreshold>
  size_t vecBins(const uint8_t* p, size_t count, uint8_t* bins, uint8_t* nz, uint64_t& negzOut) const {
    const __m256i absMask = _mm256_set1_epi32(0x7fffffff), c63 = _mm256_set1_epi32(63), c127 = _mm256_set1_epi32(127);
    const __m256i c255 = _mm256_set1_epi32(255), cNonFinite = _mm256_set1_epi32(kNonFiniteBin);
    const __m256i cZero = _mm256_set1_epi32(kZeroBin), negZero = _mm256_set1_epi32(int(0x80000000u));
    const __m256i zeroBin8 = _mm256_set1_epi8(char(kZeroBin)), one8 = _mm256_set1_epi8(1);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256 thr = _mm256_set1_ps(thresholdF);
    __m256i negz = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
      __m256i b[4];
      for (int q = 0; q < 4; q++) {
        const __m256i u = load8(p, i + 8 * size_t(q));
        const __m256i a = _mm256_and_si256(u, absMask);
        const __m256i e = _mm256_srli_epi32(a, 23);
        // exponent e - 127 clamped to [-64, 63], plus 64; 255: NaN or ±Inf
        __m256i bin = _mm256_min_epu32(_mm256_sub_epi32(_mm256_max_epu32(e, c63), c63), c127);
        bin = _mm256_blendv_epi8(bin, cNonFinite, _mm256_cmpeq_epi32(e, c255));
        __m256i zero;
        if constexpr (kThreshold) zero = _mm256_castps_si256(_mm256_cmp_ps(_mm256_castsi256_ps(a), thr, _CMP_LE_OQ));
        else zero = _mm256_cmpeq_epi32(a, _mm256_setzero_si256());
        b[q] = _mm256_blendv_epi8(bin, cZero, zero);
        negz = _mm256_sub_epi32(negz, _mm256_cmpeq_epi32(u, negZero));
      }
      const __m256i packed = _mm256_permutevar8x32_epi32(
          _mm256_packus_epi16(_mm256_packus_epi32(b[0], b[1]), _mm256_packus_epi32(b[2], b[3])), order);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(bins + i), packed);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(nz + i), _mm256_andnot_si256(_mm256_cmpeq_epi8(packed, zeroBin8), one8));
    }
    alignas(32) uint32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), negz);
    for (uint32_t l : lanes) negzOut += l;
    return i;
  }

  /**
   * bfloat16 in 16-bit lanes, 32 elements at a time. |v| <= threshold is a comparison of the
   * magnitude bits (monotonic in |v| for non-NaN values) against the largest pattern <= threshold.
   */
  template <bool kThreshold>
  size_t vecBinsBF16(const uint8_t* p, size_t count, uint8_t* bins, uint8_t* nz, uint64_t& negzOut) const {
    const __m256i absMask = _mm256_set1_epi16(0x7fff), c63 = _mm256_set1_epi16(63), c127 = _mm256_set1_epi16(127);
    const __m256i c255 = _mm256_set1_epi16(255), cNonFinite = _mm256_set1_epi16(kNonFiniteBin);
    const __m256i cZero = _mm256_set1_epi16(kZeroBin), negZero = _mm256_set1_epi16(short(0x8000));
    const __m256i zeroBin8 = _mm256_set1_epi8(char(kZeroBin)), one8 = _mm256_set1_epi8(1);
    const __m256i limit = _mm256_set1_epi16(short(bf16ZeroLimit));
    __m256i negz = _mm256_setzero_si256();  // per-lane counts, at most count / 16 < 2^16
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
      __m256i b[2];
      for (int q = 0; q < 2; q++) {
        const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * (i + 16 * size_t(q))));
        const __m256i a = _mm256_and_si256(u, absMask);
        const __m256i e = _mm256_srli_epi16(a, 7);
        __m256i bin = _mm256_min_epu16(_mm256_sub_epi16(_mm256_max_epu16(e, c63), c63), c127);
        bin = _mm256_blendv_epi8(bin, cNonFinite, _mm256_cmpeq_epi16(e, c255));
        __m256i zero;
        if constexpr (kThreshold) zero = _mm256_cmpeq_epi16(_mm256_min_epu16(a, limit), a);
        else zero = _mm256_cmpeq_epi16(a, _mm256_setzero_si256());
        b[q] = _mm256_blendv_epi8(bin, cZero, zero);
        negz = _mm256_sub_epi16(negz, _mm256_cmpeq_epi16(u, negZero));
      }
      const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi16(b[0], b[1]), 0xd8);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(bins + i), packed);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(nz + i), _mm256_andnot_si256(_mm256_cmpeq_epi8(packed, zeroBin8), one8));
    }
    alignas(32) uint16_t lanes[16];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), negz);
    for (uint16_t l : lanes) negzOut += l;
    return i;
  }
#endif

  /** Scalar bins of elements [i0, i1). */
  uint64_t scalarBins(const uint8_t* p, size_t par, size_t i0, size_t i1, uint8_t* bins) const {
    uint64_t negz = 0;
    if constexpr (kTable) {
      const uint8_t* t = table.data();
      for (size_t i = i0; i < i1; i++) {
        const uint32_t r = E::load(p, par + i);
        bins[i] = t[r];
        negz += r == negzPattern;
      }
    } else {
      for (size_t i = i0; i < i1; i++) {
        const auto r = E::load(p, par + i);
        const double v = E::value(r);
        const bool zero = threshold > 0 ? std::fabs(v) <= threshold : !E::nz(r);
        bins[i] = uint8_t(zero ? kZeroBin : histBinOfNonZero(v));
        negz += E::negZero(r);
      }
    }
    return negz;
  }

  void run(const uint8_t* p, size_t par, size_t count, Scratch& s, Acc& acc) const {
    uint8_t* bins = s.bins.data();
    uint8_t* nz = s.nz.data();
    uint64_t negz = 0;
    size_t done = 0;
#ifdef __AVX2__
    if constexpr (kVector) {
      if constexpr (D == DType::BF16) {
        done = threshold > 0 ? vecBinsBF16<true>(p, count, bins, nz, negz) : vecBinsBF16<false>(p, count, bins, nz, negz);
      } else {
        done = threshold > 0 ? vecBins<true>(p, count, bins, nz, negz) : vecBins<false>(p, count, bins, nz, negz);
      }
    }
#endif
    negz += scalarBins(p, par, done, count, bins);
    for (size_t i = done; i < count; i++) nz[i] = bins[i] != kZeroBin;
    acc.negz += negz;
    countBinsSparse(bins, count, s.packed.data(), acc);
  }
};

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
