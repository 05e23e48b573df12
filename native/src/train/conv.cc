// Conv (ONNX opset 13, 2-D), forward beside backward.
//
// Forward, per image and group: the image's im2col matrix cols [Cg·kH·kW, OH·OW] (a row per weight
// position, a column per output pixel), then Y = W · cols by gemm, plus the bias. Backward, per
// image: dW += dY · colsᵀ, dcols = Wᵀ · dY scattered back by col2im into dX, dB = Σ dY. A 1×1
// kernel at stride 1 without pads uses the image itself as its cols (no copy).
//
// A sparse weight (group 1 only): the layout's rows are the M output channels and its cols the
// C·kH·kW im2col rows, so the products become sparseTimes / sparseTransposeTimes /
// sparseWeightGrad (cost ∝ nnz); with ctx.denseWeightGrad the full dense dW as well.
//
// Threads: with at least as many images as threads, the images are split in fixed contiguous
// chunks, one per thread, each running single-threaded gemms; weight-gradient partials of the
// threads are summed in thread order. Otherwise the images run one after another and gemm gets
// the threads. Either way the partition depends only on the shapes and the thread count, so a run
// is reproducible bit for bit.
#include "conv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../pool.h"
#include "gemm.h"
#include "op.h"
#include "sparse_layout.h"
#include "tensor.h"

namespace sl::train {

namespace {

std::string str(int64_t v) { return std::to_string(v); }
std::string dims(int64_t a, int64_t b) { return str(a) + "×" + str(b); }

/** A 2-value attribute (strides, dilations), each at least 1. */
std::vector<int64_t> pairAttribute(const Node& node, const char* name) {
  const std::vector<int64_t> v = node.attrs.list(name, {1, 1});
  if (v.size() != 2) opError(node, std::string(name) + " has " + str(int64_t(v.size())) + " values; 2-D needs 2");
  for (int64_t x : v) {
    if (x < 1) opError(node, std::string(name) + " must be at least 1, got " + str(x));
  }
  return v;
}

/** Output size along one axis (ONNX; with ceilMode, a last window starting past input + head pad is dropped). */
int64_t outputSize(int64_t in, int64_t padHead, int64_t padTail, int64_t extent, int64_t stride, bool ceilMode) {
  const int64_t span = in + padHead + padTail - extent;
  if (span < 0) return 0;
  int64_t out = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceilMode && (out - 1) * stride >= in + padHead) out--;
  return out;
}

}  // namespace

Window2d windowGeometry(const Node& node, int64_t H, int64_t W, int64_t kH, int64_t kW, bool ceilMode) {
  Window2d g;
  if (kH < 1 || kW < 1) opError(node, "the kernel " + dims(kH, kW) + " must be at least 1×1");
  g.kH = kH;
  g.kW = kW;
  const std::vector<int64_t> strides = pairAttribute(node, "strides");
  const std::vector<int64_t> dilations = pairAttribute(node, "dilations");
  g.sH = strides[0];
  g.sW = strides[1];
  g.dH = dilations[0];
  g.dW = dilations[1];
  const std::string autoPad = node.attrs.s("auto_pad", "NOTSET");
  if (autoPad == "NOTSET" || autoPad == "VALID") {
    if (autoPad == "NOTSET") {
      const std::vector<int64_t> pads = node.attrs.list("pads", {0, 0, 0, 0});
      if (pads.size() != 4)
        opError(node, "pads has " + str(int64_t(pads.size())) + " values; 2-D needs 4 [top, left, bottom, right]");
      for (int64_t p : pads) {
        if (p < 0) opError(node, "pads must not be negative, got " + str(p));
      }
      g.padT = pads[0];
      g.padL = pads[1];
      g.padB = pads[2];
      g.padR = pads[3];
    }
    g.OH = outputSize(H, g.padT, g.padB, g.extentH(), g.sH, ceilMode);
    g.OW = outputSize(W, g.padL, g.padR, g.extentW(), g.sW, ceilMode);
  } else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
    // ONNX: output = ceil(input / stride), the total pad split evenly, the odd one at the end
    // (SAME_UPPER) or at the beginning (SAME_LOWER).
    const bool upper = autoPad == "SAME_UPPER";
    auto same = [&](int64_t in, int64_t stride, int64_t extent, int64_t& head, int64_t& tail) {
      const int64_t out = (in + stride - 1) / stride;
      const int64_t total = std::max<int64_t>(0, (out - 1) * stride + extent - in);
      head = upper ? total / 2 : total - total / 2;
      tail = total - head;
      return out;
    };
    g.OH = same(H, g.sH, g.extentH(), g.padT, g.padB);
    g.OW = same(W, g.sW, g.extentW(), g.padL, g.padR);
  } else {
    opError(node, "auto_pad \"" + autoPad + "\" is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER");
  }
  if (g.OH < 1 || g.OW < 1) {
    opError(node, "the " + dims(H, W) + " input, padded to " + dims(H + g.padT + g.padB, W + g.padL + g.padR) +
                      ", is smaller than the kernel (" + dims(g.extentH(), g.extentW()) + " with its dilations)");
  }
  return g;
}

