// Matrix products for the training engine. C = alpha · op(A) · op(B) + beta · C, row-major, where
// op(X) is X or Xᵀ. The float path is blocked and uses AVX2/FMA where the build has them (a portable
// loop otherwise), split over `threads` by a fixed partition, so a run is reproducible bit for bit
// on one machine. The double path (gradient checks) is a plain loop.
#pragma once

#include <cstdint>

#include "sparse_layout.h"

namespace sl::train {

template <typename T>
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc, unsigned threads);

/** dst[c · rows + r] = src[r · cols + c]: a rows × cols matrix transposed, in cache-sized tiles. */
template <typename T>
void transpose(const T* src, int64_t rows, int64_t cols, T* dst, unsigned threads);

// Sparse weight products, cost ∝ nnz. W is a SparseLayout with its active values `w` (nnz).
// X is [cols, n] (a column per sample or per output pixel), Y is [rows, n].

/** Y = W · X  (Y overwritten). */
template <typename T>
void sparseTimes(const SparseLayout& L, const T* w, const T* X, int64_t n, T* Y, unsigned threads);
/** dX = Wᵀ · dY  (dX [cols, n] overwritten). */
template <typename T>
void sparseTransposeTimes(const SparseLayout& L, const T* w, const T* dY, int64_t n, T* dX, unsigned threads);
/** dw[t] = Σ_j dY[row, j] · X[col(t), j] at the active positions only (dw [nnz] overwritten). */
template <typename T>
void sparseWeightGrad(const SparseLayout& L, const T* dY, const T* X, int64_t n, T* dw, unsigned threads);

}  // namespace sl::train
