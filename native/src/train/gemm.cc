// Dense and sparse matrix products of the training engine (gemm.h).
//
// The float GEMM is blocked the BLIS way: op(B) is packed in KC × NC blocks of NR-wide strips, op(A)
// in MC × KC blocks of MR-tall strips (or read in place when C has only a few columns), and a
// MR × NR micro-kernel keeps a tile of C in registers.
// Threads own disjoint column (or row) ranges of C and run the whole blocked loop on them, so every
// element of C is summed in the same order whatever the thread count: results are bit-identical.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "../pool.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SL_TRAIN_AVX2 1
#endif

#if defined(_MSC_VER)
#define SL_NOINLINE __declspec(noinline)
#else
#define SL_NOINLINE __attribute__((noinline))
#endif

namespace sl::train {

namespace {

constexpr int64_t MR = 6, NR = 16;                // micro-tile: 12 accumulators of 8 floats
constexpr int64_t KC = 256, MC = 144, NC = 3072;  // A block in L2, B strip in L1, B block in L3
/**
 * Up to this many NR-wide column strips, op(A) is read in place instead of packed: packing costs
 * about as much as one strip's multiply-adds. Measured: a 512 × 512 weight times 16 columns (a conv
 * over 1×1 maps) 2× faster in place, 64 columns ~10 % faster; packing wins on large products.
 */
constexpr int64_t kMaxUnpackedStrips = 4;
// Below these amounts of work a product runs on one thread: waking another costs more than it
// saves. Measured on 2 cores with training steps (bench/train.bench.ts): a digits MLP step (products
// of 0.2M to 4M multiply-adds) was no faster with its products under 1M (dense) or 2M (sparse)
// split, and slower as soon as another process wanted a core.
/** Multiply-adds of a dense product. */
constexpr int64_t kMinParallelMacs = int64_t(1) << 20;
/** Multiply-adds of a sparse product (nnz · n). */
constexpr int64_t kMinParallelSparseMacs = int64_t(1) << 21;
/** Values of a transpose. */
constexpr int64_t kMinParallelTranspose = int64_t(1) << 20;

/** A 64-byte aligned scratch buffer that only grows (one per thread, kept between calls). */
class ScratchBuffer {
 public:
  float* get(int64_t count) {
    if (count > capacity_) {
      const size_t bytes = (size_t(count) * sizeof(float) + 63) / 64 * 64;
      data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
      if (!data_) throw std::bad_alloc();
      capacity_ = count;
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  int64_t capacity_ = 0;
};

/** Splits [0, n) into `parts` ranges whose boundaries are multiples of `align`: the start of range `part`. */
int64_t splitPoint(int64_t n, int64_t parts, int64_t part, int64_t align) {
  if (part >= parts) return n;
  const int64_t units = (n + align - 1) / align;
  return std::min(n, units * part / parts * align);
}

/** The threads for `work` split in `units` pieces: 1 below `minWork`. */
unsigned productThreads(unsigned requested, int64_t work, int64_t minWork, int64_t units) {
  if (work < minWork) return 1;
  return resolveThreads(requested, uint64_t(std::max<int64_t>(1, units)));
}

// ---------------------------------------------------------------------------------------------
// Packing

/** op(A)[i0.., p0..] (mc × kc) as MR-row strips: strip s holds, for each k, its MR values (rows past mc are 0). */
void packA(bool transA, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* Ap) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int64_t rows = std::min(MR, mc - ir);
    float* dst = Ap + ir * kc;
    if (!transA) {
      for (int64_t i = 0; i < rows; i++) {
        const float* src = A + (i0 + ir + i) * lda + p0;
        for (int64_t k = 0; k < kc; k++) dst[k * MR + i] = src[k];
      }
    } else {
      for (int64_t k = 0; k < kc; k++) {
        const float* src = A + (p0 + k) * lda + i0 + ir;
        for (int64_t i = 0; i < rows; i++) dst[k * MR + i] = src[i];
      }
    }
    for (int64_t i = rows; i < MR; i++)
      for (int64_t k = 0; k < kc; k++) dst[k * MR + i] = 0;
  }
}

#ifdef SL_TRAIN_AVX2
/** dst[c * ldd + r] = src[r * lds + c] for an 8 × 8 block. */
inline void transpose8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int i = 0; i < 4; i++) {
    _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}
#endif

/** op(B)[p0.., j0..] (kc × nc) as NR-column strips: strip s holds, for each k, its NR values (columns past nc are 0). */
void packB(bool transB, const float* B, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* Bp) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int64_t cols = std::min(NR, nc - jr);
    float* dst = Bp + jr * kc;
    if (!transB) {
      for (int64_t k = 0; k < kc; k++) {
        const float* src = B + (p0 + k) * ldb + j0 + jr;
        if (cols == NR) {
          // A constant size: a few vector moves (a variable one becomes `rep movs`, slow for 64 bytes).
          std::memcpy(dst + k * NR, src, NR * sizeof(float));
        } else {
          std::memcpy(dst + k * NR, src, size_t(cols) * sizeof(float));
          for (int64_t j = cols; j < NR; j++) dst[k * NR + j] = 0;
        }
      }
    } else {
      int64_t j = 0;
#ifdef SL_TRAIN_AVX2
      for (; j + 8 <= cols; j += 8) {
        const float* src = B + (j0 + jr + j) * ldb + p0;
        int64_t k = 0;
        for (; k + 8 <= kc; k += 8) transpose8x8(src + k, ldb, dst + k * NR + j, NR);
        for (; k < kc; k++)
          for (int64_t jj = 0; jj < 8; jj++) dst[k * NR + j + jj] = src[jj * ldb + k];
      }
#endif
      for (; j < cols; j++) {
        const float* src = B + (j0 + jr + j) * ldb + p0;
        for (int64_t k = 0; k < kc; k++) dst[k * NR + j] = src[k];
      }
      for (j = cols; j < NR; j++)
        for (int64_t k = 0; k < kc; k++) dst[k * NR + j] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Micro-kernel: acc = A strip · Bp over kc, then C = alpha·acc + (first block ? beta·C : C)

/** An MR × kc strip of op(A) as the micro-kernel reads it: element (i, k) at a[i·rs + k·cs]. Packed: rs 1, cs MR. */
struct AStrip {
  const float* a;
  int64_t rs, cs;
};

/** Writes a finished MR × NR tile (acc, row-major) into C's rows × cols corner. */
inline void storeTile(const float* acc, float* C, int64_t ldc, int64_t rows, int64_t cols, float alpha, float beta, bool first) {
  for (int64_t i = 0; i < rows; i++) {
    float* c = C + i * ldc;
    const float* a = acc + i * NR;
    if (!first) {
      for (int64_t j = 0; j < cols; j++) c[j] = alpha * a[j] + c[j];
    } else if (beta == 0) {
      for (int64_t j = 0; j < cols; j++) c[j] = alpha * a[j];  // C is not read: it may hold anything
    } else {
      for (int64_t j = 0; j < cols; j++) c[j] = alpha * a[j] + beta * c[j];
    }
  }
}

#ifdef SL_TRAIN_AVX2
inline __m256 combine(__m256 acc, const float* c, __m256 alpha, __m256 beta, bool first, bool betaZero) {
  const __m256 scaled = _mm256_mul_ps(alpha, acc);
  if (!first) return _mm256_add_ps(scaled, _mm256_loadu_ps(c));
  if (betaZero) return scaled;
  return _mm256_add_ps(scaled, _mm256_mul_ps(beta, _mm256_loadu_ps(c)));
}

// Out of line: inlined into gemmBlock, its loop ran ~15 % slower on large products (measured).
template <bool kPacked>
SL_NOINLINE void microKernel(int64_t kc, const AStrip& A, const float* Bp, float* C, int64_t ldc, int64_t rows, int64_t cols,
                             float alpha, float beta, bool first) {
  // Packed: the strides are constants. Not packed: rows past `rows` read row rows − 1 (never past op(A)).
  const int64_t rs = kPacked ? 1 : A.rs, cs = kPacked ? MR : A.cs;
  const float* a0 = A.a;
  const float* a1 = A.a + (kPacked ? 1 : std::min<int64_t>(1, rows - 1)) * rs;
  const float* a2 = A.a + (kPacked ? 2 : std::min<int64_t>(2, rows - 1)) * rs;
  const float* a3 = A.a + (kPacked ? 3 : std::min<int64_t>(3, rows - 1)) * rs;
  const float* a4 = A.a + (kPacked ? 4 : std::min<int64_t>(4, rows - 1)) * rs;
  const float* a5 = A.a + (kPacked ? 5 : std::min<int64_t>(5, rows - 1)) * rs;
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; k++, a0 += cs, a1 += cs, a2 += cs, a3 += cs, a4 += cs, a5 += cs, Bp += NR) {
    const __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
    __m256 a = _mm256_broadcast_ss(a0);
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(a1);
    c10 = _mm256_fmadd_ps(a, b0, c10);
    c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(a2);
    c20 = _mm256_fmadd_ps(a, b0, c20);
    c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(a3);
    c30 = _mm256_fmadd_ps(a, b0, c30);
    c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(a4);
    c40 = _mm256_fmadd_ps(a, b0, c40);
    c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(a5);
    c50 = _mm256_fmadd_ps(a, b0, c50);
    c51 = _mm256_fmadd_ps(a, b1, c51);
  }
  const __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (rows == MR && cols == NR) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int64_t i = 0; i < MR; i++) {
      float* c = C + i * ldc;
      _mm256_storeu_ps(c, combine(acc[i][0], c, va, vb, first, beta == 0));
      _mm256_storeu_ps(c + 8, combine(acc[i][1], c + 8, va, vb, first, beta == 0));
    }
    return;
  }
  alignas(32) float tile[MR * NR];
  for (int64_t i = 0; i < MR; i++) {
    _mm256_store_ps(tile + i * NR, acc[i][0]);
    _mm256_store_ps(tile + i * NR + 8, acc[i][1]);
  }
  storeTile(tile, C, ldc, rows, cols, alpha, beta, first);
}
#else
template <bool kPacked>
void microKernel(int64_t kc, const AStrip& A, const float* Bp, float* C, int64_t ldc, int64_t rows, int64_t cols, float alpha,
                 float beta, bool first) {
  float tile[MR * NR] = {};
  for (int64_t k = 0; k < kc; k++, Bp += NR)
    for (int64_t i = 0; i < rows; i++)
      for (int64_t j = 0; j < NR; j++) tile[i * NR + j] += A.a[i * A.rs + k * A.cs] * Bp[j];
  storeTile(tile, C, ldc, rows, cols, alpha, beta, first);
}
#endif