namespace {

struct ConvShape {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t M = 0;                       // output channels
  int64_t group = 1, Cg = 0, Mg = 0;   // per group
  Window2d win;
  int64_t K = 0;        // Cg·kH·kW: rows of an im2col matrix (fan-in of an output channel)
  int64_t P = 0;        // OH·OW: its columns
  bool direct = false;  // 1×1, stride 1, no pads: the image is its own im2col matrix
  bool bias = false;
};

template <typename T>
ConvShape convShape(const OpContext<T>& ctx) {
  const Node& node = ctx.node;
  if (ctx.inputs.size() < 2 || !ctx.inputs[0] || !ctx.inputs[1]) opError(node, "needs an input X and a weight W");
  if (ctx.inputs.size() > 3) opError(node, "has " + str(int64_t(ctx.inputs.size())) + " inputs; Conv takes X, W and B");
  const Tensor<T>& X = *ctx.inputs[0];
  const Tensor<T>& Wt = *ctx.inputs[1];
  if (X.shape.size() != 4) {
    opError(node, "only 2-D convolution is supported: the input " + shapeText(X.shape) + " has rank " +
                      str(int64_t(X.shape.size())) + ", expected 4 [N, C, H, W]");
  }
  ConvShape s;
  s.N = X.shape[0];
  s.C = X.shape[1];
  s.H = X.shape[2];
  s.W = X.shape[3];
  s.group = ctx.node.attrs.i("group", 1);
  if (s.group < 1) opError(node, "group must be at least 1, got " + str(s.group));
  const std::vector<int64_t> kernelShape = node.attrs.list("kernel_shape", {});
  if (!kernelShape.empty() && kernelShape.size() != 2)
    opError(node, "kernel_shape has " + str(int64_t(kernelShape.size())) + " values; 2-D needs 2");
  int64_t kH = 0, kW = 0;
  if (const SparseLayout* L = ctx.sparseWeight) {
    if (s.group != 1) opError(node, "a sparse weight needs group 1, the node has group " + str(s.group));
    s.M = L->rows;
    s.Cg = s.C;
    if (Wt.shape.size() == 4) {
      // The sparse weight's tensor keeps its dense shape [M, C, kH, kW] (and holds nnz values).
      if (Wt.shape[0] != s.M || Wt.shape[1] != s.C) {
        opError(node, Wt.shape[1] != s.C ? "input has " + str(s.C) + " channels, the weight expects " + str(Wt.shape[1])
                                         : "the weight " + shapeText(Wt.shape) + " has " + str(Wt.shape[0]) +
                                               " output channels, its sparse layout " + str(s.M) + " rows");
      }
      kH = Wt.shape[2];
      kW = Wt.shape[3];
      if (!kernelShape.empty() && (kernelShape[0] != kH || kernelShape[1] != kW)) {
        opError(node, "kernel_shape is " + dims(kernelShape[0], kernelShape[1]) + ", the weight's kernel is " +
                          dims(kH, kW));
      }
    } else if (!kernelShape.empty()) {
      kH = kernelShape[0];
      kW = kernelShape[1];
    } else {
      // Neither a 4-D weight shape nor kernel_shape: only a square kernel can be told from the layout.
      const int64_t area = s.C > 0 && L->cols % s.C == 0 ? L->cols / s.C : 0;
      const int64_t k = int64_t(std::llround(std::sqrt(double(area))));
      if (area < 1 || k * k != area) {
        opError(node, "a sparse weight needs kernel_shape: its layout has " + str(L->cols) + " columns for " +
                          str(s.C) + " input channels");
      }
      kH = kW = k;
    }
    if (L->cols != s.C * kH * kW) {
      opError(node, "input has " + str(s.C) + " channels and a " + dims(kH, kW) + " kernel (" + str(s.C * kH * kW) +
                        " weights per output channel), the sparse weight's layout has " + str(L->cols));
    }
    if (Wt.size() != L->nnz()) {
      opError(node, "the sparse weight holds " + str(Wt.size()) + " values, its layout has " + str(L->nnz()) +
                        " active positions");
    }
  } else {
    if (Wt.shape.size() != 4) {
      opError(node, "the weight " + shapeText(Wt.shape) + " has rank " + str(int64_t(Wt.shape.size())) +
                        ", expected 4 [M, C/group, kH, kW]");
    }
    s.M = Wt.shape[0];
    kH = Wt.shape[2];
    kW = Wt.shape[3];
    if (!kernelShape.empty() && (kernelShape[0] != kH || kernelShape[1] != kW)) {
      opError(node, "kernel_shape is " + dims(kernelShape[0], kernelShape[1]) + ", the weight's kernel is " +
                        dims(kH, kW));
    }
    if (s.C % s.group != 0) {
      opError(node, "input has " + str(s.C) + " channels, which do not split into " + str(s.group) + " groups");
    }
    s.Cg = s.C / s.group;
    if (Wt.shape[1] != s.Cg) {
      if (s.group == 1)
        opError(node, "input has " + str(s.C) + " channels, the weight expects " + str(Wt.shape[1]));
      opError(node, "input has " + str(s.C) + " channels in " + str(s.group) + " groups (" + str(s.Cg) +
                        " each), the weight expects " + str(Wt.shape[1]) + " per group");
    }
    if (s.M % s.group != 0) {
      opError(node, "the weight has " + str(s.M) + " output channels, which do not split into " + str(s.group) +
                        " groups");
    }
  }
  s.Mg = s.M / s.group;
  if (ctx.inputs.size() > 2 && ctx.inputs[2]) {
    const Tensor<T>& B = *ctx.inputs[2];
    if (B.shape.size() != 1 || B.shape[0] != s.M)
      opError(node, "the bias " + shapeText(B.shape) + " does not match the " + str(s.M) + " output channels");
    s.bias = true;
  }
  s.win = windowGeometry(node, s.H, s.W, kH, kW, false);
  s.K = s.Cg * kH * kW;
  s.P = s.win.OH * s.win.OW;
  s.direct = kH == 1 && kW == 1 && s.win.sH == 1 && s.win.sW == 1 && s.win.padT == 0 && s.win.padL == 0 &&
             s.win.padB == 0 && s.win.padR == 0;
  return s;
}

/**
 * The output positions [lo, hi) (of `out`) whose input coordinate o·stride + offset falls inside
 * [0, n): the rest read padding.
 */
inline void insideRange(int64_t offset, int64_t stride, int64_t n, int64_t out, int64_t& lo, int64_t& hi) {
  lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  hi = n - offset <= 0 ? 0 : (n - offset + stride - 1) / stride;
  lo = std::min(lo, out);
  hi = std::max(lo, std::min(hi, out));
}

/** cols [K, P] of one group of one image x [Cg, H, W]. */
template <typename T>
void im2col(const T* x, const ConvShape& s, T* cols) {
  const Window2d& w = s.win;
  const int64_t OW = w.OW, P = s.P;
  for (int64_t c = 0; c < s.Cg; c++) {
    const T* plane = x + c * s.H * s.W;
    for (int64_t i = 0; i < w.kH; i++) {
      const int64_t offH = i * w.dH - w.padT;
      int64_t ohLo, ohHi;
      insideRange(offH, w.sH, s.H, w.OH, ohLo, ohHi);
      for (int64_t j = 0; j < w.kW; j++) {
        const int64_t offW = j * w.dW - w.padL;
        int64_t owLo, owHi;
        insideRange(offW, w.sW, s.W, OW, owLo, owHi);
        T* dst = cols + ((c * w.kH + i) * w.kW + j) * P;
        std::fill(dst, dst + ohLo * OW, T(0));
        for (int64_t oh = ohLo; oh < ohHi; oh++) {
          T* d = dst + oh * OW;
          const T* row = plane + (oh * w.sH + offH) * s.W;
          std::fill(d, d + owLo, T(0));
          if (w.sW == 1) {
            std::memcpy(d + owLo, row + owLo + offW, size_t(owHi - owLo) * sizeof(T));
          } else {
            for (int64_t ow = owLo; ow < owHi; ow++) d[ow] = row[ow * w.sW + offW];
          }
          std::fill(d + owHi, d + OW, T(0));
        }
        std::fill(dst + ohHi * OW, dst + P, T(0));
      }
    }
  }
}

/** dx [Cg, H, W] += the im2col matrix dcols [K, P] scattered back to the pixels it was read from. */
template <typename T>
void col2im(const T* dcols, const ConvShape& s, T* dx) {
  const Window2d& w = s.win;
  const int64_t OW = w.OW, P = s.P;
  for (int64_t c = 0; c < s.Cg; c++) {
    T* plane = dx + c * s.H * s.W;
    for (int64_t i = 0; i < w.kH; i++) {
      const int64_t offH = i * w.dH - w.padT;
      int64_t ohLo, ohHi;
      insideRange(offH, w.sH, s.H, w.OH, ohLo, ohHi);
      for (int64_t j = 0; j < w.kW; j++) {
        const int64_t offW = j * w.dW - w.padL;
        int64_t owLo, owHi;
        insideRange(offW, w.sW, s.W, OW, owLo, owHi);
        const T* src = dcols + ((c * w.kH + i) * w.kW + j) * P;
        for (int64_t oh = ohLo; oh < ohHi; oh++) {
          const T* d = src + oh * OW;
          T* row = plane + (oh * w.sH + offH) * s.W + offW;
          if (w.sW == 1) {
            for (int64_t ow = owLo; ow < owHi; ow++) row[ow] += d[ow];
          } else {
            for (int64_t ow = owLo; ow < owHi; ow++) row[ow * w.sW] += d[ow];
          }
        }
      }
    }
  }
}

/** How the images are spread: `outer` threads over contiguous image chunks, each gemm on `inner`. */
struct ImageSplit {
  unsigned outer = 1, inner = 1;
  int64_t begin(int64_t N, unsigned t) const { return N * int64_t(t) / int64_t(outer); }
};

/** Fewer multiply-adds than this in a whole call run on one thread. */
constexpr double kMinParallelMacs = 1e5;

ImageSplit splitImages(unsigned requested, const ConvShape& s) {
  const unsigned threads = resolveThreads(requested, ~uint64_t(0));
  const double macs = double(s.N) * double(s.M) * double(s.K) * double(s.P);
  ImageSplit split;
  if (threads <= 1 || macs < kMinParallelMacs) return split;
  if (s.N >= int64_t(threads)) {
    split.outer = threads;
  } else {
    split.inner = threads;
  }
  return split;
}

template <typename T>
Tensor<T>* inputGrad(OpContext<T>& ctx, size_t i) {
  return i < ctx.inputGrads.size() && i < ctx.inputs.size() && ctx.inputs[i] ? ctx.inputGrads[i] : nullptr;
}

struct ConvOp {
  template <typename T>
  static void forward(OpContext<T>& ctx) {
    const ConvShape s = convShape(ctx);
    const SparseLayout* L = ctx.sparseWeight;
    if (ctx.outputs.empty() || !ctx.outputs[0]) opError(ctx.node, "has no output Y");
    const T* x = ctx.inputs[0]->ptr();
    const T* w = ctx.inputs[1]->ptr();
    const T* b = s.bias ? ctx.inputs[2]->ptr() : nullptr;
    Tensor<T>& Y = *ctx.outputs[0];
    Y.reshape({s.N, s.M, s.win.OH, s.win.OW});
    T* y = Y.ptr();
    const ImageSplit split = splitImages(ctx.threads, s);
    parallelRun(split.outer, [&](unsigned t) {
      std::vector<T> cols(s.direct ? 0 : size_t(s.K * s.P));
      for (int64_t n = split.begin(s.N, t); n < split.begin(s.N, t + 1); n++) {
        for (int64_t g = 0; g < s.group; g++) {
          const T* xg = x + (n * s.C + g * s.Cg) * s.H * s.W;
          const T* cg = xg;
          if (!s.direct) {
            im2col(xg, s, cols.data());
            cg = cols.data();
          }
          T* yg = y + (n * s.M + g * s.Mg) * s.P;
          if (L) {
            sparseTimes<T>(*L, w, cg, s.P, yg, split.inner);
          } else {
            gemm<T>(false, false, s.Mg, s.P, s.K, T(1), w + g * s.Mg * s.K, s.K, cg, s.P, T(0), yg, s.P, split.inner);
          }
          if (b) {
            for (int64_t m = 0; m < s.Mg; m++) {
              const T bm = b[g * s.Mg + m];
              T* row = yg + m * s.P;
              for (int64_t p = 0; p < s.P; p++) row[p] += bm;
            }
          }
        }
      }
    });
  }

