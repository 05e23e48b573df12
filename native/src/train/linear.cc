// Gemm and MatMul, forward beside backward: dense through gemm, or through the sparse products
// when their weight (input 1) trains sparse. The sparse layout is over the logical [out, in] view
// of the weight: the stored order for Gemm with transB = 1, the transpose of the stored [in, out]
// for Gemm with transB = 0 and for MatMul (the session keeps such values in layout order).
#include "gemm.h"
#include "op.h"

namespace sl::train {

namespace {

/** Y = alpha · op(A) · op(B) + beta · C over an A of `rows` samples; C absent or broadcast to [rows, N]. */
struct LinearShape {
  bool transA = false, transB = false;
  int64_t M = 0, K = 0, N = 0;
  double alpha = 1, beta = 1;
  int64_t cRows = 0, cCols = 0;  // C's extent as broadcast: 1 or M rows, 1 or N columns (0: no C)
};

/** What the sparse path keeps between forward and backward. */
template <typename T> struct SparseLinearState : OpState {
  std::vector<T> xT;       // op(A)ᵀ: [K, M] (unused when A is stored that way already)
  std::vector<T> yT;       // [N, M]
  std::vector<T> product;  // Y without its bias: [M, N]
  std::vector<T> dyT;      // alpha · dYᵀ: [N, M]
  std::vector<T> dxT;      // [K, M]
};

/** The weight's [out, in] extent: N = out, K = in, from its stored shape. */
void weightExtent(const Node& node, const Shape& w, bool transB, int64_t& K, int64_t& N) {
  if (w.size() != 2) opError(node, "the weight (input 1) has shape " + shapeText(w) + "; a 2-D weight is supported");
  K = transB ? w[1] : w[0];
  N = transB ? w[0] : w[1];
}

template <typename T> void checkSparseLayout(const OpContext<T>& ctx, const LinearShape& s) {
  const SparseLayout& L = *ctx.sparseWeight;
  if (L.rows != s.N || L.cols != s.K || ctx.inputs[1]->size() != L.nnz()) {
    opError(ctx.node, "the sparse weight's layout (" + std::to_string(L.rows) + " × " + std::to_string(L.cols) + ", " +
                          std::to_string(L.nnz()) + " values) does not fit its shape " + shapeText(ctx.inputs[1]->shape) +
                          " holding " + std::to_string(ctx.inputs[1]->size()) + " values");
  }
}

/** C's broadcast to [M, N]: scalar, [N], [1, N], [M, 1] or [M, N] (ONNX's unidirectional broadcast). */
void biasExtent(const Node& node, const Shape& c, LinearShape& s) {
  const int64_t rows = c.size() == 2 ? c[0] : 1;
  const int64_t cols = c.empty() ? 1 : c.back();
  const bool fits = c.size() <= 2 && (rows == 1 || rows == s.M) && (cols == 1 || cols == s.N);
  if (!fits) {
    opError(node, "input 2 (C) has shape " + shapeText(c) + ", which does not broadcast to the output [" + std::to_string(s.M) +
                      ", " + std::to_string(s.N) + "]");
  }
  s.cRows = rows;
  s.cCols = cols;
}

/** Y [M, N] = beta · C broadcast (the product is added on top). */
template <typename T> void fillBias(const LinearShape& s, const T* c, T* y) {
  const T beta = T(s.beta);
  for (int64_t i = 0; i < s.M; i++) {
    const T* row = c + (s.cRows == 1 ? 0 : i * s.cCols);
    for (int64_t j = 0; j < s.N; j++) y[i * s.N + j] = beta * row[s.cCols == 1 ? 0 : j];
  }
}

/** dC = beta · dY summed over C's broadcast axes. */
template <typename T> void biasGrad(const LinearShape& s, const T* dy, Tensor<T>& dc, const Shape& cShape) {
  dc.zeros(cShape);
  const T beta = T(s.beta);
  for (int64_t i = 0; i < s.M; i++) {
    T* row = dc.ptr() + (s.cRows == 1 ? 0 : i * s.cCols);
    for (int64_t j = 0; j < s.N; j++) row[s.cCols == 1 ? 0 : j] += dy[i * s.N + j];
  }
  for (T& v : dc.data) v *= beta;
}

/** The dense gradient of the stored weight B: alpha · op(A)ᵀ · dY, transposed back when transB. */
template <typename T> void denseWeightGradient(const LinearShape& s, const T* a, const T* dy, T* db, unsigned threads) {
  const T alpha = T(s.alpha);
  const int64_t lda = s.transA ? s.M : s.K;
  if (!s.transB) {
    gemm<T>(!s.transA, false, s.K, s.N, s.M, alpha, a, lda, dy, s.N, T(0), db, s.N, threads);
  } else {
    gemm<T>(true, s.transA, s.N, s.K, s.M, alpha, dy, s.N, a, lda, T(0), db, s.K, threads);
  }
}

template <typename T> void linearForward(OpContext<T>& ctx, const LinearShape& s, const Shape& outShape) {
  const T* a = ctx.inputs[0]->ptr();
  const T* b = ctx.inputs[1]->ptr();
  const Tensor<T>* c = ctx.inputs.size() > 2 ? ctx.inputs[2] : nullptr;
  Tensor<T>& y = *ctx.outputs[0];
  y.reshape(outShape);
  if (c) fillBias(s, c->ptr(), y.ptr());
  const T beta = c ? T(1) : T(0);
  if (!ctx.sparseWeight) {
    gemm<T>(s.transA, s.transB, s.M, s.N, s.K, T(s.alpha), a, s.transA ? s.M : s.K, b, s.transB ? s.K : s.N, beta, y.ptr(), s.N,
            ctx.threads);
    return;
  }
  checkSparseLayout(ctx, s);
  auto& state = opState<SparseLinearState<T>>(ctx);
  const T* xT = a;  // op(A)ᵀ [K, M] is A itself when transA
  if (!s.transA) {
    state.xT.resize(size_t(s.K * s.M));
    transpose(a, s.M, s.K, state.xT.data(), ctx.threads);
    xT = state.xT.data();
  }
  state.yT.resize(size_t(s.N * s.M));
  sparseTimes<T>(*ctx.sparseWeight, b, xT, s.M, state.yT.data(), ctx.threads);
  if (!c) {
    transpose(state.yT.data(), s.N, s.M, y.ptr(), ctx.threads);
    if (s.alpha != 1)
      for (T& v : y.data) v *= T(s.alpha);
    return;
  }
  state.product.resize(size_t(s.M * s.N));
  transpose(state.yT.data(), s.N, s.M, state.product.data(), ctx.threads);
  const T alpha = T(s.alpha);
  for (int64_t i = 0; i < s.M * s.N; i++) y.data[size_t(i)] = alpha * state.product[size_t(i)] + y.data[size_t(i)];
}

template <typename T> void linearBackward(OpContext<T>& ctx, const LinearShape& s) {
  const T* a = ctx.inputs[0]->ptr();
  const T* b = ctx.inputs[1]->ptr();
  const T* dy = ctx.outputGrads[0]->ptr();
  Tensor<T>* da = ctx.inputGrads[0];
  Tensor<T>* db = ctx.inputGrads[1];
  Tensor<T>* dc = ctx.inputGrads.size() > 2 ? ctx.inputGrads[2] : nullptr;
  const T alpha = T(s.alpha);
  const int64_t ldb = s.transB ? s.K : s.N;
  if (dc) biasGrad(s, dy, *dc, ctx.inputs[2]->shape);

  if (!ctx.sparseWeight) {
    if (da) {
      da->reshape(ctx.inputs[0]->shape);
      if (!s.transA) {
        gemm<T>(false, !s.transB, s.M, s.K, s.N, alpha, dy, s.N, b, ldb, T(0), da->ptr(), s.K, ctx.threads);
      } else {
        gemm<T>(s.transB, true, s.K, s.M, s.N, alpha, b, ldb, dy, s.N, T(0), da->ptr(), s.M, ctx.threads);
      }
    }
    if (db) {
      db->reshape(ctx.inputs[1]->shape);
      denseWeightGradient(s, a, dy, db->ptr(), ctx.threads);
    }
    return;
  }

  auto& state = opState<SparseLinearState<T>>(ctx);
  const SparseLayout& L = *ctx.sparseWeight;
  state.dyT.resize(size_t(s.N * s.M));
  transpose(dy, s.M, s.N, state.dyT.data(), ctx.threads);
  if (s.alpha != 1)
    for (T& v : state.dyT) v *= alpha;
  if (da) {
    da->reshape(ctx.inputs[0]->shape);
    if (s.transA) {
      sparseTransposeTimes<T>(L, b, state.dyT.data(), s.M, da->ptr(), ctx.threads);
    } else {
      state.dxT.resize(size_t(s.K * s.M));
      sparseTransposeTimes<T>(L, b, state.dyT.data(), s.M, state.dxT.data(), ctx.threads);
      transpose(state.dxT.data(), s.K, s.M, da->ptr(), ctx.threads);
    }
  }
  if (db) {
    db->shape = ctx.inputs[1]->shape;
    db->data.resize(size_t(L.nnz()));
    sparseWeightGrad<T>(L, state.dyT.data(), s.transA ? a : state.xT.data(), s.M, db->ptr(), ctx.threads);
  }
  if (ctx.denseWeightGrad) {
    ctx.denseWeightGrad->reshape(ctx.inputs[1]->shape);
    denseWeightGradient(s, a, dy, ctx.denseWeightGrad->ptr(), ctx.threads);
  }
}

/** Y = alpha · op(A) · op(B) + beta · C. */
struct Gemm {
  template <typename T> static LinearShape shapeOf(const OpContext<T>& ctx) {
    const Node& node = ctx.node;
    if (ctx.inputs.size() < 2 || !ctx.inputs[0] || !ctx.inputs[1]) opError(node, "needs inputs A and B");
    LinearShape s;
    s.transA = node.attrs.i("transA", 0) != 0;
    s.transB = node.attrs.i("transB", 0) != 0;
    s.alpha = node.attrs.f("alpha", 1.0);
    s.beta = node.attrs.f("beta", 1.0);
    const Shape& a = ctx.inputs[0]->shape;
    if (a.size() != 2) opError(node, "input 0 has shape " + shapeText(a) + "; Gemm needs a 2-D input");
    weightExtent(node, ctx.inputs[1]->shape, s.transB, s.K, s.N);
    s.M = s.transA ? a[1] : a[0];
    const int64_t inputs = s.transA ? a[0] : a[1];
    if (inputs != s.K) {
      opError(node, "input 0 has shape " + shapeText(a) + ", the weight expects " + std::to_string(s.K) + " inputs");
    }
    if (ctx.inputs.size() > 2 && ctx.inputs[2]) biasExtent(node, ctx.inputs[2]->shape, s);
    return s;
  }