/** C[i0..i1, j0..j1] of the product, on the calling thread. */
void gemmBlock(bool transA, bool transB, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  thread_local ScratchBuffer aBuffer, bBuffer;
  float* Ap = aBuffer.get(MC * KC);
  float* Bp = bBuffer.get(KC * (NC + NR));
  for (int64_t jc = j0; jc < j1; jc += NC) {
    const int64_t nc = std::min(NC, j1 - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      packB(transB, B, ldb, pc, kc, jc, nc, Bp);
      // op(A)'s block serves every NR-wide strip of the columns: with a few strips, packing it would
      // cost about what it saves, so the micro-kernel reads it where it is.
      const bool pack = (nc + NR - 1) / NR > kMaxUnpackedStrips;
      for (int64_t ic = i0; ic < i1; ic += MC) {
        const int64_t mc = std::min(MC, i1 - ic);
        if (pack) packA(transA, A, lda, ic, mc, pc, kc, Ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t rows = std::min(MR, mc - ir), cols = std::min(NR, nc - jr);
            float* c = C + (ic + ir) * ldc + jc + jr;
            if (pack) {
              microKernel<true>(kc, AStrip{Ap + ir * kc, 1, MR}, Bp + jr * kc, c, ldc, rows, cols, alpha, beta, pc == 0);
            } else {
              const int64_t i = ic + ir;
              const AStrip strip = transA ? AStrip{A + pc * lda + i, 1, lda} : AStrip{A + i * lda + pc, lda, 1};
              microKernel<false>(kc, strip, Bp + jr * kc, c, ldc, rows, cols, alpha, beta, pc == 0);
            }
          }
        }
      }
    }
  }
}

