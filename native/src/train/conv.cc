// Conv (ONNX opset 13, 2-D), forward beside backward.
//
// Images go through the products in chunks laid side by side: the chunk's im2col matrix cols
// [C·kH·kW, n·P] has a row per input channel and kernel tap and a column per output pixel of each
// of its n images (image i's P pixels at columns i·P..). Per group, forward Y = W · cols by ONE gemm,
// then Y [M, n·P] is put back in NCHW order with the bias; backward dW += dY · colsᵀ and
// dcols = Wᵀ · dY (dY gathered into [M, n·P]), dcols scattered back by col2im into dX, dB = Σ dY.
// One gemm per chunk rather than per image: the small maps of a deep net (8×8 down to 1×1 pixels)
// would leave a per-image gemm a few columns padded to its 16-wide tiles, and repack the weight for
// every image. A chunk holds enough images for kChunkPixels output pixels (within kMaxColsBytes of
// cols); a map of kChunkPixels or more goes image by image, its gemm writing Y in place, and a 1×1
// kernel at stride 1 without pads then reads the image itself as its cols (no copy).
//
// Kernel taps that read only padding for every output pixel (a 3×3 kernel with pads 1 over a 1×1
// map: 8 of its 9 taps) have all-zero cols rows: a dense weight drops them, from cols and from the
// weight (compacted to [M, Cg·live taps]), and their gradient is 0.
//
// A sparse weight (group 1 only): the layout's rows are the M output channels and its cols the
// C·kH·kW im2col rows (every tap kept), so the products become sparseTimes / sparseTransposeTimes /
// sparseWeightGrad (cost ∝ nnz) on the chunk's cols; with ctx.denseWeightGrad the full dense dW as
// well.
//
// Threads: the products split their output over the threads (gemm.cc: the same summation order
// whatever the thread count), im2col, col2im and the NCHW reordering split the chunk's images.
// Partitions depend only on the shapes and the thread count, so a run is reproducible bit for bit.
#include "conv.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
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

/** Outputs narrower than this go through im2col / col2im pixel by pixel (offset tables): by row, rows of a few values cost more. */
constexpr int64_t kNarrow = 16;

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

/** A kernel tap (i, j): its input offsets and the output rows / columns that read inside the input. */
struct Tap {
  int64_t index = 0;  // i·kW + j
  int64_t offH = 0, offW = 0;
  int64_t ohLo = 0, ohHi = 0, owLo = 0, owHi = 0;
};

struct ConvShape {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t M = 0;                       // output channels
  int64_t group = 1, Cg = 0, Mg = 0;   // per group
  Window2d win;
  int64_t K = 0;        // Cg·kH·kW: the fan-in of an output channel
  int64_t P = 0;        // OH·OW: output pixels per image
  std::vector<Tap> taps;  // the taps with a cols row: every one for a sparse weight, else the live ones
  int64_t Kc = 0;         // Cg·taps: rows of a group's im2col matrix
  // For a narrow output (OW < kNarrow): per tap, the offset in the input plane each output pixel
  // reads, -1 for padding ([taps, P]). im2col / col2im then run over P without a row structure.
  std::vector<int32_t> offsets;
  bool allTaps = true;    // Kc == K: the weight is used as stored
  bool direct = false;    // 1×1, stride 1, no pads: an image is its own im2col matrix
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
  const Window2d& w = s.win;
  for (int64_t i = 0; i < kH; i++) {
    for (int64_t j = 0; j < kW; j++) {
      Tap t;
      t.index = i * kW + j;
      t.offH = i * w.dH - w.padT;
      t.offW = j * w.dW - w.padL;
      insideRange(t.offH, w.sH, s.H, w.OH, t.ohLo, t.ohHi);
      insideRange(t.offW, w.sW, s.W, w.OW, t.owLo, t.owHi);
      const bool live = t.ohLo < t.ohHi && t.owLo < t.owHi;
      if (live || ctx.sparseWeight) s.taps.push_back(t);
    }
  }
  s.Kc = s.Cg * int64_t(s.taps.size());
  s.allTaps = s.Kc == s.K;
  if (w.OW < kNarrow && s.H * s.W <= INT32_MAX) {
    s.offsets.assign(s.taps.size() * size_t(s.P), -1);
    int32_t* o = s.offsets.data();
    for (const Tap& t : s.taps) {
      for (int64_t oh = t.ohLo; oh < t.ohHi; oh++)
        for (int64_t ow = t.owLo; ow < t.owHi; ow++)
          o[oh * w.OW + ow] = int32_t((oh * w.sH + t.offH) * s.W + ow * w.sW + t.offW);
      o += s.P;
    }
  }
  return s;
}

