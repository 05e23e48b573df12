// One SRigL mask update of one layer (spec §3.3, §3.4, §4; the reference's
// `RigLConstFanScheduler._rigl_step`), ported from src/core/train/sriglUpdate.ts step for step:
// drop the smallest |W| over the layer, ablate neurons with too few salient weights, regrow every
// surviving neuron to the same fan-in k by dense-gradient magnitude.
//
// Same results to the bit means the same arithmetic: the counts are computed in double as the JS
// numbers are (floors of double products and quotients), the comparisons written as TypeScript
// writes them (so NaN compares as there), ties broken the same way (score descending, then index
// ascending), and the messages quote numbers as JavaScript prints them. Every selection finds the
// exact n-th largest key and marks what is above it and the first ties in index order, so how it
// finds that key (radix histograms, counting passes) cannot change a result.
//
// Speed (a 3072 × 784 layer at s = 0.9): no pass allocates per row, the passes over whole rows are
// vectorized (AVX2 where the target has it, scalar otherwise), and the sparse weights are selected
// from the list of their non-zeros.
#include "srigl_update.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace sl::train {

namespace {

constexpr uint32_t kMagnitudeMask = 0x7fffffff;
constexpr uint32_t kInfinityBits = 0x7f800000;

/** |v| as float32 bits: for non-negative floats their order is the order of the numbers. */
inline uint32_t magnitudeBits(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits & kMagnitudeMask;
}

/** Math.max(1, v): NaN stays NaN, where std::max would give 1. */
double jsMaxWithOne(double v) { return std::isnan(v) ? v : std::max(1.0, v); }

// ---------------------------------------------------------------------------------------------
// Row passes (vectorized)

/** f(j) for every set bit j of m, lowest first. */
template <class F>
inline void forEachBit(uint32_t m, F&& f) {
  while (m) {
    f(uint32_t(__builtin_ctz(m)));
    m &= m - 1;
  }
}

#ifdef __AVX2__
/** The |x| bits of 8 floats. */
inline __m256i magnitudes8(const float* p) {
  return _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), _mm256_set1_epi32(int(kMagnitudeMask)));
}

/** An 8-lane comparison as 8 bits. */
inline uint32_t laneBits(__m256i m) { return uint32_t(_mm256_movemask_ps(_mm256_castsi256_ps(m))); }

/** a ≥ b on unsigned 32-bit lanes. */
inline __m256i atLeast(__m256i a, __m256i b) { return _mm256_cmpeq_epi32(_mm256_max_epu32(a, b), a); }

/**
 * For an 8-bit m: of[m] has byte j = bit j of m (8 lanes' flags as mask bytes); packed[m] the
 * lanes of its set bits, lowest first, one a byte (AVX2's left-pack by permutation).
 */
struct LaneTables {
  uint64_t of[256];
  uint64_t packed[256];
  LaneTables() {
    for (uint32_t m = 0; m < 256; m++) {
      of[m] = 0;
      packed[m] = 0;
      uint32_t at = 0;
      for (uint32_t j = 0; j < 8; j++) {
        of[m] |= uint64_t((m >> j) & 1) << (8 * j);
        if ((m >> j) & 1) packed[m] |= uint64_t(j) << (8 * at++);
      }
    }
  }
};
const LaneTables kLanes;

/** Stores at out the lanes of values whose bit in m is set, in order (8 lanes written: out needs 8 spare); returns how many. */
inline uint32_t leftPack(__m256i values, uint32_t m, uint32_t* out) {
  const __m256i order = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(kLanes.packed[m])));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permutevar8x32_epi32(values, order));
  return uint32_t(__builtin_popcount(m));
}
#endif

/**
 * Appends to list the flat indices (first + c, below 2^32) of the row's non-zero values (NaN
 * included), ascending, and to keys their |value| bits; both need 8 spare entries.
 */
