#include "classify.h"

namespace sl {

namespace {

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

}  // namespace

// The bins other than kZeroBin are first packed together (SSE left-pack), then counted.
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

}  // namespace sl