  template <typename T> static void forward(OpContext<T>& ctx) {
    const LinearShape s = shapeOf(ctx);
    linearForward(ctx, s, {s.M, s.N});
  }

  template <typename T> static void backward(OpContext<T>& ctx) { linearBackward(ctx, shapeOf(ctx)); }
};

/** Y = A · B over the last axis of A (its leading axes flattened into rows); B is a 2-D weight. */
struct MatMul {
  template <typename T> static LinearShape shapeOf(const OpContext<T>& ctx, Shape& outShape) {
    const Node& node = ctx.node;
    if (ctx.inputs.size() != 2 || !ctx.inputs[0] || !ctx.inputs[1]) opError(node, "needs inputs A and B");
    const Shape& a = ctx.inputs[0]->shape;
    LinearShape s;
    weightExtent(node, ctx.inputs[1]->shape, false, s.K, s.N);
    if (a.empty() || a.back() != s.K) {
      opError(node, "input 0 has shape " + shapeText(a) + ", the weight expects " + std::to_string(s.K) + " inputs");
    }
    s.M = numel(Shape(a.begin(), a.end() - 1));
    outShape = a;
    outShape.back() = s.N;
    return s;
  }

  template <typename T> static void forward(OpContext<T>& ctx) {
    Shape outShape;
    const LinearShape s = shapeOf(ctx, outShape);
    linearForward(ctx, s, outShape);
  }

  template <typename T> static void backward(OpContext<T>& ctx) {
    Shape outShape;
    linearBackward(ctx, shapeOf(ctx, outShape));
  }
};

}  // namespace

SL_REGISTER_OP("Gemm", Gemm, 1, 2);
SL_REGISTER_OP("MatMul", MatMul, 1);

}  // namespace sl::train