/** C = beta·C (beta 0: C = 0 without reading it), for an empty inner dimension. */
template <typename T> void scaleC(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0 ? T(0) : beta * C[i * ldc + j];
}

// ---------------------------------------------------------------------------------------------
// Sparse products, float: vectorised over the n columns of X, a tile of lanes held in registers.

/** Rows [0, rows) split into `parts` ranges of about equal nnz (`start` = row offsets): the first row of `part`. */
int64_t rowSplit(const std::vector<int64_t>& start, int64_t rows, int64_t parts, int64_t part) {
  if (part >= parts) return rows;
  const int64_t target = start[size_t(rows)] * part / parts;
  return int64_t(std::lower_bound(start.begin(), start.begin() + rows, target) - start.begin());
}

constexpr int64_t kLaneTile = 64;  // lanes per register tile: 8 accumulators of 8 floats
constexpr int64_t kPrefetch = 8;   // positions ahead whose row of X is requested early

/** Y[r, j0..j0 + 8·NV) = Σ_t w[t] · X[index[t], same lanes] over t in [start[r], start[r+1]), rows [r0, r1). */
template <int NV>
inline void gatherRowsTile(const int64_t* start, const int32_t* index, const float* w, int64_t r0, int64_t r1, const float* X,
                           int64_t n, int64_t j0, float* Y) {
#ifdef SL_TRAIN_AVX2
  const int64_t end = start[r1];
  for (int64_t r = r0; r < r1; r++) {
    __m256 acc[NV];
    for (int q = 0; q < NV; q++) acc[q] = _mm256_setzero_ps();
    for (int64_t t = start[r]; t < start[r + 1]; t++) {
      // The rows are scattered: ask for the one kPrefetch positions ahead now.
      if (t + kPrefetch < end) {
        const char* ahead = reinterpret_cast<const char*>(X + int64_t(index[t + kPrefetch]) * n + j0);
        for (int line = 0; line < NV * 32; line += 64) _mm_prefetch(ahead + line, _MM_HINT_T0);
      }
      const __m256 wt = _mm256_set1_ps(w[t]);
      const float* x = X + int64_t(index[t]) * n + j0;
      for (int q = 0; q < NV; q++) acc[q] = _mm256_fmadd_ps(wt, _mm256_loadu_ps(x + 8 * q), acc[q]);
    }
    for (int q = 0; q < NV; q++) _mm256_storeu_ps(Y + r * n + j0 + 8 * q, acc[q]);
  }
#else
  for (int64_t r = r0; r < r1; r++) {
    float acc[NV * 8] = {};
    for (int64_t t = start[r]; t < start[r + 1]; t++) {
      const float wt = w[t];
      const float* x = X + int64_t(index[t]) * n + j0;
      for (int q = 0; q < NV * 8; q++) acc[q] += wt * x[q];
    }
    std::memcpy(Y + r * n + j0, acc, sizeof(acc));
  }
#endif
}

