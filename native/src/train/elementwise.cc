// Elementwise ops, forward beside backward: Add, Sub, Mul, Div with ONNX multidirectional
// broadcasting (a gradient is summed over the axes its input was broadcast along), and the
// activations Relu, LeakyRelu, Sigmoid, Tanh, Erf, Gelu, Identity and Dropout (as at inference).
#include <algorithm>
#include <cmath>

#include "op.h"

namespace sl::train {

namespace {

// ---------------------------------------------------------------------------------------------
// Broadcasting

/** ONNX's multidirectional broadcast of two shapes (numpy's rules). */
Shape broadcastShape(const Node& node, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; i++) {
    const int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
    const int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
    if (da != db && da != 1 && db != 1) {
      opError(node,
              "input shapes " + shapeText(a) + " and " + shapeText(b) + " do not broadcast (axis " + std::to_string(i) + ")");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

/** Strides of a tensor of shape `s` indexed by the positions of `out` (0 along broadcast axes). */
std::vector<int64_t> broadcastStrides(const Shape& s, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t k = 0; k < s.size(); k++) {
    const size_t i = s.size() - 1 - k, o = out.size() - 1 - k;
    strides[o] = s[i] == 1 ? 0 : stride;
    stride *= s[i];
  }
  return strides;
}

/** Calls f(out index, a index, b index) for every element of `out`, in order. */
template <class F> void forEachBroadcast(const Shape& out, const Shape& a, const Shape& b, F f) {
  const int64_t total = numel(out);
  if (total == 0) return;
  if (a == out && b == out) {
    for (int64_t i = 0; i < total; i++) f(i, i, i);
    return;
  }
  const std::vector<int64_t> sa = broadcastStrides(a, out), sb = broadcastStrides(b, out);
  const size_t rank = out.size();
  const int64_t inner = rank ? out.back() : 1;
  const int64_t innerA = rank ? sa.back() : 0, innerB = rank ? sb.back() : 0;
  std::vector<int64_t> index(rank, 0);
  int64_t ia = 0, ib = 0;
  for (int64_t o = 0; o < total; o += inner) {
    for (int64_t j = 0; j < inner; j++) f(o + j, ia + j * innerA, ib + j * innerB);
    // Next position of the outer axes (an odometer), moving the a and b offsets along.
    for (size_t axis = rank - 1; axis-- > 0;) {
      ia += sa[axis];
      ib += sb[axis];
      if (++index[axis] < out[axis]) break;
      ia -= sa[axis] * out[axis];
      ib -= sb[axis] * out[axis];
      index[axis] = 0;
    }
  }
}

template <typename T> void requireInputs(const OpContext<T>& ctx, size_t count) {
  if (ctx.inputs.size() < count) opError(ctx.node, "needs " + std::to_string(count) + " inputs");
  for (size_t i = 0; i < count; i++)
    if (!ctx.inputs[i]) opError(ctx.node, "input " + std::to_string(i) + " is missing");
}

/**
 * A binary op: Fn::value(a, b), and its partial derivatives Fn::da(a, b) and Fn::db(a, b) (each
 * multiplied by the output gradient and summed into the input's shape).
 */
template <class Fn> struct Binary {
  template <typename T> static void forward(OpContext<T>& ctx) {
    requireInputs(ctx, 2);
    const Tensor<T>& a = *ctx.inputs[0];
    const Tensor<T>& b = *ctx.inputs[1];
    Tensor<T>& y = *ctx.outputs[0];
    y.reshape(broadcastShape(ctx.node, a.shape, b.shape));
    const T *pa = a.ptr(), *pb = b.ptr();
    T* py = y.ptr();
    forEachBroadcast(y.shape, a.shape, b.shape, [&](int64_t o, int64_t i, int64_t j) { py[o] = Fn::value(pa[i], pb[j]); });
  }

  template <typename T> static void backward(OpContext<T>& ctx) {
    const Tensor<T>& a = *ctx.inputs[0];
    const Tensor<T>& b = *ctx.inputs[1];
    const Shape& out = ctx.outputs[0]->shape;
    const T *pa = a.ptr(), *pb = b.ptr(), *g = ctx.outputGrads[0]->ptr();
    if (Tensor<T>* da = ctx.inputGrads[0]) {
      da->zeros(a.shape);
      T* d = da->ptr();
      forEachBroadcast(out, a.shape, b.shape, [&](int64_t o, int64_t i, int64_t j) { d[i] += g[o] * Fn::da(pa[i], pb[j]); });
    }
    if (Tensor<T>* db = ctx.inputGrads[1]) {
      db->zeros(b.shape);
      T* d = db->ptr();
      forEachBroadcast(out, a.shape, b.shape, [&](int64_t o, int64_t i, int64_t j) { d[j] += g[o] * Fn::db(pa[i], pb[j]); });
    }
  }
};

struct AddFn {
  template <typename T> static T value(T a, T b) { return a + b; }
  template <typename T> static T da(T, T) { return T(1); }
  template <typename T> static T db(T, T) { return T(1); }
};
struct SubFn {
  template <typename T> static T value(T a, T b) { return a - b; }
  template <typename T> static T da(T, T) { return T(1); }
  template <typename T> static T db(T, T) { return T(-1); }
};
struct MulFn {
  template <typename T> static T value(T a, T b) { return a * b; }
  template <typename T> static T da(T, T b) { return b; }
  template <typename T> static T db(T a, T) { return a; }
};
struct DivFn {
  template <typename T> static T value(T a, T b) { return a / b; }
  template <typename T> static T da(T, T b) { return T(1) / b; }
  template <typename T> static T db(T a, T b) { return -a / (b * b); }
};

struct Add : Binary<AddFn> {};
struct Sub : Binary<SubFn> {};
struct Mul : Binary<MulFn> {};
struct Div : Binary<DivFn> {};

// ---------------------------------------------------------------------------------------------
// Activations

/**
 * A unary op: Fn::value(x, attrs) and its derivative Fn::derivative(x, y, attrs) (from the input
 * or the output, whichever is cheaper). Inputs past the first (Dropout's ratio and training mode)
 * have no influence, so their gradient is zero.
 */
template <class Fn> struct Unary {
  template <typename T> static void forward(OpContext<T>& ctx) {
    requireInputs(ctx, 1);
    const Tensor<T>& x = *ctx.inputs[0];
    Tensor<T>& y = *ctx.outputs[0];
    y.reshape(x.shape);
    const Fn fn(ctx.node.attrs);
    for (int64_t i = 0; i < x.size(); i++) y.data[size_t(i)] = fn.value(x.data[size_t(i)]);
    for (size_t k = 1; k < ctx.outputs.size(); k++) {
      if (!ctx.outputs[k]) continue;
      ctx.outputs[k]->shape = x.shape;
      ctx.outputs[k]->data.assign(x.data.size(), T(1));
    }
  }

  template <typename T> static void backward(OpContext<T>& ctx) {
    const Tensor<T>& x = *ctx.inputs[0];
    const Tensor<T>& y = *ctx.outputs[0];
    const Tensor<T>& g = *ctx.outputGrads[0];
    if (Tensor<T>* dx = ctx.inputGrads[0]) {
      dx->reshape(x.shape);
      const Fn fn(ctx.node.attrs);
      for (int64_t i = 0; i < x.size(); i++) {
        dx->data[size_t(i)] = g.data[size_t(i)] * fn.derivative(x.data[size_t(i)], y.data[size_t(i)]);
      }
    }
    for (size_t k = 1; k < ctx.inputGrads.size(); k++) {
      if (ctx.inputGrads[k] && ctx.inputs[k]) ctx.inputGrads[k]->zeros(ctx.inputs[k]->shape);
    }
  }
};

struct IdentityFn {
  explicit IdentityFn(const Attributes&) {}
  template <typename T> T value(T x) const { return x; }
  template <typename T> T derivative(T, T) const { return T(1); }
};

struct ReluFn {
  explicit ReluFn(const Attributes&) {}
  template <typename T> T value(T x) const { return x > 0 ? x : T(0); }
  template <typename T> T derivative(T x, T) const { return x > 0 ? T(1) : T(0); }
};

struct LeakyReluFn {
  double alpha;
  explicit LeakyReluFn(const Attributes& a) : alpha(a.f("alpha", 0.01)) {}
  template <typename T> T value(T x) const { return x > 0 ? x : T(alpha) * x; }
  template <typename T> T derivative(T x, T) const { return x > 0 ? T(1) : T(alpha); }
};

struct SigmoidFn {
  explicit SigmoidFn(const Attributes&) {}
  /** Written so that exp never overflows. */
  template <typename T> T value(T x) const {
    if (x >= 0) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
  }
  template <typename T> T derivative(T, T y) const { return y * (T(1) - y); }
};

struct TanhFn {
  explicit TanhFn(const Attributes&) {}
  template <typename T> T value(T x) const { return std::tanh(x); }
  template <typename T> T derivative(T, T y) const { return T(1) - y * y; }
};

constexpr double kTwoOverSqrtPi = 1.12837916709551257390;  // 2/√π
constexpr double kSqrtHalf = 0.70710678118654752440;       // 1/√2
constexpr double kSqrtTwoOverPi = 0.79788456080286535588;  // √(2/π)

struct ErfFn {
  explicit ErfFn(const Attributes&) {}
  template <typename T> T value(T x) const { return std::erf(x); }
  template <typename T> T derivative(T x, T) const { return T(kTwoOverSqrtPi) * std::exp(-x * x); }
};

/** x·Φ(x) ("none", with erf) or its tanh approximation ("tanh"). */
struct GeluFn {
  bool tanhForm;
  explicit GeluFn(const Attributes& a) : tanhForm(a.s("approximate", "none") == "tanh") {}
  template <typename T> T value(T x) const {
    if (tanhForm) return T(0.5) * x * (T(1) + std::tanh(T(kSqrtTwoOverPi) * (x + T(0.044715) * x * x * x)));
    return T(0.5) * x * (T(1) + std::erf(x * T(kSqrtHalf)));
  }
  template <typename T> T derivative(T x, T) const {
    if (tanhForm) {
      const T t = std::tanh(T(kSqrtTwoOverPi) * (x + T(0.044715) * x * x * x));
      return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * T(kSqrtTwoOverPi) * (T(1) + T(3 * 0.044715) * x * x);
    }
    return T(0.5) * (T(1) + std::erf(x * T(kSqrtHalf))) + x * T(0.5 * kTwoOverSqrtPi * kSqrtHalf) * std::exp(T(-0.5) * x * x);
  }
};

struct Identity : Unary<IdentityFn> {};
/** At inference Dropout passes its input through; its optional mask output is all ones. */
struct Dropout : Unary<IdentityFn> {};
struct Relu : Unary<ReluFn> {};
struct LeakyRelu : Unary<LeakyReluFn> {};
struct Sigmoid : Unary<SigmoidFn> {};
struct Tanh : Unary<TanhFn> {};
struct Erf : Unary<ErfFn> {};
struct Gelu : Unary<GeluFn> {};

}  // namespace

SL_REGISTER_OP("Add", Add, 0, 1);
SL_REGISTER_OP("Sub", Sub, 0, 1);
SL_REGISTER_OP("Mul", Mul, 0, 1);
SL_REGISTER_OP("Div", Div, 0, 1);
SL_REGISTER_OP("Identity", Identity);
SL_REGISTER_OP("Dropout", Dropout);
SL_REGISTER_OP("Relu", Relu);
SL_REGISTER_OP("LeakyRelu", LeakyRelu);
SL_REGISTER_OP("Sigmoid", Sigmoid);
SL_REGISTER_OP("Tanh", Tanh);
SL_REGISTER_OP("Erf", Erf);
SL_REGISTER_OP("Gelu", Gelu);

}  // namespace sl::train
