// Pooling (ONNX opset 13, 2-D), forward beside backward: MaxPool, AveragePool, GlobalAveragePool.
//
// MaxPool keeps the argmax of every window (the first maximum in row-major window order on ties)
// in its state, and its backward routes each output gradient there. AveragePool spreads each output
// gradient evenly over its window with the divisor of the forward: the window's elements inside the
// input, or with count_include_pad also those in the pads (never the ceil_mode overhang past them).
// The planes (image, channel) are split over threads in fixed contiguous chunks; each plane is
// written by one thread only, so results do not depend on timing.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../pool.h"
#include "conv.h"
#include "op.h"
#include "tensor.h"

namespace sl::train {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

/** A pool's geometry over [N, C, H, W], with per output row / column the kernel taps inside the input. */
struct PoolShape {
  int64_t N = 0, C = 0, H = 0, W = 0;
  Window2d win;
  // Per output row oh: taps i in [rowLo, rowHi) read input rows; rowPadded counts the taps inside
  // the padded input (for count_include_pad). Likewise per output column.
  std::vector<int64_t> rowLo, rowHi, rowPadded, colLo, colHi, colPadded;
  // Per kernel column j: the output columns [tapLo, tapHi) whose tap j reads inside the input.
  std::vector<int64_t> tapLo, tapHi;

