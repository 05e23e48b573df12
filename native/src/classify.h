// The scan's classifier: per element, the histogram bin (kZeroBin for zeros, by bit pattern or
// against the threshold), the zero mask and the -0.0 count; vectorised for float32, bfloat16 and
// float16, table-driven for the other small dtypes.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dtype.h"
#include "histogram.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace sl {

constexpr size_t kSubBlock = 16384;  // elements classified at a time (the zero mask stays in L1)

/** Per-thread counts. */
struct Acc {
  uint64_t hist[kHistBins] = {};
  uint64_t negz = 0;
};

/** Scratch buffers of one thread. */
struct Scratch {
  std::vector<uint8_t> nz = std::vector<uint8_t>(kSubBlock);
  std::vector<uint8_t> bins = std::vector<uint8_t>(kSubBlock);
  std::vector<uint8_t> packed = std::vector<uint8_t>(kSubBlock + 16);
};

/**
 * Counts bins[0..count) into acc.hist; zeros (usually most elements of a sparse weight) are
 * counted in bulk. `packed` holds count + 16 bytes.
 */
void countBinsSparse(const uint8_t* bins, size_t count, uint8_t* packed, Acc& acc);

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

}  // namespace sl