/** Above this many bytes the im2col matrix of a chunk of images is split into smaller chunks. */
constexpr int64_t kMaxColsBytes = int64_t(64) << 20;
/**
 * Output pixels per chunk: columns enough for gemm's 16-wide tiles and to split over its threads,
 * and a bound on the cols. Measured on a ResNet-18 step at 3×32×32, batch 16, 2 threads: a chunk of
 * the whole batch of 8×8 maps (1024 pixels) ~3 % faster than chunks of 4 images (256), ~15 % faster
 * than one image (64); on 1 thread chunks of 256 were ~3 % faster (their cols stay in L2).
 */
constexpr int64_t kChunkPixels = 1024;
/** Fewer values than this are copied (im2col, col2im, reordering) on one thread. */
constexpr int64_t kMinParallelCopy = int64_t(1) << 15;

/**
 * Scratch of the calling thread, one per use, kept between calls (only grows): a step runs many
 * convs one after another, and fresh buffers of megabytes would be zeroed and page-faulted each time.
 */
enum class Scratch { Cols, Rows, Dcols, Grad };

template <typename T>
T* scratch(Scratch use, int64_t count) {
  thread_local std::vector<T> buffers[4];
  std::vector<T>& b = buffers[int(use)];
  if (int64_t(b.size()) < count) b.resize(size_t(count));
  return b.data();
}

/** Images [n0, n0 + count) side by side: `ld` = count·P columns. */
struct Chunk {
  int64_t n0 = 0, count = 1, ld = 0;
};

/** How many images a chunk holds: up to kChunkPixels output pixels, within kMaxColsBytes of cols. */
template <typename T>
int64_t chunkImages(const ConvShape& s) {
  const int64_t colsPerImage = std::max<int64_t>(1, s.group * s.Kc * s.P) * int64_t(sizeof(T));
  const int64_t byPixels = (kChunkPixels + s.P - 1) / s.P;
  return std::max<int64_t>(1, std::min({s.N, byPixels, kMaxColsBytes / colsPerImage}));
}

/** fn(lo, hi) over [0, count) split in fixed contiguous ranges, one per thread when `values` (copied) is large. */
template <typename Fn>
void forRanges(int64_t count, int64_t values, unsigned threads, const Fn& fn) {
  const unsigned T = values < kMinParallelCopy ? 1u : resolveThreads(threads, uint64_t(std::max<int64_t>(1, count)));
  parallelRun(T, [&](unsigned t) { fn(count * t / T, count * (t + 1) / T); });
}

/** fn(i) for each image i of the chunk, the images split over the threads. */
template <typename Fn>
void forImages(const Chunk& c, int64_t values, unsigned threads, const Fn& fn) {
  forRanges(c.count, values, threads, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) fn(i);
  });
}

/**
 * An image x [C, H, W] into its columns of the chunk's im2col matrix (cols points at its first
 * column, rows `ld` apart): row c·taps + t holds the P input values tap t reads for channel c
 * (0 where it reads padding). The rows of group g are g·Kc.. (its channels are g·Cg..).
 */
