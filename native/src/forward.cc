// Forward passes y = x · Wᵀ + b of a linear layer: condensed constant fan-in (SRigL) and dense.
#include "forward.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "error.h"
#include "pool.h"
#include "simd.h"

#if defined(__AVX2__) && defined(__FMA__)
#define SL_AVX2 1
#endif

namespace sl {

namespace {

/** Fewer MACs than this run on one thread: waking another costs more than it saves. */
constexpr uint64_t kMinParallelMacs = 50000;

unsigned forwardThreads(unsigned requested, uint64_t macs, uint64_t units) {
  if (macs < kMinParallelMacs) return 1;
  return resolveThreads(requested, std::max<uint64_t>(1, std::min<uint64_t>(units, macs / (kMinParallelMacs / 2))));
}

/** Splits [0, n) in T parts, part boundaries multiples of `align`. */
uint64_t splitAt(uint64_t n, unsigned T, unsigned t, uint64_t align = 1) {
  if (t >= T) return n;
  const uint64_t units = (n + align - 1) / align;
  return std::min(n, units * t / T * align);
}

// ---------------------------------------------------------------------------------------------
// Dot products

#ifdef SL_AVX2
/** x values at 4 indices (read as two 64-bit pairs: fewer loads). */
inline __m128 load4(const float* x, const int32_t* ix) {
  uint64_t a, b;
  std::memcpy(&a, ix, 8);
  std::memcpy(&b, ix + 2, 8);
  __m128 r = _mm_load_ss(x + uint32_t(a));
  r = _mm_insert_ps(r, _mm_load_ss(x + (a >> 32)), 0x10);
  r = _mm_insert_ps(r, _mm_load_ss(x + uint32_t(b)), 0x20);
  r = _mm_insert_ps(r, _mm_load_ss(x + (b >> 32)), 0x30);
  return r;
}
#endif

/** sum_t v[t] * x[ix[t]]; the indices must have been checked. */
inline float sparseDot(const float* v, const int32_t* ix, const float* x, size_t k) {
  size_t t = 0;
  float s = 0;
#ifdef SL_AVX2
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (; t + 16 <= k; t += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(v + t), _mm256_set_m128(load4(x, ix + t + 4), load4(x, ix + t)), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(v + t + 8), _mm256_set_m128(load4(x, ix + t + 12), load4(x, ix + t + 8)), a1);
  }
  __m128 h = addHalves(_mm256_add_ps(a0, a1));
  for (; t + 4 <= k; t += 4) h = _mm_fmadd_ps(_mm_loadu_ps(v + t), load4(x, ix + t), h);
  s = sumLanes(h);
#else
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (; t + 4 <= k; t += 4) {
    s0 += v[t] * x[uint32_t(ix[t])];
    s1 += v[t + 1] * x[uint32_t(ix[t + 1])];
    s2 += v[t + 2] * x[uint32_t(ix[t + 2])];
    s3 += v[t + 3] * x[uint32_t(ix[t + 3])];
  }
  s = (s0 + s1) + (s2 + s3);
#endif
  for (; t < k; t++) s += v[t] * x[uint32_t(ix[t])];
  return s;
}

#ifdef SL_AVX2
/** Unsigned max of the 8 lanes. */
inline uint32_t maxLanes(__m256i m) {
  __m128i h = _mm_max_epu32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
  h = _mm_max_epu32(h, _mm_shuffle_epi32(h, 0x4e));
  h = _mm_max_epu32(h, _mm_shuffle_epi32(h, 0xb1));
  return uint32_t(_mm_cvtsi128_si32(h));
}
#endif

/**
 * sparseDot(v, ix, x, k), the same operations in the same order (the same result), and the
 * largest of nx[0..k) as unsigned into nextMax: the next row's indices, checked here, among the
 * loads of x, before that row reads x. A pass of its own right before each row cost about 10 of
 * 59 µs on a 3072→768 layer at k = 307, batch 1 (its loads wait on L2/L3); interleaved, 2
 * vector loads per 16 products, it costs about half that.
 */
inline float sparseDotCheckNext(const float* v, const int32_t* ix, const float* x, size_t k, const int32_t* nx,
                                uint32_t& nextMax) {
#ifdef SL_AVX2
  size_t t = 0;
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  __m256i m0 = _mm256_setzero_si256(), m1 = _mm256_setzero_si256();
  for (; t + 16 <= k; t += 16) {
    m0 = _mm256_max_epu32(m0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(nx + t)));
    m1 = _mm256_max_epu32(m1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(nx + t + 8)));
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(v + t), _mm256_set_m128(load4(x, ix + t + 4), load4(x, ix + t)), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(v + t + 8), _mm256_set_m128(load4(x, ix + t + 12), load4(x, ix + t + 8)), a1);
  }
  if (t < k) {
    if (k >= 8) {
      // The rest of nx as the last 8 (overlapping what the loop read) and, if longer, the 8
      // before them: a scalar tail here cost as much as the vector loads of the whole row.
      m0 = _mm256_max_epu32(m0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(nx + k - 8)));
      if (k - t > 8) m1 = _mm256_max_epu32(m1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(nx + t)));
    } else {
      m0 = _mm256_set1_epi32(int(maxAsUnsigned(nx, k)));
    }
  }
  nextMax = maxLanes(_mm256_max_epu32(m0, m1));
  __m128 h = addHalves(_mm256_add_ps(a0, a1));
  for (; t + 4 <= k; t += 4) h = _mm_fmadd_ps(_mm_loadu_ps(v + t), load4(x, ix + t), h);
  float s = sumLanes(h);
  for (; t < k; t++) s += v[t] * x[uint32_t(ix[t])];
  return s;