  int64_t planes() const { return N * C; }
  int64_t outPlane() const { return win.OH * win.OW; }
};

/** Taps [lo, hi) of `k` at input coordinates base + tap·dilation inside [0, n); padded: inside [.., n + padTail). */
void taps(int64_t base, int64_t k, int64_t dilation, int64_t n, int64_t padTail, int64_t& lo, int64_t& hi,
          int64_t& padded) {
  lo = base >= 0 ? 0 : (-base + dilation - 1) / dilation;
  hi = n - base <= 0 ? 0 : std::min(k, (n - base + dilation - 1) / dilation);
  padded = std::min(k, (n + padTail - base + dilation - 1) / dilation);
}

template <typename T>
PoolShape poolShape(const OpContext<T>& ctx, bool ceilMode) {
  const Node& node = ctx.node;
  if (ctx.inputs.empty() || !ctx.inputs[0]) opError(node, "needs an input X");
  if (ctx.outputs.empty() || !ctx.outputs[0]) opError(node, "has no output Y");
  const Shape& shape = ctx.inputs[0]->shape;
  if (shape.size() != 4) {
    opError(node, "only 2-D pooling is supported: the input " + shapeText(shape) + " has rank " +
                      str(int64_t(shape.size())) + ", expected 4 [N, C, H, W]");
  }
  const std::vector<int64_t> kernel = node.attrs.list("kernel_shape", {});
  if (kernel.size() != 2) {
    opError(node, kernel.empty() ? std::string("needs kernel_shape")
                                 : "kernel_shape has " + str(int64_t(kernel.size())) + " values; 2-D needs 2");
  }
  PoolShape s;
  s.N = shape[0];
  s.C = shape[1];
  s.H = shape[2];
  s.W = shape[3];
  s.win = windowGeometry(node, s.H, s.W, kernel[0], kernel[1], ceilMode);
  const Window2d& w = s.win;
  auto axis = [&](int64_t out, int64_t stride, int64_t pad, int64_t padTail, int64_t k, int64_t d, int64_t n,
                  std::vector<int64_t>& lo, std::vector<int64_t>& hi, std::vector<int64_t>& padded) {
    lo.resize(size_t(out));
    hi.resize(size_t(out));
    padded.resize(size_t(out));
    for (int64_t o = 0; o < out; o++) {
      taps(o * stride - pad, k, d, n, padTail, lo[size_t(o)], hi[size_t(o)], padded[size_t(o)]);
      if (lo[size_t(o)] >= hi[size_t(o)]) {
        opError(node, "a pooling window covers only padding (pads " + str(w.padT) + ", " + str(w.padL) + ", " +
                          str(w.padB) + ", " + str(w.padR) + " with a " + str(w.kH) + "×" + str(w.kW) +
                          " kernel); pads must be smaller than the kernel");
      }
    }
  };
  axis(w.OH, w.sH, w.padT, w.padB, w.kH, w.dH, s.H, s.rowLo, s.rowHi, s.rowPadded);
  axis(w.OW, w.sW, w.padL, w.padR, w.kW, w.dW, s.W, s.colLo, s.colHi, s.colPadded);
  // Output columns with j inside [colLo, colHi) are contiguous: the input column grows with both.
  s.tapLo.assign(size_t(w.kW), w.OW);
  s.tapHi.assign(size_t(w.kW), 0);
  for (int64_t j = 0; j < w.kW; j++) {
    for (int64_t ow = 0; ow < w.OW; ow++) {
      if (j < s.colLo[size_t(ow)] || j >= s.colHi[size_t(ow)]) continue;
      s.tapLo[size_t(j)] = std::min(s.tapLo[size_t(j)], ow);
      s.tapHi[size_t(j)] = ow + 1;
    }
  }
  return s;
}

bool ceilModeOf(const Node& node) {
  const int64_t v = node.attrs.i("ceil_mode", 0);
  if (v != 0 && v != 1) opError(node, "ceil_mode must be 0 or 1, got " + str(v));
  return v == 1;
}

/** Fewer element reads than this in a whole call run on one thread. */
constexpr double kMinParallelReads = 1 << 16;

/** Runs fn(first, last) over fixed contiguous chunks of [0, planes). */
template <typename Fn>
void forPlanes(unsigned requested, int64_t planes, double reads, const Fn& fn) {
  const unsigned threads =
      reads < kMinParallelReads || planes < 2 ? 1u : resolveThreads(requested, uint64_t(planes));
  parallelRun(threads, [&](unsigned t) {
    fn(planes * int64_t(t) / int64_t(threads), planes * int64_t(t + 1) / int64_t(threads));
  });
}

template <typename T>
const Tensor<T>& outputGrad(const OpContext<T>& ctx, int64_t expected) {
  if (ctx.outputGrads.empty() || !ctx.outputGrads[0]) opError(ctx.node, "backward without the gradient of Y");
  const Tensor<T>& dY = *ctx.outputGrads[0];
  if (dY.size() != expected) {
    opError(ctx.node, "the gradient of Y " + shapeText(dY.shape) + " does not match the output " +
                          shapeText(ctx.outputs[0]->shape));
  }
  return dY;
}

template <typename T>
Tensor<T>* inputGrad(OpContext<T>& ctx) {
  return ctx.inputGrads.empty() ? nullptr : ctx.inputGrads[0];
}

// ---------------------------------------------------------------------------------------------
// MaxPool

/** The argmax of every output: the offset of the window's first maximum within its input plane. */
struct MaxPoolState : OpState {
  std::vector<int32_t> argmax;
};

struct MaxPoolOp {
  template <typename T>
  static void forward(OpContext<T>& ctx) {
    const Node& node = ctx.node;
    if ((node.outputs.size() > 1 && node.outputs[1] >= 0) || (ctx.outputs.size() > 1 && ctx.outputs[1]))
      opError(node, "the second output (Indices) is not supported for training");
    const PoolShape s = poolShape(ctx, ceilModeOf(node));
    if (s.H * s.W > INT32_MAX) opError(node, "the input plane " + str(s.H) + "×" + str(s.W) + " is too large");
    const Window2d& w = s.win;
    Tensor<T>& Y = *ctx.outputs[0];
    Y.reshape({s.N, s.C, w.OH, w.OW});
    MaxPoolState& state = opState<MaxPoolState>(ctx);
    state.argmax.resize(size_t(Y.size()));
    const T* x = ctx.inputs[0]->ptr();
    T* y = Y.ptr();
    int32_t* arg = state.argmax.data();
    const int64_t inPlane = s.H * s.W, outPlane = s.outPlane();
    forPlanes(ctx.threads, s.planes(), double(Y.size()) * double(w.kH * w.kW), [&](int64_t first, int64_t last) {
      // A row of outputs at a time, taps outer and outputs inner: each output's running maximum is
      // its own dependency chain, and the inner loop over the outputs a tap reads inside the input
      // (a range: the rest read padding) is branch-free, so it vectorises.
      std::vector<int64_t> best(size_t(w.OW));
      std::vector<T> bestValue(size_t(w.OW));
      for (int64_t p = first; p < last; p++) {
        const T* xp = x + p * inPlane;
        T* yp = y + p * outPlane;
        int32_t* ap = arg + p * outPlane;
        for (int64_t oh = 0; oh < w.OH; oh++) {
          int64_t* bi = best.data();
          T* bv = bestValue.data();
          std::fill(bi, bi + w.OW, int64_t(-1));
          std::fill(bv, bv + w.OW, T(0));
          for (int64_t i = s.rowLo[size_t(oh)]; i < s.rowHi[size_t(oh)]; i++) {
            const int64_t rowOffset = (oh * w.sH - w.padT + i * w.dH) * s.W;
            for (int64_t j = 0; j < w.kW; j++) {
              const int64_t offset = rowOffset - w.padL + j * w.dW;
              const int64_t owLo = s.tapLo[size_t(j)], owHi = s.tapHi[size_t(j)], sW = w.sW;
              for (int64_t ow = owLo; ow < owHi; ow++) {
                const int64_t at = offset + ow * sW;
                const T v = xp[at], b = bv[ow];
                // The first maximum in row-major window order wins ties; a NaN (v != v) wins over
                // numbers (and the first NaN stays).
                const bool take = (bi[ow] < 0) | (v > b) | ((v != v) & (b == b));
                bi[ow] = take ? at : bi[ow];
                bv[ow] = take ? v : b;
              }
            }
          }
          for (int64_t ow = 0; ow < w.OW; ow++) {
            yp[oh * w.OW + ow] = bv[ow];
            ap[oh * w.OW + ow] = int32_t(bi[ow]);
          }
        }
      }
    });
  }