void listNonZeros(const float* row, uint32_t first, int64_t cols, uint32_t* list, uint32_t* keys, size_t& listed) {
  int64_t c = 0;
#ifdef __AVX2__
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (; c + 8 <= cols; c += 8) {
    const uint32_t m = uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + c), _mm256_setzero_ps(), _CMP_NEQ_UQ)));
    leftPack(magnitudes8(row + c), m, keys + listed);
    listed += leftPack(_mm256_add_epi32(lanes, _mm256_set1_epi32(int(first + uint32_t(c)))), m, list + listed);
  }
#endif
  for (; c < cols; c++) {
    if (row[c] == 0) continue;
    keys[listed] = magnitudeBits(row[c]);
    list[listed++] = first + uint32_t(c);
  }
}

/**
 * The pass after the high histogram, over a whole row: marks[c] |= bit where the key's high half
 * is above hi, and lists (as first + c) the non-zero keys whose high half is hi.
 */
void markAboveListAt(const float* row, int64_t first, int64_t cols, uint32_t hi, uint8_t bit, uint8_t* marks, int64_t* list,
                     size_t& listed) {
  int64_t c = 0;
#ifdef __AVX2__
  const __m256i hiLanes = _mm256_set1_epi32(int(hi));
  for (; c + 8 <= cols; c += 8) {
    const __m256i keys = magnitudes8(row + c);
    const __m256i bins = _mm256_srli_epi32(keys, 16);  // ≤ 0x7fff: signed compares hold
    uint64_t bytes;
    std::memcpy(&bytes, marks + c, sizeof bytes);
    bytes |= kLanes.of[laneBits(_mm256_cmpgt_epi32(bins, hiLanes))] * bit;
    std::memcpy(marks + c, &bytes, sizeof bytes);
    const uint32_t inBin =
        laneBits(_mm256_cmpeq_epi32(bins, hiLanes)) & ~laneBits(_mm256_cmpeq_epi32(keys, _mm256_setzero_si256()));
    forEachBit(inBin, [&](uint32_t j) { list[listed++] = first + c + j; });
  }
#endif
  for (; c < cols; c++) {
    const uint32_t key = magnitudeBits(row[c]);
    if ((key >> 16) > hi) marks[c] |= bit;
    if ((key >> 16) == hi && key != 0) list[listed++] = first + c;
  }
}

/** A row's keys for the grow step: |G| bits + 1 at a free column, 0 at a taken one (below every free); returns the largest. */
uint32_t freeKeys(int64_t cols, const float* g, const uint8_t* taken, uint32_t* keys) {
  int64_t c = 0;
  uint32_t maxKey = 0;
#ifdef __AVX2__
  const __m256i one = _mm256_set1_epi32(1);
  __m256i maxLanes = _mm256_setzero_si256();
  for (; c + 8 <= cols; c += 8) {
    uint64_t taken8;
    std::memcpy(&taken8, taken + c, sizeof taken8);
    const __m256i isFree = _mm256_cmpeq_epi32(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(taken8))), _mm256_setzero_si256());
    const __m256i key = _mm256_and_si256(_mm256_add_epi32(magnitudes8(g + c), one), isFree);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(keys + c), key);
    maxLanes = _mm256_max_epu32(maxLanes, key);
  }
  alignas(32) uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), maxLanes);
  for (const uint32_t lane : lanes) maxKey = std::max(maxKey, lane);
#endif
  for (; c < cols; c++) {
    keys[c] = taken[c] ? 0u : magnitudeBits(g[c]) + 1;
    maxKey = std::max(maxKey, keys[c]);
  }
  return maxKey;
}

/** How many keys are at least t. */
size_t countAtLeast(int64_t cols, const uint32_t* keys, uint32_t t) {
  int64_t c = 0;
  size_t count = 0;
#ifdef __AVX2__
  const __m256i tLanes = _mm256_set1_epi32(int(t));
  __m256i counts = _mm256_setzero_si256();  // each lane minus 1 per key at least t
  for (; c + 8 <= cols; c += 8)
    counts = _mm256_sub_epi32(counts, atLeast(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(keys + c)), tLanes));
  alignas(32) uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), counts);
  for (const uint32_t lane : lanes) count += lane;