template <typename T>
void im2col(const T* x, const ConvShape& s, T* cols, int64_t ld) {
  const Window2d& w = s.win;
  const int64_t OW = w.OW, P = s.P, taps = int64_t(s.taps.size());
  for (int64_t c = 0; c < s.C; c++) {
    const T* plane = x + c * s.H * s.W;
    for (int64_t k = 0; k < taps; k++) {
      T* dst = cols + (c * taps + k) * ld;
      if (!s.offsets.empty()) {
        const int32_t* o = s.offsets.data() + k * P;
        for (int64_t p = 0; p < P; p++) dst[p] = o[p] < 0 ? T(0) : plane[o[p]];
        continue;
      }
      const Tap& t = s.taps[size_t(k)];
      std::fill(dst, dst + t.ohLo * OW, T(0));
      for (int64_t oh = t.ohLo; oh < t.ohHi; oh++) {
        T* d = dst + oh * OW;
        const T* row = plane + (oh * w.sH + t.offH) * s.W;
        std::fill(d, d + t.owLo, T(0));
        if (w.sW == 1) {
          std::memcpy(d + t.owLo, row + t.owLo + t.offW, size_t(t.owHi - t.owLo) * sizeof(T));
        } else {
          for (int64_t ow = t.owLo; ow < t.owHi; ow++) d[ow] = row[ow * w.sW + t.offW];
        }
        std::fill(d + t.owHi, d + OW, T(0));
      }
      std::fill(dst + t.ohHi * OW, dst + P, T(0));
    }
  }
}

/** dx [C, H, W] += an image's columns of dcols (laid out as im2col's) scattered back to the pixels they were read from. */
template <typename T>
void col2im(const T* dcols, int64_t ld, const ConvShape& s, T* dx) {
  const Window2d& w = s.win;
  const int64_t OW = w.OW, P = s.P, taps = int64_t(s.taps.size());
  for (int64_t c = 0; c < s.C; c++) {
    T* plane = dx + c * s.H * s.W;
    for (int64_t k = 0; k < taps; k++) {
      const T* src = dcols + (c * taps + k) * ld;
      if (!s.offsets.empty()) {
        const int32_t* o = s.offsets.data() + k * P;
        for (int64_t p = 0; p < P; p++)
          if (o[p] >= 0) plane[o[p]] += src[p];
        continue;
      }
      const Tap& t = s.taps[size_t(k)];
      for (int64_t oh = t.ohLo; oh < t.ohHi; oh++) {
        const T* d = src + oh * OW;
        T* row = plane + (oh * w.sH + t.offH) * s.W + t.offW;
        if (w.sW == 1) {
          for (int64_t ow = t.owLo; ow < t.owHi; ow++) row[ow] += d[ow];
        } else {
          for (int64_t ow = t.owLo; ow < t.owHi; ow++) row[ow * w.sW] += d[ow];
        }
      }
    }
  }
}

/** The chunk's im2col matrix [group·Kc, ld]: the images themselves when one 1×1 image is its own. */
template <typename T>
const T* chunkCols(const T* x, const ConvShape& s, const Chunk& c, unsigned threads) {
  const T* first = x + c.n0 * s.C * s.H * s.W;
  if (s.direct && c.count == 1) return first;
  T* cols = scratch<T>(Scratch::Cols, s.group * s.Kc * c.ld);
  forImages(c, s.group * s.Kc * c.ld, threads, [&](int64_t i) { im2col(first + i * s.C * s.H * s.W, s, cols + i * s.P, c.ld); });
  return cols;
}

/** What forward keeps for backward: the dense weight compacted to the live taps (the weight is the same). */
template <typename T>
struct ConvState : OpState {
  std::vector<T> weight;
};

/** wc [M, Cg·taps]: the weight [M, Cg, kH·kW] at the live taps (its dead taps multiply zeros). */
template <typename T>
void compactWeight(const T* w, const ConvShape& s, T* wc, unsigned threads) {
  const int64_t area = s.win.kH * s.win.kW, taps = int64_t(s.taps.size());
  forRanges(s.M * s.Cg, s.M * s.K, threads, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; r++)
      for (int64_t k = 0; k < taps; k++) wc[r * taps + k] = w[r * area + s.taps[size_t(k)].index];
  });
}