#else
  nextMax = maxAsUnsigned(nx, k);
  return sparseDot(v, ix, x, k);
#endif
}

inline float denseDot(const float* w, const float* x, size_t n) {
  size_t i = 0;
  float s = 0;
#ifdef SL_AVX2
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
  s = sumLanes(addHalves(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))));
#else
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += w[i] * x[i];
    s1 += w[i + 1] * x[i + 1];
    s2 += w[i + 2] * x[i + 2];
    s3 += w[i + 3] * x[i + 3];
  }
  s = (s0 + s1) + (s2 + s3);
#endif
  for (; i < n; i++) s += w[i] * x[i];
  return s;
}

/** Checks indices[0..n) against [0, inF); throws naming the first bad one. */
void checkIndices(const int32_t* ix, uint64_t first, uint64_t n, uint64_t inF) {
  uint32_t mx = 0;
  for (uint64_t t = 0; t < n; t++) mx = std::max(mx, uint32_t(ix[first + t]));
  if (n == 0 || mx < inF) return;
  for (uint64_t t = 0; t < n; t++) {
    if (uint64_t(uint32_t(ix[first + t])) >= inF) {
      throw Error("condensedForward: layer.indices[" + std::to_string(first + t) + "] = " + std::to_string(ix[first + t]) +
                  " is outside [0, inFeatures = " + std::to_string(inF) + ")");
    }
  }
}

