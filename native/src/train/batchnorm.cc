// BatchNormalization with frozen statistics (as a network fine-tuned in eval mode): per channel c
// (axis 1), y = scale[c] · (x − mean[c]) / √(var[c] + ε) + B[c]. Only scale and B train; the
// gradients of mean and var are computed too, for the gradient checks.
#include <cmath>

#include "op.h"

namespace sl::train {

namespace {

struct BatchNormalization {
  /** [outer = N, channels = C, inner = spatial size]. */
  template <typename T> static void layout(const OpContext<T>& ctx, int64_t& outer, int64_t& channels, int64_t& inner) {
    const Node& node = ctx.node;
    if (ctx.inputs.size() < 5) opError(node, "needs inputs X, scale, B, mean and var");
    for (size_t k = 0; k < 5; k++)
      if (!ctx.inputs[k]) opError(node, "input " + std::to_string(k) + " is missing");
    const Shape& x = ctx.inputs[0]->shape;
    if (x.size() < 2) opError(node, "input 0 has shape " + shapeText(x) + "; it needs a channel axis (rank 2 or more)");
    outer = x[0];
    channels = x[1];
    inner = numel(Shape(x.begin() + 2, x.end()));
    static const char* const names[] = {"X", "scale", "B", "mean", "var"};
    for (size_t k = 1; k < 5; k++) {
      if (ctx.inputs[k]->size() != channels || ctx.inputs[k]->shape.size() != 1) {
        opError(node, std::string("input ") + std::to_string(k) + " (" + names[k] + ") has shape " +
                          shapeText(ctx.inputs[k]->shape) + "; the input has " + std::to_string(channels) + " channels");
      }
    }
  }

  template <typename T> static void forward(OpContext<T>& ctx) {
    int64_t outer, channels, inner;
    layout(ctx, outer, channels, inner);
    const double epsilon = ctx.node.attrs.f("epsilon", 1e-5);
    const T *x = ctx.inputs[0]->ptr(), *scale = ctx.inputs[1]->ptr(), *bias = ctx.inputs[2]->ptr();
    const T *mean = ctx.inputs[3]->ptr(), *var = ctx.inputs[4]->ptr();
    Tensor<T>& y = *ctx.outputs[0];
    y.reshape(ctx.inputs[0]->shape);
    for (int64_t c = 0; c < channels; c++) {
      const T factor = scale[c] / std::sqrt(var[c] + T(epsilon));
      for (int64_t n = 0; n < outer; n++) {
        const int64_t base = (n * channels + c) * inner;
        for (int64_t i = 0; i < inner; i++) y.data[size_t(base + i)] = factor * (x[base + i] - mean[c]) + bias[c];
      }
    }
  }

  template <typename T> static void backward(OpContext<T>& ctx) {
    int64_t outer, channels, inner;
    layout(ctx, outer, channels, inner);
    const double epsilon = ctx.node.attrs.f("epsilon", 1e-5);
    const T *x = ctx.inputs[0]->ptr(), *scale = ctx.inputs[1]->ptr();
    const T *mean = ctx.inputs[3]->ptr(), *var = ctx.inputs[4]->ptr();
    const T* g = ctx.outputGrads[0]->ptr();
    Tensor<T>* dx = ctx.inputGrads[0];
    if (dx) dx->reshape(ctx.inputs[0]->shape);
    for (size_t k = 1; k < 5; k++)
      if (ctx.inputGrads[k]) ctx.inputGrads[k]->zeros(ctx.inputs[k]->shape);
    for (int64_t c = 0; c < channels; c++) {
      const T invStd = T(1) / std::sqrt(var[c] + T(epsilon));
      T sumG = 0, sumGXhat = 0;  // Σ g and Σ g·(x − mean)/σ over the channel
      for (int64_t n = 0; n < outer; n++) {
        const int64_t base = (n * channels + c) * inner;
        for (int64_t i = 0; i < inner; i++) {
          sumG += g[base + i];
          sumGXhat += g[base + i] * (x[base + i] - mean[c]) * invStd;
          if (dx) dx->data[size_t(base + i)] = g[base + i] * scale[c] * invStd;
        }
      }
      if (ctx.inputGrads[1]) ctx.inputGrads[1]->data[size_t(c)] = sumGXhat;
      if (ctx.inputGrads[2]) ctx.inputGrads[2]->data[size_t(c)] = sumG;
      if (ctx.inputGrads[3]) ctx.inputGrads[3]->data[size_t(c)] = -scale[c] * invStd * sumG;
      if (ctx.inputGrads[4]) ctx.inputGrads[4]->data[size_t(c)] = T(-0.5) * scale[c] * invStd * invStd * sumGXhat;
    }
  }
};

}  // namespace

SL_REGISTER_OP("BatchNormalization", BatchNormalization, 1, 2);

}  // namespace sl::train