  template <typename T>
  static void backward(OpContext<T>& ctx) {
    const PoolShape s = poolShape(ctx, ceilModeOf(ctx.node));
    const Tensor<T>& dY = outputGrad(ctx, s.planes() * s.outPlane());
    Tensor<T>* dX = inputGrad(ctx);
    if (!dX) return;
    const auto* state = dynamic_cast<const MaxPoolState*>(ctx.state.get());
    if (!state || int64_t(state->argmax.size()) != dY.size()) opError(ctx.node, "backward without its forward");
    dX->zeros(ctx.inputs[0]->shape);
    const T* dy = dY.ptr();
    T* dx = dX->ptr();
    const int32_t* arg = state->argmax.data();
    const int64_t inPlane = s.H * s.W, outPlane = s.outPlane();
    forPlanes(ctx.threads, s.planes(), double(dY.size()), [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; p++) {
        T* dxp = dx + p * inPlane;
        const T* dyp = dy + p * outPlane;
        const int32_t* ap = arg + p * outPlane;
        for (int64_t o = 0; o < outPlane; o++) dxp[ap[o]] += dyp[o];
      }
    });
  }
};

// ---------------------------------------------------------------------------------------------
// AveragePool

bool countIncludePad(const Node& node) {
  const int64_t v = node.attrs.i("count_include_pad", 0);
  if (v != 0 && v != 1) opError(node, "count_include_pad must be 0 or 1, got " + str(v));
  return v == 1;
}

/** The divisor of output (oh, ow): the taps inside the input, or inside the padded input. */
inline int64_t divisor(const PoolShape& s, int64_t oh, int64_t ow, bool includePad) {
  if (includePad) return s.rowPadded[size_t(oh)] * s.colPadded[size_t(ow)];
  return (s.rowHi[size_t(oh)] - s.rowLo[size_t(oh)]) * (s.colHi[size_t(ow)] - s.colLo[size_t(ow)]);
}