/** xT[i * ld + b] = x[b * inF + i] for b < batch, 0 for batch <= b < ld; rows [i0, i1). */
void transposeRows(const float* x, uint64_t batch, uint64_t inF, uint64_t ld, uint64_t i0, uint64_t i1, float* xT) {
  constexpr uint64_t kBlock = 64;
  for (uint64_t ib = i0; ib < i1; ib += kBlock) {
    const uint64_t ie = std::min(i1, ib + kBlock);
    for (uint64_t b = 0; b < batch; b++) {
      const float* xr = x + b * inF;
      for (uint64_t i = ib; i < ie; i++) xT[i * ld + b] = xr[i];
    }
    for (uint64_t i = ib; i < ie; i++)
      for (uint64_t b = batch; b < ld; b++) xT[i * ld + b] = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Condensed, batched: y rows accumulate over lanes of transposed x (vectorised over the batch)

constexpr uint64_t kLaneTile = 32;  // batch lanes per pass (4 vectors of 8): a tile of x stays in L2

template <int NV>
void condensedTile(const float* v, const int32_t* ix, uint64_t k, const float* xT, uint64_t ld, float* out) {
#ifdef SL_AVX2
  __m256 acc[NV];
  for (int q = 0; q < NV; q++) acc[q] = _mm256_setzero_ps();
  for (uint64_t t = 0; t < k; t++) {
    const __m256 w = _mm256_broadcast_ss(v + t);
    const float* xp = xT + uint64_t(uint32_t(ix[t])) * ld;
    for (int q = 0; q < NV; q++) acc[q] = _mm256_fmadd_ps(w, _mm256_loadu_ps(xp + 8 * q), acc[q]);
  }
  for (int q = 0; q < NV; q++) _mm256_storeu_ps(out + 8 * q, acc[q]);
#else
  float acc[NV * 8] = {};
  for (uint64_t t = 0; t < k; t++) {
    const float w = v[t];
    const float* xp = xT + uint64_t(uint32_t(ix[t])) * ld;
    for (int q = 0; q < NV * 8; q++) acc[q] += w * xp[q];
  }
  for (int q = 0; q < NV * 8; q++) out[q] = acc[q];
#endif
}

using TileFn = void (*)(const float*, const int32_t*, uint64_t, const float*, uint64_t, float*);
const TileFn kCondensedTiles[5] = {nullptr, condensedTile<1>, condensedTile<2>, condensedTile<3>, condensedTile<4>};

// ---------------------------------------------------------------------------------------------
// Dense, batched: a register-blocked GEMM yT[out, lanes] = W[out, in] · xT[in, lanes]

constexpr int kMR = 6;         // output rows per micro-kernel
constexpr uint64_t kNR = 16;   // batch lanes per micro-kernel (one packed panel)
constexpr uint64_t kKC = 256;  // reduction block
constexpr uint64_t kMC = 96;   // output rows per block (W block kMC × kKC stays in L2)

/**
 * c[r * ldc + l] += sum_i a[i * 6 + r] * xp[i * 16 + l] for r < kMR, l < 16, i < kc: a is a
 * packed 6-row panel of W, xp a packed 16-lane panel of x.
 */
void denseMicro(const float* a, const float* xp, uint64_t kc, float* c, uint64_t ldc) {
#ifdef SL_AVX2
  __m256 c00 = _mm256_loadu_ps(c), c01 = _mm256_loadu_ps(c + 8);
  __m256 c10 = _mm256_loadu_ps(c + ldc), c11 = _mm256_loadu_ps(c + ldc + 8);
  __m256 c20 = _mm256_loadu_ps(c + 2 * ldc), c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
  __m256 c30 = _mm256_loadu_ps(c + 3 * ldc), c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
  __m256 c40 = _mm256_loadu_ps(c + 4 * ldc), c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
  __m256 c50 = _mm256_loadu_ps(c + 5 * ldc), c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
  for (uint64_t i = 0; i < kc; i++) {
    const __m256 x0 = _mm256_load_ps(xp + 16 * i), x1 = _mm256_load_ps(xp + 16 * i + 8);
    const float* ai = a + 6 * i;
    __m256 b = _mm256_broadcast_ss(ai);
    c00 = _mm256_fmadd_ps(b, x0, c00);
    c01 = _mm256_fmadd_ps(b, x1, c01);
    b = _mm256_broadcast_ss(ai + 1);
    c10 = _mm256_fmadd_ps(b, x0, c10);
    c11 = _mm256_fmadd_ps(b, x1, c11);
    b = _mm256_broadcast_ss(ai + 2);
    c20 = _mm256_fmadd_ps(b, x0, c20);
    c21 = _mm256_fmadd_ps(b, x1, c21);
    b = _mm256_broadcast_ss(ai + 3);
    c30 = _mm256_fmadd_ps(b, x0, c30);
    c31 = _mm256_fmadd_ps(b, x1, c31);
    b = _mm256_broadcast_ss(ai + 4);
    c40 = _mm256_fmadd_ps(b, x0, c40);
    c41 = _mm256_fmadd_ps(b, x1, c41);
    b = _mm256_broadcast_ss(ai + 5);
    c50 = _mm256_fmadd_ps(b, x0, c50);
    c51 = _mm256_fmadd_ps(b, x1, c51);
  }
  _mm256_storeu_ps(c, c00);
  _mm256_storeu_ps(c + 8, c01);
  _mm256_storeu_ps(c + ldc, c10);
  _mm256_storeu_ps(c + ldc + 8, c11);
  _mm256_storeu_ps(c + 2 * ldc, c20);
  _mm256_storeu_ps(c + 2 * ldc + 8, c21);
  _mm256_storeu_ps(c + 3 * ldc, c30);
  _mm256_storeu_ps(c + 3 * ldc + 8, c31);
  _mm256_storeu_ps(c + 4 * ldc, c40);
  _mm256_storeu_ps(c + 4 * ldc + 8, c41);
  _mm256_storeu_ps(c + 5 * ldc, c50);
  _mm256_storeu_ps(c + 5 * ldc + 8, c51);
#else
  float acc[kMR][16];
  for (int r = 0; r < kMR; r++)
    for (int l = 0; l < 16; l++) acc[r][l] = c[r * ldc + l];
  for (uint64_t i = 0; i < kc; i++) {
    for (int r = 0; r < kMR; r++) {
      const float b = a[6 * i + r];
      for (int l = 0; l < 16; l++) acc[r][l] += b * xp[16 * i + l];
    }
  }
  for (int r = 0; r < kMR; r++)
    for (int l = 0; l < 16; l++) c[r * ldc + l] = acc[r][l];
#endif
}

/** 32-byte aligned float storage. */
struct AlignedFloats {
  std::vector<float> raw;
  float* p = nullptr;
  explicit AlignedFloats(size_t n) : raw(n + 8) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(raw.data());
    p = raw.data() + ((32 - (a & 31)) & 31) / sizeof(float);
  }
};

}  // namespace