#endif
  for (; c < cols; c++) count += keys[c] >= t;
  return count;
}

/**
 * Writes the keys at least t as 64-bit keys, the key above the inverted column (columns below
 * 2^31); returns how many. columns: scratch of cols + 8.
 */
size_t collectAtLeast(int64_t cols, const uint32_t* keys, uint32_t t, uint32_t* columns, uint64_t* out) {
  int64_t c = 0;
  size_t held = 0;
#ifdef __AVX2__
  const __m256i tLanes = _mm256_set1_epi32(int(t));
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (; c + 8 <= cols; c += 8) {
    const uint32_t m = laneBits(atLeast(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(keys + c)), tLanes));
    held += leftPack(_mm256_add_epi32(lanes, _mm256_set1_epi32(int(c))), m, columns + held);
  }
#endif
  for (; c < cols; c++)
    if (keys[c] >= t) columns[held++] = uint32_t(c);
  for (size_t j = 0; j < held; j++) out[j] = (uint64_t(keys[columns[j]]) << 32) | uint64_t(~columns[j]);
  return held;
}

// ---------------------------------------------------------------------------------------------
// Global top-n (markTopMagnitudes)

/** Scratch of the radix select, reused by the selections of one update. */
struct SelectScratch {
  /** High-half histogram; its 8 bins past 65535 count zeros apart (see markTopMagnitudes). */
  std::vector<uint32_t> high = std::vector<uint32_t>(65536 + 8);
  std::vector<uint32_t> low = std::vector<uint32_t>(65536);
  /** Flat indices of the keys in the high bin of the n-th largest, ascending. */
  std::vector<int64_t> inBin;
};

/**
 * The positions a selection scans, in index order: every column of the rows not excluded, or, with
 * `listed`, only the listed positions of those rows (all their non-zero scores: a sparse layer's
 * weights), the others then zeros counted apart.
 */
struct Positions {
  const float* scores = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* excludedRows = nullptr;
  /** Flat indices of the non-zero scores, ascending; row r's are [rowStart[r], rowStart[r + 1]). */
  const std::vector<uint32_t>* listed = nullptr;
  /** Their |score| bits. */
  const std::vector<uint32_t>* listedKeys = nullptr;
  const std::vector<size_t>* rowStart = nullptr;

  bool excluded(int64_t r) const { return excludedRows && excludedRows[r]; }

  /** f(flat index, |score| bits) at every position, in index order. */
  template <class F>
  void forEach(F&& f) const {
    for (int64_t r = 0; r < rows; r++) {
      if (excluded(r)) continue;
      if (listed) {
        for (size_t t = (*rowStart)[size_t(r)]; t < (*rowStart)[size_t(r) + 1]; t++) f(int64_t((*listed)[t]), (*listedKeys)[t]);
      } else {
        const float* row = scores + r * cols;
        for (int64_t c = 0; c < cols; c++) f(r * cols + c, magnitudeBits(row[c]));
      }
    }
  }
};

/**
 * markTopMagnitudes: out[i] |= bit at the n positions of largest |scores| of the [rows, cols]
 * array, leaving out the excluded rows; ties go to the lower index. A histogram of the high 16 bits
 * of the float32 magnitudes finds the bin of the n-th largest; a second pass marks every key of a
 * higher bin and lists the non-zero ones of that bin; a histogram of their low 16 bits (and the
 * zeros, counted) gives the exact value, and the list in index order marks everything above it
 * and the first ties — the first zeros in index order when the n-th largest is 0. n is a double
 * as in TypeScript (n ≤ 0 marks nothing; NaN scans and marks nothing).
 */
