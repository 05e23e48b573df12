// SIMD helpers shared by the kernels: byte masks (0 or 1 per element) and float reductions. Each
// has a portable fallback; the AVX2 paths are compiled when the target has them (-march=native).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace sl {

// ---------------------------------------------------------------------------------------------
// Byte masks

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

/** src[0] + ... + src[n - 1]. */
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

// ---------------------------------------------------------------------------------------------
// 32-bit integers and floats

/** Largest of v[0..n) as unsigned (negative values are huge). */
inline uint32_t maxAsUnsigned(const int32_t* v, size_t n) {
  size_t t = 0;
  uint32_t m = 0;
#ifdef __AVX2__
  __m256i mx = _mm256_setzero_si256();
  for (; t + 8 <= n; t += 8) mx = _mm256_max_epu32(mx, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + t)));
  __m128i h = _mm_max_epu32(_mm256_castsi256_si128(mx), _mm256_extracti128_si256(mx, 1));
  h = _mm_max_epu32(h, _mm_shuffle_epi32(h, 0x4e));
  h = _mm_max_epu32(h, _mm_shuffle_epi32(h, 0xb1));
  m = uint32_t(_mm_cvtsi128_si32(h));
#endif
  for (; t < n; t++) m = std::max(m, uint32_t(v[t]));
  return m;
}

#ifdef __AVX2__
/** The two 128-bit halves of a, added lane by lane. */
inline __m128 addHalves(__m256 a) { return _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1)); }

/** (h0 + h2) + (h1 + h3). */
inline float sumLanes(__m128 h) {
  const __m128 h2 = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(h2, _mm_movehdup_ps(h2)));
}
#endif

}  // namespace sl