void gatherRowsScalar(const int64_t* start, const int32_t* index, const float* w, int64_t r0, int64_t r1, const float* X,
                      int64_t n, int64_t j0, int64_t j1, float* Y) {
  for (int64_t r = r0; r < r1; r++) {
    for (int64_t j = j0; j < j1; j++) {
      float acc = 0;
      for (int64_t t = start[r]; t < start[r + 1]; t++) acc += w[t] * X[int64_t(index[t]) * n + j];
      Y[r * n + j] = acc;
    }
  }
}

/** Lanes [j0, j1) of rows [r0, r1): full tiles in registers, then the tail. */
void gatherRows(const int64_t* start, const int32_t* index, const float* w, int64_t r0, int64_t r1, const float* X, int64_t n,
                int64_t j0, int64_t j1, float* Y) {
  int64_t j = j0;
  for (; j + kLaneTile <= j1; j += kLaneTile) gatherRowsTile<8>(start, index, w, r0, r1, X, n, j, Y);
  for (; j + 8 <= j1; j += 8) gatherRowsTile<1>(start, index, w, r0, r1, X, n, j, Y);
  if (j < j1) gatherRowsScalar(start, index, w, r0, r1, X, n, j, j1, Y);
}

/**
 * Y = (gathered rows) over all rows and lanes, threaded race-free: by lane tiles when there are
 * enough of them (each thread streams a narrow slice of X, which stays in its cache), else by rows
 * of equal nnz. Each element of Y is summed in the same order either way.
 */