/** dw [M, Cg, kH·kW] from its live taps' gradient gwc [M, Cg·taps], 0 at the dead taps. */
template <typename T>
void spreadWeightGrad(const T* gwc, const ConvShape& s, T* dw, unsigned threads) {
  const int64_t area = s.win.kH * s.win.kW, taps = int64_t(s.taps.size());
  forRanges(s.M * s.Cg, s.M * s.K, threads, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; r++) {
      std::fill(dw + r * area, dw + (r + 1) * area, T(0));
      for (int64_t k = 0; k < taps; k++) dw[r * area + s.taps[size_t(k)].index] = gwc[r * taps + k];
    }
  });
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
    const T* b = s.bias ? ctx.inputs[2]->ptr() : nullptr;
    Tensor<T>& Y = *ctx.outputs[0];
    Y.reshape({s.N, s.M, s.win.OH, s.win.OW});
    T* y = Y.ptr();
    const T* w = ctx.inputs[1]->ptr();
    if (!L && !s.allTaps) {
      std::vector<T>& wc = opState<ConvState<T>>(ctx).weight;
      wc.resize(size_t(s.M * s.Kc));
      compactWeight(w, s, wc.data(), ctx.threads);
      w = wc.data();
    }
    const int64_t perChunk = chunkImages<T>(s);
    for (Chunk c{0, 0, 0}; c.n0 < s.N; c.n0 += c.count) {
      c.count = std::min(perChunk, s.N - c.n0);
      c.ld = c.count * s.P;
      const T* cols = chunkCols(x, s, c, ctx.threads);
      // One image: the product lands in Y itself. Several: in [M, ld], reordered below.
      T* out = c.count == 1 ? y + c.n0 * s.M * s.P : scratch<T>(Scratch::Rows, s.M * c.ld);
      for (int64_t g = 0; g < s.group; g++) {
        if (L) {
          sparseTimes<T>(*L, w, cols, c.ld, out, ctx.threads);
        } else {
          gemm<T>(false, false, s.Mg, c.ld, s.Kc, T(1), w + g * s.Mg * s.Kc, s.Kc, cols + g * s.Kc * c.ld, c.ld, T(0),
                  out + g * s.Mg * c.ld, c.ld, ctx.threads);
        }
      }
      // Y[n0 + i, m, p] = out[m, i·P + p] + b[m]
      forImages(c, s.M * c.ld, ctx.threads, [&](int64_t i) {
        T* yi = y + (c.n0 + i) * s.M * s.P;
        for (int64_t m = 0; m < s.M; m++) {
          const T bm = b ? b[m] : T(0);
          const T* src = out + m * c.ld + i * s.P;
          T* dst = yi + m * s.P;
          if (src == dst) {
            if (b)
              for (int64_t p = 0; p < s.P; p++) dst[p] += bm;
          } else {
            for (int64_t p = 0; p < s.P; p++) dst[p] = src[p] + bm;
          }
        }
      });
    }
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
    // The products overwrite the weight gradients (the first chunk's do): no zeros needed first.
    const bool overwritten = s.N > 0;
    const int64_t wSize = L ? L->nnz() : s.M * s.K;
    if (dW) {
      // A sparse weight's gradient keeps the weight's (dense) shape and holds its nnz values.
      dW->shape = ctx.inputs[1]->shape;
      if (overwritten) {
        dW->data.resize(size_t(wSize));
      } else {
        dW->data.assign(size_t(wSize), T(0));
      }
    }
    if (dWdense) {
      const Shape shape{s.M, s.C, s.win.kH, s.win.kW};
      if (overwritten) {
        dWdense->reshape(shape);
      } else {
        dWdense->zeros(shape);
      }
    }
    // The dense weight as the products use it: compacted to the live taps (by forward), and its
    // gradient [M, Kc] at the live taps, spread into dW at the end.
    const T* w = ctx.inputs[1]->ptr();
    if (dX && !L && !s.allTaps) {
      const auto* state = dynamic_cast<const ConvState<T>*>(ctx.state.get());
      if (!state || int64_t(state->weight.size()) != s.M * s.Kc) opError(ctx.node, "backward without its forward");
      w = state->weight.data();
    }
    const bool spread = dW && !L && !s.allTaps;
    T* gw = spread ? scratch<T>(Scratch::Grad, s.M * s.Kc) : dW ? dW->ptr() : nullptr;
    std::vector<T> step(L && dW ? size_t(wSize) : 0);
    const int64_t perChunk = chunkImages<T>(s);
    for (Chunk c{0, 0, 0}; c.n0 < s.N; c.n0 += c.count) {
      c.count = std::min(perChunk, s.N - c.n0);
      c.ld = c.count * s.P;
      const bool first = c.n0 == 0;
      // dY as [M, ld]: dY itself for one image, else dyc[m, i·P + p] = dY[n0 + i, m, p].
      const T* dyc = dy + c.n0 * s.M * s.P;
      if (c.count > 1) {
        T* rows = scratch<T>(Scratch::Rows, s.M * c.ld);
        const T* from = dyc;
        forImages(c, s.M * c.ld, ctx.threads, [&](int64_t i) {
          for (int64_t m = 0; m < s.M; m++)
            std::memcpy(rows + m * c.ld + i * s.P, from + (i * s.M + m) * s.P, size_t(s.P) * sizeof(T));
        });
        dyc = rows;
      }
      if (dW || dWdense) {
        const T* cols = chunkCols(x, s, c, ctx.threads);
        if (dW && L) {
          // The first chunk writes dW, the next ones add theirs.
          T* target = first ? gw : step.data();
          sparseWeightGrad<T>(*L, dyc, cols, c.ld, target, ctx.threads);
          if (!first)
            for (int64_t e = 0; e < wSize; e++) gw[e] += step[size_t(e)];
        } else if (dW) {
          for (int64_t g = 0; g < s.group; g++) {
            gemm<T>(false, true, s.Mg, s.Kc, c.ld, T(1), dyc + g * s.Mg * c.ld, c.ld, cols + g * s.Kc * c.ld, c.ld,
                    first ? T(0) : T(1), gw + g * s.Mg * s.Kc, s.Kc, ctx.threads);
          }
        }
        if (dWdense) {
          gemm<T>(false, true, s.M, s.K, c.ld, T(1), dyc, c.ld, cols, c.ld, first ? T(0) : T(1), dWdense->ptr(), s.K,
                  ctx.threads);
        }
      }
      if (dX) {
        // dcols = Wᵀ · dY; one 1×1 image's is its dX.
        T* dxc = dX->ptr() + c.n0 * s.C * s.H * s.W;
        const bool inPlace = s.direct && c.count == 1;
        T* dcols = inPlace ? dxc : scratch<T>(Scratch::Dcols, s.group * s.Kc * c.ld);
        for (int64_t g = 0; g < s.group; g++) {
          if (L) {
            sparseTransposeTimes<T>(*L, w, dyc, c.ld, dcols, ctx.threads);
          } else {
            gemm<T>(true, false, s.Kc, c.ld, s.Mg, T(1), w + g * s.Mg * s.Kc, s.Kc, dyc + g * s.Mg * c.ld, c.ld, T(0),
                    dcols + g * s.Kc * c.ld, c.ld, ctx.threads);
          }
        }
        if (!inPlace) {
          forImages(c, s.group * s.Kc * c.ld, ctx.threads,
                    [&](int64_t i) { col2im(dcols + i * s.P, c.ld, s, dxc + i * s.C * s.H * s.W); });
        }
      }
    }
    if (spread && overwritten) spreadWeightGrad(gw, s, dW->ptr(), ctx.threads);
  }
};

}  // namespace

SL_REGISTER_OP("Conv", ConvOp, 1, 2);

}  // namespace sl::train