void condensedForwardKernel(uint64_t outF, uint64_t inF, uint64_t k, const int32_t* activeRows, uint64_t nActive,
                            const float* values, const int32_t* indices, const float* bias, const float* x, uint64_t batch,
                            unsigned threads, float* y) {
  if (batch == 0 || outF == 0) return;
  if (bias) {
    for (uint64_t b = 0; b < batch; b++) std::memcpy(y + b * outF, bias, size_t(outF) * sizeof(float));
  }
  if (nActive == 0 || k == 0) return;
  const uint64_t macs = batch * nActive * k;
  if (batch < 4) {
    // Rows in blocks claimed dynamically (threads of a VM rarely run at the same speed), each claim
    // a share of what is left (at least kRowBlock rows): a few claims per thread and call, where
    // one per 16 rows meant 48 atomics on a line both cores write, for a 768-row layer. Each
    // row's indices are checked before x is read: a block's first row by a pass of its own, each
    // further row while the row before it runs.
    const unsigned T = forwardThreads(threads, macs, nActive);
    constexpr uint64_t kRowBlock = 16;
    std::atomic<uint64_t> next{0};
    parallelRun(T, [&](unsigned) {
      for (;;) {
        uint64_t a0 = next.load(std::memory_order_relaxed), a1;
        do {
          if (a0 >= nActive) return;
          a1 = T == 1 ? nActive : std::min(nActive, a0 + std::max(kRowBlock, (nActive - a0) / (2 * T)));
        } while (!next.compare_exchange_weak(a0, a1, std::memory_order_relaxed));
        if (maxAsUnsigned(indices + a0 * k, size_t(k)) >= inF) checkIndices(indices, a0 * k, k, inF);
        for (uint64_t a = a0; a < a1; a++) {
          const int32_t* ix = indices + a * k;
          const float* v = values + a * k;
          const uint64_t row = uint64_t(activeRows[a]);
          const float bv = bias ? bias[row] : 0.0f;
          if (a + 1 < a1) {
            uint32_t nextMax = 0;
            y[row] = bv + sparseDotCheckNext(v, ix, x, size_t(k), ix + k, nextMax);
            for (uint64_t b = 1; b < batch; b++) y[b * outF + row] = bv + sparseDot(v, ix, x + b * inF, size_t(k));
            if (nextMax >= inF) checkIndices(indices, (a + 1) * k, k, inF);
          } else {
            for (uint64_t b = 0; b < batch; b++) y[b * outF + row] = bv + sparseDot(v, ix, x + b * inF, size_t(k));
          }
        }
      }
    });
    return;
  }
  // Batches: lanes of 32 batch rows at a time. A tile holds x transposed, [inF][32] (fits L2), so
  // every non-zero of a row costs one broadcast and 4 vector FMAs over contiguous lanes.
  const unsigned T = forwardThreads(threads, macs, nActive);
  parallelRun(T, [&](unsigned t) {
    const uint64_t a0 = splitAt(nActive, T, t), a1 = splitAt(nActive, T, t + 1);
    checkIndices(indices, a0 * k, (a1 - a0) * k, inF);
  });
  const uint64_t tiles = (batch + kLaneTile - 1) / kLaneTile;
  auto buildTile = [&](uint64_t tile, float* xt) {
    const uint64_t b0 = tile * kLaneTile, width = std::min(kLaneTile, batch - b0);
    transposeRows(x + b0 * inF, width, inF, kLaneTile, 0, inF, xt);
  };
  auto runTile = [&](uint64_t tile, const float* xt, uint64_t a0, uint64_t a1) {
    const uint64_t b0 = tile * kLaneTile, width = std::min(kLaneTile, batch - b0);
    const TileFn fn = kCondensedTiles[(width + 7) / 8];
    alignas(32) float out[kLaneTile];
    for (uint64_t a = a0; a < a1; a++) {
      fn(values + a * k, indices + a * k, k, xt, kLaneTile, out);
      const uint64_t row = uint64_t(activeRows[a]);
      const float bv = bias ? bias[row] : 0.0f;
      float* yp = y + b0 * outF + row;
      for (uint64_t l = 0; l < width; l++) yp[l * outF] = bv + out[l];
    }
  };
  if (tiles >= T) {
    parallelRun(T, [&](unsigned t) {
      AlignedFloats xt(size_t(inF * kLaneTile));
      for (uint64_t tile = t; tile < tiles; tile += T) {
        buildTile(tile, xt.p);
        runTile(tile, xt.p, 0, nActive);
      }
    });
  } else {
    AlignedFloats xt(size_t(inF * kLaneTile));
    for (uint64_t tile = 0; tile < tiles; tile++) {
      buildTile(tile, xt.p);
      parallelRun(T, [&](unsigned t) { runTile(tile, xt.p, splitAt(nActive, T, t), splitAt(nActive, T, t + 1)); });
    }
  }
}