void gatherProduct(const std::vector<int64_t>& start, const int32_t* index, const float* w, int64_t rows, const float* X,
                   int64_t n, float* Y, unsigned threads) {
  const int64_t nnz = start[size_t(rows)];
  const int64_t laneTiles = (n + kLaneTile - 1) / kLaneTile;
  const unsigned T = productThreads(threads, nnz * n, kMinParallelSparseMacs, std::max<int64_t>(laneTiles, rows));
  if (T > 1 && laneTiles >= int64_t(T)) {
    parallelRun(T, [&](unsigned t) {
      const int64_t j0 = splitPoint(n, T, t, kLaneTile), j1 = splitPoint(n, T, t + 1, kLaneTile);
      gatherRows(start.data(), index, w, 0, rows, X, n, j0, j1, Y);
    });
    return;
  }
  parallelRun(T, [&](unsigned t) {
    gatherRows(start.data(), index, w, rowSplit(start, rows, T, t), rowSplit(start, rows, T, t + 1), X, n, 0, n, Y);
  });
}

/** Σ_j a[j]·b[j] for 4 rows b0..b3 against one row a, n long: out[0..3]. */
inline void dot4(const float* a, const float* b0, const float* b1, const float* b2, const float* b3, int64_t n, float* out) {
  int64_t j = 0;
#ifdef SL_TRAIN_AVX2
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  for (; j + 8 <= n; j += 8) {
    const __m256 x = _mm256_loadu_ps(a + j);
    s0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b0 + j), s0);
    s1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b1 + j), s1);
    s2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b2 + j), s2);
    s3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(b3 + j), s3);
  }
  // One transposing reduction for the four sums: lanes (s0, s1, s2, s3) of a 128-bit vector.
  const __m256 h01 = _mm256_hadd_ps(s0, s1), h23 = _mm256_hadd_ps(s2, s3);
  const __m256 h = _mm256_hadd_ps(h01, h23);
  _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
#else
  out[0] = out[1] = out[2] = out[3] = 0;