void markTopMagnitudes(const Positions& positions, double n, uint8_t* out, uint8_t bit, SelectScratch& scratch) {
  if (n <= 0) return;
  uint32_t* high = scratch.high.data();
  std::fill(scratch.high.begin(), scratch.high.end(), 0u);
  double available = 0;
  for (int64_t r = 0; r < positions.rows; r++)
    if (!positions.excluded(r)) available += double(positions.cols);
  int64_t nonZeros = 0;
  positions.forEach([&](int64_t i, uint32_t key) {
    if (key > kInfinityBits) throw SriglUpdateError("a score is NaN at position " + std::to_string(i));
    // Zeros (most of a sparse layer's weights) go to 8 spare bins in turn: all in bin 0, each
    // increment would wait for the one before.
    high[key != 0 ? key >> 16 : 65536 + uint32_t(i & 7)]++;
    nonZeros += key != 0;
  });
  const uint32_t zeros = uint32_t(available - double(nonZeros));
  high[0] += zeros;
  if (n > available) throw SriglUpdateError("cannot pick " + jsNumberText(n) + " positions out of " + jsNumberText(available));

  double above = 0;
  uint32_t hi = 65535;
  for (; hi > 0 && above + high[hi] < n; hi--) above += high[hi];

  // Everything in a higher bin is in; the bin's own non-zero keys are listed for the exact threshold.
  std::vector<int64_t>& inBin = scratch.inBin;
  inBin.resize(size_t(high[hi] - (hi == 0 ? zeros : 0)));
  size_t listed = 0;
  if (positions.listed) {
    positions.forEach([&](int64_t i, uint32_t key) {
      const uint32_t b = key >> 16;
      if (b > hi) out[i] |= bit;
      if (b == hi) inBin[listed++] = i;  // listed keys are non-zero
    });
  } else {
    for (int64_t r = 0; r < positions.rows; r++) {
      if (positions.excluded(r)) continue;
      markAboveListAt(positions.scores + r * positions.cols, r * positions.cols, positions.cols, hi, bit,
                      out + r * positions.cols, inBin.data(), listed);
    }
  }

  const float* scores = positions.scores;
  uint32_t* low = scratch.low.data();
  std::fill(scratch.low.begin(), scratch.low.end(), 0u);
  for (size_t t = 0; t < listed; t++) low[magnitudeBits(scores[inBin[t]]) & 0xffff]++;
  uint32_t lo = 65535;  // stops at 0 unread (as in TypeScript): the zeros need no count there
  for (; lo > 0 && above + low[lo] < n; lo--) above += low[lo];
  const uint32_t threshold = (hi << 16) | lo;
  double ties = n - above;
  for (size_t t = 0; t < listed; t++) {
    const uint32_t key = magnitudeBits(scores[inBin[t]]);
    if (key > threshold) {
      out[inBin[t]] |= bit;
    } else if (key == threshold && ties > 0) {
      out[inBin[t]] |= bit;
      ties--;
    }
  }
  if (threshold != 0 || !(ties > 0)) return;
  // The n-th largest is 0: the first zeros in index order (the listed keys, all above 0, are in).
  for (int64_t r = 0; r < positions.rows; r++) {
    if (positions.excluded(r)) continue;
    const float* row = positions.scores + r * positions.cols;
    uint8_t* marks = out + r * positions.cols;
    for (int64_t c = 0; c < positions.cols; c++) {
      if (magnitudeBits(row[c]) != 0) continue;
      marks[c] |= bit;
      if (!(--ties > 0)) return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The update's steps

/** What the first pass over the layer counts (step 2's inputs). */
struct ActiveCounts {
  int64_t ones = 0;
  int64_t nonZeros = 0;
  bool gradientFinite = true;
};

/** The active weights (others read as 0) to out; __restrict and no branch, so it vectorizes. */
ActiveCounts copyActive(int64_t numel, const float* __restrict weights, const uint8_t* __restrict mask,
                        const float* __restrict grads, float* __restrict out) {
  int64_t ones = 0;
  int64_t nonZeros = 0;
  uint32_t nonFinite = 0;
  for (int64_t i = 0; i < numel; i++) {
    const float w = mask[i] ? weights[i] : 0.0f;
    out[i] = w;
    ones += mask[i];
    nonZeros += w != 0;
    uint32_t bits;
    std::memcpy(&bits, &grads[i], sizeof bits);
    nonFinite |= (bits & kInfinityBits) == kInfinityBits;
  }
  return {ones, nonZeros, nonFinite == 0};
}

/** ablationOf (src/core/analysis/ablation.ts): the threshold and the rows below it, from the salient counts. */
double ablate(const std::vector<uint32_t>& salient, double nMax, int64_t cols, double gammaSal,
              std::vector<int64_t>& candidates) {
  const double rows = double(salient.size());
  const double k0 = std::floor(nMax / rows);
  double threshold = gammaSal >= 1 ? gammaSal : jsMaxWithOne(std::floor(gammaSal * k0));
  // The minimum-neurons guard: at least min_neurons + 1 neurons survive, so k stays ≤ the dense fan-in.
  const double minNeurons = std::floor(nMax / double(cols));
  if (minNeurons >= 0 && minNeurons < rows) {  // JS reads ranked[-1] as undefined: no guard
    std::vector<uint32_t> ranked(salient);
    const auto at = ranked.begin() + int64_t(minNeurons);
    std::nth_element(ranked.begin(), at, ranked.end(), std::greater<uint32_t>());  // the descending sort's entry
    if (*at < threshold) threshold = *at;
  }
  for (size_t i = 0; i < salient.size(); i++)
    if (salient[i] < threshold) candidates.push_back(int64_t(i));
  return threshold;
}

/**
 * topColumns: marks a row's `want` best free columns by (|G| descending, column ascending), want
 * below the free count, from freeKeys' keys. Counting passes over the keys (in L1) search the
 * highest threshold t = b · 2^19 (1/16 octave of |G|) that still leaves want keys at or above
 * it, galloping down from the largest key; those keys — want and a few — are cut to the best want
 * by nth_element on 64-bit keys, the key above the inverted column (every one distinct, larger =
 * better).
 */
void growRow(int64_t cols, const uint32_t* keys, uint32_t maxKey, size_t want, uint32_t* columns, uint64_t* buffer,
             uint8_t* newMask) {
  auto threshold = [](uint32_t b) { return std::max(b << 19, 1u); };  // ≥ 1: never a taken column
  auto enough = [&](uint32_t b) { return countAtLeast(cols, keys, threshold(b)) >= want; };
  uint32_t good = maxKey >> 19;  // b = 0 counts every free column, more than want
  if (!enough(good)) {
    uint32_t bad = good;
    for (uint32_t step = 1;; step *= 2) {
      good = bad > step ? bad - step : 0;
      if (good == 0 || enough(good)) break;
      bad = good;
    }
    while (bad - good > 1) {
      const uint32_t mid = good + (bad - good) / 2;
      if (enough(mid))
        good = mid;
      else
        bad = mid;
    }
  }
  const size_t held = collectAtLeast(cols, keys, threshold(good), columns, buffer);
  if (held > want) std::nth_element(buffer, buffer + want - 1, buffer + held, std::greater<uint64_t>());
  for (size_t j = 0; j < want; j++) newMask[~uint32_t(buffer[j])] = 1;
}

}  // namespace

std::string jsNumberText(double v) {
  // Number::toString (ECMA-262 §6.1.6.1.20) on the shortest round-trip digits, which std::to_chars gives.
  if (std::isnan(v)) return "NaN";
  if (v == 0) return "0";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v < 0) return "-" + jsNumberText(-v);
  char buf[64];
  const auto written = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string text(buf, written.ptr);  // "d.ddde+XX" or "de-XX"
  const size_t e = text.find('e');
  std::string digits;
  for (size_t i = 0; i < e; i++)
    if (text[i] != '.') digits += text[i];
  const int k = int(digits.size());
  const int n = std::stoi(text.substr(e + 1)) + 1;  // v = 0.digits × 10^n
  if (k <= n && n <= 21) return digits + std::string(size_t(n - k), '0');
  if (0 < n && n <= 21) return digits.substr(0, size_t(n)) + "." + digits.substr(size_t(n));
  if (-6 < n && n <= 0) return "0." + std::string(size_t(-n), '0') + digits;
  const std::string exponent = std::string(n - 1 >= 0 ? "+" : "-") + std::to_string(std::abs(n - 1));
  return (k == 1 ? digits : digits.substr(0, 1) + "." + digits.substr(1)) + "e" + exponent;
}

SriglLayerFigures sriglLayerUpdate(int64_t rows, int64_t cols, const float* weights, const uint8_t* mask, const float* grads,
                                   const SriglLayerOptions& options, float* outWeights, uint8_t* outMask) {
  const int64_t numel = rows * cols;
  SriglLayerFigures figures;

  // The active weights (others read as 0) go straight to outWeights, which step 7 then trims; with
  // them the counts of step 2. The gradient must be finite (the first bad one is named).
  const ActiveCounts counts = copyActive(numel, weights, mask, grads, outWeights);
  if (!counts.gradientFinite) {
    int64_t i = 0;
    while (std::isfinite(grads[i])) i++;
    throw SriglUpdateError("the gradient is not finite at row " + std::to_string(i / cols) + ", column " +
                           std::to_string(i % cols));
  }

  // Step 2: how many to keep, corrected when fewer weights are non-zero.
  const double nOnes = double(counts.ones);
  double nPrune = std::floor(nOnes * options.dropFraction);
  double nKeep = nOnes - nPrune;
  if (double(counts.nonZeros) < nKeep) {
    nKeep = double(counts.nonZeros);
    nPrune = nOnes - nKeep;
  }
  figures.nKeep = nKeep;
  figures.nPrune = nPrune;

  // A sparse layer's weights are selected from the list of their non-zeros (a tenth of the layer
  // at s = 0.9), the zeros counted apart.
  SelectScratch scratch;
  Positions weightPositions{outWeights, rows, cols};
  std::vector<uint32_t> nonZeroList;
  std::vector<uint32_t> nonZeroKeys;
  std::vector<size_t> rowStart;
  if (counts.nonZeros <= numel / 4 && numel <= int64_t(UINT32_MAX)) {
    nonZeroList.resize(size_t(counts.nonZeros) + 8);
    nonZeroKeys.resize(size_t(counts.nonZeros) + 8);
    rowStart.resize(size_t(rows) + 1);
    size_t listed = 0;
    for (int64_t r = 0; r < rows; r++) {
      rowStart[size_t(r)] = listed;
      listNonZeros(outWeights + r * cols, uint32_t(r * cols), cols, nonZeroList.data(), nonZeroKeys.data(), listed);
    }
    rowStart[size_t(rows)] = listed;
    weightPositions.listed = &nonZeroList;
    weightPositions.listedKeys = &nonZeroKeys;
    weightPositions.rowStart = &rowStart;
  }

  // Step 3, §4: ablation from the salient weights (top-n_keep |W| ∪ top-n_prune |G|, active positions
  // included), marked in outMask as bit 0 (|W|) and bit 1 (|G|): with no neuron ablated, bit 0 is
  // step 5's keep.
  const double nMax = std::floor(double(numel) * (1 - options.sparsity));
  std::fill_n(outMask, numel, uint8_t(0));
  bool keepMarked = false;
  if (options.ablation && options.sparsity > 0) {
    markTopMagnitudes(weightPositions, nKeep, outMask, 1, scratch);
    markTopMagnitudes(Positions{grads, rows, cols}, nPrune, outMask, 2, scratch);
    std::vector<uint32_t> salient(size_t(rows), 0);
    for (int64_t r = 0; r < rows; r++) {
      const uint8_t* marks = outMask + r * cols;
      uint32_t count = 0;
      for (int64_t c = 0; c < cols; c++) count += marks[c] != 0;
      salient[size_t(r)] = count;
    }
    figures.threshold = ablate(salient, nMax, cols, options.gammaSal, figures.ablated);
    figures.hasThreshold = true;
    keepMarked = figures.ablated.empty();
    if (keepMarked)
      for (int64_t i = 0; i < numel; i++) outMask[i] &= 1;
  }
  std::vector<uint8_t> isAblated(size_t(rows), 0);
  for (const int64_t r : figures.ablated) isAblated[size_t(r)] = 1;

  // Step 4: the new constant fan-in, the ablated neurons' budget shared by the others.
  const double active = double(rows - int64_t(figures.ablated.size()));
  const double k = active > 0 ? std::floor(nMax / active) : 0;
  if (k == 0) {
    throw SriglUpdateError("a sparsity of " + jsNumberText(options.sparsity) + " leaves no weight per neuron (" +
                           jsNumberText(nMax) + " weights for " + jsNumberText(active) +
                           " neurons): reduce the sparsity or widen the layer");
  }
  if (k > double(cols)) {
    throw SriglUpdateError("the fan-in " + jsNumberText(k) + " exceeds the " + std::to_string(cols) +
                           " inputs of a neuron: too many neurons ablated");
  }
  figures.k = k;

  // Step 5: keep the global top-n_keep |W|, ablated rows ranked below every other position (the
  // reference lowers their scores to min − 1; the minimum-neurons guard leaves enough others).
  if (!keepMarked) {
    std::fill_n(outMask, numel, uint8_t(0));
    weightPositions.excludedRows = isAblated.data();
    markTopMagnitudes(weightPositions, nKeep, outMask, 1, scratch);
  }
  // A row over k keeps its lowest columns (the reference's truncation; only after a revival, so
  // the walk runs only there — and for a NaN k, which TypeScript's walk clears every row for).
  std::vector<uint32_t> kept(size_t(rows), 0);
  for (int64_t r = 0; r < rows; r++) {
    uint8_t* keep = outMask + r * cols;
    uint32_t count = 0;
    for (int64_t c = 0; c < cols; c++) count += keep[c];
    if (!(count <= k)) {
      count = 0;
      for (int64_t c = 0; c < cols; c++) {
        if (!keep[c]) continue;
        if (count < k)
          count++;
        else
          keep[c] = 0;
      }
    }
    kept[size_t(r)] = count;
  }

  // Step 6: grow every surviving row to exactly k by |G|, positions dropped in this update eligible.
  std::vector<uint32_t> rowKeys(static_cast<size_t>(cols));
  std::vector<uint32_t> columns(size_t(cols) + 8);
  std::vector<uint64_t> buffer(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; r++) {
    if (isAblated[size_t(r)] || kept[size_t(r)] >= k) continue;
    uint8_t* newMask = outMask + r * cols;
    const double count = k - kept[size_t(r)];
    if (!(count < double(cols - kept[size_t(r)]))) {  // every free column (also what a NaN k does in TypeScript)
      for (int64_t c = 0; c < cols; c++) newMask[c] = 1;
      continue;
    }
    const uint32_t maxKey = freeKeys(cols, grads + r * cols, newMask, rowKeys.data());
    growRow(cols, rowKeys.data(), maxKey, size_t(count), columns.data(), buffer.data(), newMask);
  }

  // Step 7: newly grown weights start at 0; dropped-and-regrown keep their value.
  int64_t grown = 0;
  int64_t dropped = 0;
  for (int64_t i = 0; i < numel; i++) {
    const bool now = outMask[i] != 0;
    const bool before = mask[i] != 0;
    grown += now && !before;
    dropped += !now && before;
    outWeights[i] = now ? outWeights[i] : 0.0f;
  }
  figures.grown = grown;
  figures.dropped = dropped;
  return figures;
}

}  // namespace sl::train