  template <typename T>
  static void backward(OpContext<T>& ctx) {
    const ConvShape s = convShape(ctx);
    const SparseLayout* L = ctx.sparseWeight;
    if (ctx.outputGrads.empty() || !ctx.outputGrads[0]) opError(ctx.node, "backward without the gradient of Y");
    const Tensor<T>& dYt = *ctx.outputGrads[0];
    if (dYt.size() != s.N * s.M * s.P) {
      opError(ctx.node, "the gradient of Y " + shapeText(dYt.shape) + " does not match the output " +
                            shapeText({s.N, s.M, s.win.OH, s.win.OW}));
    }
    const T* x = ctx.inputs[0]->ptr();
    const T* w = ctx.inputs[1]->ptr();
    const T* dy = dYt.ptr();
    Tensor<T>* dX = inputGrad(ctx, 0);
    Tensor<T>* dW = inputGrad(ctx, 1);
    Tensor<T>* dB = s.bias ? inputGrad(ctx, 2) : nullptr;
    Tensor<T>* dWdense = L ? ctx.denseWeightGrad : nullptr;

    if (dB) {
      dB->zeros({s.M});
      T* db = dB->ptr();
      for (int64_t n = 0; n < s.N; n++) {
        for (int64_t m = 0; m < s.M; m++) {
          const T* row = dy + (n * s.M + m) * s.P;
          T sum = 0;
          for (int64_t p = 0; p < s.P; p++) sum += row[p];
          db[m] += sum;
        }
      }
    }
    if (!dX && !dW && !dWdense) return;

    if (dX) dX->zeros(ctx.inputs[0]->shape);
    const int64_t wSize = L ? L->nnz() : s.M * s.K;
    const int64_t denseSize = s.M * s.K;
    if (dW) {
      // A sparse weight's gradient keeps the weight's (dense) shape and holds its nnz values.
      dW->shape = ctx.inputs[1]->shape;
      dW->data.assign(size_t(wSize), T(0));
    }
    if (dWdense) dWdense->zeros({s.M, s.C, s.win.kH, s.win.kW});
    const bool needCols = dW || dWdense;
    const ImageSplit split = splitImages(ctx.threads, s);
    // Thread 0 accumulates into the outputs, the others into partials added in thread order.
    std::vector<std::vector<T>> partW(split.outer), partDense(split.outer);
    parallelRun(split.outer, [&](unsigned t) {
      T* gw = nullptr;
      T* gd = nullptr;
      if (dW) {
        if (t > 0) partW[t].assign(size_t(wSize), T(0));
        gw = t == 0 ? dW->ptr() : partW[t].data();
      }
      if (dWdense) {
        if (t > 0) partDense[t].assign(size_t(denseSize), T(0));
        gd = t == 0 ? dWdense->ptr() : partDense[t].data();
      }
      std::vector<T> cols(needCols && !s.direct ? size_t(s.K * s.P) : 0);
      std::vector<T> dcols(dX && !s.direct ? size_t(s.K * s.P) : 0);
      std::vector<T> step(L && dW ? size_t(wSize) : 0);
      for (int64_t n = split.begin(s.N, t); n < split.begin(s.N, t + 1); n++) {
        for (int64_t g = 0; g < s.group; g++) {
          const T* dyg = dy + (n * s.M + g * s.Mg) * s.P;
          if (needCols) {
            const T* xg = x + (n * s.C + g * s.Cg) * s.H * s.W;
            const T* cg = xg;
            if (!s.direct) {
              im2col(xg, s, cols.data());
              cg = cols.data();
            }
            if (dW && L) {
              sparseWeightGrad<T>(*L, dyg, cg, s.P, step.data(), split.inner);
              for (int64_t e = 0; e < wSize; e++) gw[e] += step[e];
            } else if (dW) {
              gemm<T>(false, true, s.Mg, s.K, s.P, T(1), dyg, s.P, cg, s.P, T(1), gw + g * s.Mg * s.K, s.K,
                      split.inner);
            }
            if (gd) gemm<T>(false, true, s.M, s.K, s.P, T(1), dyg, s.P, cg, s.P, T(1), gd, s.K, split.inner);
          }
          if (dX) {
            T* dxg = dX->ptr() + (n * s.C + g * s.Cg) * s.H * s.W;
            T* target = s.direct ? dxg : dcols.data();
            if (L) {
              sparseTransposeTimes<T>(*L, w, dyg, s.P, target, split.inner);
            } else {
              gemm<T>(true, false, s.K, s.P, s.Mg, T(1), w + g * s.Mg * s.K, s.K, dyg, s.P, T(0), target, s.P,
                      split.inner);
            }
            if (!s.direct) col2im(dcols.data(), s, dxg);
          }
        }
      }
    });
    for (unsigned t = 1; t < split.outer; t++) {
      if (dW) {
        T* gw = dW->ptr();
        for (int64_t e = 0; e < wSize; e++) gw[e] += partW[t][size_t(e)];
      }
      if (dWdense) {
        T* gd = dWdense->ptr();
        for (int64_t e = 0; e < denseSize; e++) gd[e] += partDense[t][size_t(e)];
      }
    }
  }
};

}  // namespace

SL_REGISTER_OP("Conv", ConvOp, 1, 2);

}  // namespace sl::train