#endif
  for (; j < n; j++) {
    out[0] += a[j] * b0[j];
    out[1] += a[j] * b1[j];
    out[2] += a[j] * b2[j];
    out[3] += a[j] * b3[j];
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// gemm

template <>
void gemm<float>(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, unsigned threads) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return scaleC(M, N, beta, C, ldc);
  const int64_t rowTiles = (M + MR - 1) / MR, colTiles = (N + NR - 1) / NR;
  const bool splitColumns = colTiles >= rowTiles;
  const unsigned T = productThreads(threads, M * N * K, kMinParallelMacs, splitColumns ? colTiles : rowTiles);
  parallelRun(T, [&](unsigned t) {
    if (splitColumns) {
      const int64_t j0 = splitPoint(N, T, t, NR), j1 = splitPoint(N, T, t + 1, NR);
      if (j0 < j1) gemmBlock(transA, transB, 0, M, j0, j1, K, alpha, A, lda, B, ldb, beta, C, ldc);
    } else {
      const int64_t i0 = splitPoint(M, T, t, MR), i1 = splitPoint(M, T, t + 1, MR);
      if (i0 < i1) gemmBlock(transA, transB, i0, i1, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
  });
}

template <>
void gemm<double>(bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                  const double* B, int64_t ldb, double beta, double* C, int64_t ldc, unsigned) {
  for (int64_t i = 0; i < M; i++) {
    for (int64_t j = 0; j < N; j++) {
      double sum = 0;
      for (int64_t k = 0; k < K; k++)
        sum += (transA ? A[k * lda + i] : A[i * lda + k]) * (transB ? B[j * ldb + k] : B[k * ldb + j]);
      C[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * C[i * ldc + j]);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Transpose

template <> void transpose<float>(const float* src, int64_t rows, int64_t cols, float* dst, unsigned threads) {
  constexpr int64_t kTile = 64;
  // Threads own bands of source columns, so each writes its own rows of dst.
  const unsigned T = productThreads(threads, rows * cols, kMinParallelTranspose, (cols + kTile - 1) / kTile);
  parallelRun(T, [&](unsigned part) {
    const int64_t first = splitPoint(cols, T, part, kTile), last = splitPoint(cols, T, part + 1, kTile);
    for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
      for (int64_t c0 = first; c0 < last; c0 += kTile) {
        const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(last, c0 + kTile);
        int64_t r = r0;
#ifdef SL_TRAIN_AVX2
        for (; r + 8 <= r1; r += 8) {
          int64_t c = c0;
          for (; c + 8 <= c1; c += 8) transpose8x8(src + r * cols + c, cols, dst + c * rows + r, rows);
          for (; c < c1; c++)
            for (int64_t i = 0; i < 8; i++) dst[c * rows + r + i] = src[(r + i) * cols + c];
        }
#endif
        for (; r < r1; r++)
          for (int64_t c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c];
      }
    }
  });
}

template <> void transpose<double>(const double* src, int64_t rows, int64_t cols, double* dst, unsigned) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) dst[c * rows + r] = src[r * cols + c];
}

// ---------------------------------------------------------------------------------------------
// Sparse products

template <>
void sparseTimes<float>(const SparseLayout& L, const float* w, const float* X, int64_t n, float* Y, unsigned threads) {
  gatherProduct(L.rowStart, L.colIndex.data(), w, L.rows, X, n, Y, threads);
}

template <>
void sparseTransposeTimes<float>(const SparseLayout& L, const float* w, const float* dY, int64_t n, float* dX, unsigned threads) {
  // Column by column: each dX row is a gather of dY rows, so no thread writes where another does.
  // The values in column order first: a gather of nnz, next to the nnz · n multiply-adds.
  thread_local ScratchBuffer columnValues;
  float* wT = columnValues.get(std::max<int64_t>(1, L.nnz()));
  for (int64_t e = 0; e < L.nnz(); e++) wT[e] = w[L.valueIndex[size_t(e)]];
  gatherProduct(L.colStart, L.rowIndex.data(), wT, L.cols, dY, n, dX, threads);
}

template <>
void sparseWeightGrad<float>(const SparseLayout& L, const float* dY, const float* X, int64_t n, float* dw, unsigned threads) {
  const unsigned T = productThreads(threads, L.nnz() * n, kMinParallelSparseMacs, L.rows);
  parallelRun(T, [&](unsigned part) {
    const int64_t r0 = rowSplit(L.rowStart, L.rows, T, part), r1 = rowSplit(L.rowStart, L.rows, T, part + 1);
    for (int64_t r = r0; r < r1; r++) {
      const float* d = dY + r * n;
      const int64_t end = L.rowStart[size_t(r) + 1];
      int64_t t = L.rowStart[size_t(r)];
      const int32_t* col = L.colIndex.data();
      for (; t + 4 <= end; t += 4) {
        dot4(d, X + int64_t(col[t]) * n, X + int64_t(col[t + 1]) * n, X + int64_t(col[t + 2]) * n, X + int64_t(col[t + 3]) * n, n,
             dw + t);
      }
      for (; t < end; t++) {
        float out[4];
        const float* x = X + int64_t(col[t]) * n;
        dot4(d, x, x, x, x, n, out);
        dw[t] = out[0];
      }
    }
  });
}

template <> void sparseTimes<double>(const SparseLayout& L, const double* w, const double* X, int64_t n, double* Y, unsigned) {
  for (int64_t r = 0; r < L.rows; r++) {
    for (int64_t j = 0; j < n; j++) {
      double acc = 0;
      for (int64_t t = L.rowStart[size_t(r)]; t < L.rowStart[size_t(r) + 1]; t++)
        acc += w[t] * X[int64_t(L.colIndex[size_t(t)]) * n + j];
      Y[r * n + j] = acc;
    }
  }
}

template <>
void sparseTransposeTimes<double>(const SparseLayout& L, const double* w, const double* dY, int64_t n, double* dX, unsigned) {
  std::fill(dX, dX + L.cols * n, 0.0);
  for (int64_t r = 0; r < L.rows; r++) {
    for (int64_t t = L.rowStart[size_t(r)]; t < L.rowStart[size_t(r) + 1]; t++) {
      double* x = dX + int64_t(L.colIndex[size_t(t)]) * n;
      for (int64_t j = 0; j < n; j++) x[j] += w[t] * dY[r * n + j];
    }
  }
}

template <>
void sparseWeightGrad<double>(const SparseLayout& L, const double* dY, const double* X, int64_t n, double* dw, unsigned) {
  for (int64_t r = 0; r < L.rows; r++) {
    for (int64_t t = L.rowStart[size_t(r)]; t < L.rowStart[size_t(r) + 1]; t++) {
      double acc = 0;
      for (int64_t j = 0; j < n; j++) acc += dY[r * n + j] * X[int64_t(L.colIndex[size_t(t)]) * n + j];
      dw[t] = acc;
    }
  }
}

}  // namespace sl::train