struct AveragePoolOp {
  template <typename T>
  static void forward(OpContext<T>& ctx) {
    const PoolShape s = poolShape(ctx, ceilModeOf(ctx.node));
    const bool includePad = countIncludePad(ctx.node);
    const Window2d& w = s.win;
    Tensor<T>& Y = *ctx.outputs[0];
    Y.reshape({s.N, s.C, w.OH, w.OW});
    const T* x = ctx.inputs[0]->ptr();
    T* y = Y.ptr();
    const int64_t inPlane = s.H * s.W, outPlane = s.outPlane();
    forPlanes(ctx.threads, s.planes(), double(Y.size()) * double(w.kH * w.kW), [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; p++) {
        const T* xp = x + p * inPlane;
        T* yp = y + p * outPlane;
        for (int64_t oh = 0; oh < w.OH; oh++) {
          const int64_t ih0 = oh * w.sH - w.padT;
          for (int64_t ow = 0; ow < w.OW; ow++) {
            const int64_t iw0 = ow * w.sW - w.padL;
            T sum = 0;
            for (int64_t i = s.rowLo[size_t(oh)]; i < s.rowHi[size_t(oh)]; i++) {
              const T* row = xp + (ih0 + i * w.dH) * s.W + iw0;
              for (int64_t j = s.colLo[size_t(ow)]; j < s.colHi[size_t(ow)]; j++) sum += row[j * w.dW];
            }
            yp[oh * w.OW + ow] = sum / T(divisor(s, oh, ow, includePad));
          }
        }
      }
    });
  }

  template <typename T>
  static void backward(OpContext<T>& ctx) {
    const PoolShape s = poolShape(ctx, ceilModeOf(ctx.node));
    const bool includePad = countIncludePad(ctx.node);
    const Window2d& w = s.win;
    const Tensor<T>& dY = outputGrad(ctx, s.planes() * s.outPlane());
    Tensor<T>* dX = inputGrad(ctx);
    if (!dX) return;
    dX->zeros(ctx.inputs[0]->shape);
    const T* dy = dY.ptr();
    T* dx = dX->ptr();
    const int64_t inPlane = s.H * s.W, outPlane = s.outPlane();
    forPlanes(ctx.threads, s.planes(), double(dY.size()) * double(w.kH * w.kW), [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; p++) {
        T* dxp = dx + p * inPlane;
        const T* dyp = dy + p * outPlane;
        for (int64_t oh = 0; oh < w.OH; oh++) {
          const int64_t ih0 = oh * w.sH - w.padT;
          for (int64_t ow = 0; ow < w.OW; ow++) {
            const int64_t iw0 = ow * w.sW - w.padL;
            const T g = dyp[oh * w.OW + ow] / T(divisor(s, oh, ow, includePad));
            for (int64_t i = s.rowLo[size_t(oh)]; i < s.rowHi[size_t(oh)]; i++) {
              T* row = dxp + (ih0 + i * w.dH) * s.W + iw0;
              for (int64_t j = s.colLo[size_t(ow)]; j < s.colHi[size_t(ow)]; j++) row[j * w.dW] += g;
            }
          }
        }
      }
    });
  }
};

// ---------------------------------------------------------------------------------------------
// GlobalAveragePool (any rank ≥ 3: the mean over every spatial axis)

struct GlobalShape {
  int64_t planes = 0, area = 0;
  Shape out;
};

template <typename T>
GlobalShape globalShape(const OpContext<T>& ctx) {
  if (ctx.inputs.empty() || !ctx.inputs[0]) opError(ctx.node, "needs an input X");
  if (ctx.outputs.empty() || !ctx.outputs[0]) opError(ctx.node, "has no output Y");
  const Shape& shape = ctx.inputs[0]->shape;
  if (shape.size() < 3) {
    opError(ctx.node, "the input " + shapeText(shape) + " has rank " + str(int64_t(shape.size())) +
                          ", expected at least 3 [N, C, spatial...]");
  }
  GlobalShape g;
  g.planes = shape[0] * shape[1];
  g.area = 1;
  g.out = {shape[0], shape[1]};
  for (size_t d = 2; d < shape.size(); d++) {
    g.area *= shape[d];
    g.out.push_back(1);
  }
  if (g.area < 1) opError(ctx.node, "the input " + shapeText(shape) + " has no spatial elements to average");
  return g;
}

struct GlobalAveragePoolOp {
  template <typename T>
  static void forward(OpContext<T>& ctx) {
    const GlobalShape g = globalShape(ctx);
    Tensor<T>& Y = *ctx.outputs[0];
    Y.reshape(g.out);
    const T* x = ctx.inputs[0]->ptr();
    T* y = Y.ptr();
    forPlanes(ctx.threads, g.planes, double(g.planes) * double(g.area), [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; p++) {
        const T* xp = x + p * g.area;
        T sum = 0;
        for (int64_t e = 0; e < g.area; e++) sum += xp[e];
        y[p] = sum / T(g.area);
      }
    });
  }

  template <typename T>
  static void backward(OpContext<T>& ctx) {
    const GlobalShape g = globalShape(ctx);
    const Tensor<T>& dY = outputGrad(ctx, g.planes);
    Tensor<T>* dX = inputGrad(ctx);
    if (!dX) return;
    dX->reshape(ctx.inputs[0]->shape);
    const T* dy = dY.ptr();
    T* dx = dX->ptr();
    forPlanes(ctx.threads, g.planes, double(g.planes) * double(g.area), [&](int64_t first, int64_t last) {
      for (int64_t p = first; p < last; p++) {
        const T v = dy[p] / T(g.area);
        std::fill(dx + p * g.area, dx + (p + 1) * g.area, v);
      }
    });
  }
};

}  // namespace

SL_REGISTER_OP("MaxPool", MaxPoolOp);
SL_REGISTER_OP("AveragePool", AveragePoolOp);
SL_REGISTER_OP("GlobalAveragePool", GlobalAveragePoolOp);

}  // namespace sl::train