void denseForwardKernel(const float* w, const float* bias, uint64_t outF, uint64_t inF, const float* x, uint64_t batch,
                        unsigned threads, float* y) {
  if (batch == 0 || outF == 0) return;
  const uint64_t macs = batch * outF * inF;
  if (batch < 4 || inF == 0) {
    const unsigned T = forwardThreads(threads, macs, outF);
    parallelRun(T, [&](unsigned t) {
      const uint64_t o0 = splitAt(outF, T, t), o1 = splitAt(outF, T, t + 1);
      for (uint64_t o = o0; o < o1; o++) {
        const float bv = bias ? bias[o] : 0.0f;
        for (uint64_t b = 0; b < batch; b++) y[b * outF + o] = bv + denseDot(w + o * inF, x + b * inF, size_t(inF));
      }
    });
    return;
  }
  // Pack x into panels of 16 lanes: xp[p][i][16].
  const uint64_t panels = (batch + kNR - 1) / kNR;
  const uint64_t ldc = panels * kNR;
  AlignedFloats xp(size_t(panels * inF * kNR));
  AlignedFloats yT(size_t(outF * ldc));
  const unsigned T = forwardThreads(threads, macs, (outF + kMR - 1) / kMR);
  parallelRun(T, [&](unsigned t) {
    const uint64_t i0 = splitAt(inF, T, t), i1 = splitAt(inF, T, t + 1);
    for (uint64_t p = 0; p < panels; p++) {
      float* dst = xp.p + p * inF * kNR;
      for (uint64_t i = i0; i < i1; i++) {
        for (uint64_t l = 0; l < kNR; l++) {
          const uint64_t b = p * kNR + l;
          dst[i * kNR + l] = b < batch ? x[b * inF + i] : 0.0f;
        }
      }
    }
    const uint64_t o0 = splitAt(outF, T, t), o1 = splitAt(outF, T, t + 1);
    for (uint64_t o = o0; o < o1; o++) {
      const float bv = bias ? bias[o] : 0.0f;
      for (uint64_t l = 0; l < ldc; l++) yT.p[o * ldc + l] = bv;
    }
  });
  parallelRun(T, [&](unsigned t) {
    const uint64_t o0 = splitAt(outF, T, t, kMR), o1 = splitAt(outF, T, t + 1, kMR);
    AlignedFloats wp(size_t(kMC * kKC));     // W block packed in 6-row panels: [panel][i][6]
    alignas(32) float edge[kMR * kNR];       // C rows past the end of W
    for (uint64_t kc0 = 0; kc0 < inF; kc0 += kKC) {
      const uint64_t kc = std::min(kKC, inF - kc0);
      for (uint64_t m0 = o0; m0 < o1; m0 += kMC) {
        const uint64_t m1 = std::min(o1, m0 + kMC);
        for (uint64_t o = m0; o < m1; o += kMR) {
          float* dst = wp.p + (o - m0) * kc;
          for (uint64_t i = 0; i < kc; i++) {
            for (uint64_t r = 0; r < uint64_t(kMR); r++) dst[i * kMR + r] = o + r < m1 ? w[(o + r) * inF + kc0 + i] : 0.0f;
          }
        }
        for (uint64_t p = 0; p < panels; p++) {
          const float* xpp = xp.p + p * inF * kNR + kc0 * kNR;
          for (uint64_t o = m0; o < m1; o += kMR) {
            const float* a = wp.p + (o - m0) * kc;
            float* c = yT.p + o * ldc + p * kNR;
            const uint64_t mr = std::min<uint64_t>(kMR, m1 - o);
            if (mr == uint64_t(kMR)) {
              denseMicro(a, xpp, kc, c, ldc);
            } else {
              for (uint64_t r = 0; r < uint64_t(kMR); r++)
                for (uint64_t l = 0; l < kNR; l++) edge[r * kNR + l] = r < mr ? c[r * ldc + l] : 0.0f;
              denseMicro(a, xpp, kc, edge, kNR);
              for (uint64_t r = 0; r < mr; r++)
                for (uint64_t l = 0; l < kNR; l++) c[r * ldc + l] = edge[r * kNR + l];
            }
          }
        }
      }
    }
  });
  // y[b, o] = yT[o, b]
  const unsigned T2 = forwardThreads(threads, batch * outF * 64, batch);
  parallelRun(T2, [&](unsigned t) {
    const uint64_t b0 = splitAt(batch, T2, t), b1 = splitAt(batch, T2, t + 1);
    constexpr uint64_t kBlock = 64;
    for (uint64_t ob = 0; ob < outF; ob += kBlock) {
      const uint64_t oe = std::min(outF, ob + kBlock);
      for (uint64_t b = b0; b < b1; b++)
        for (uint64_t o = ob; o < oe; o++) y[b * outF + o] = yT.p[o * ldc + b];
    }
  });
}

}  // namespace sl
