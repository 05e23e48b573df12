// Ops that move values without computing: Flatten, Reshape (the gradient is the output's, in the
// input's shape) and Concat (the gradient is cut back into the inputs' pieces).
#include <algorithm>

#include "op.h"

namespace sl::train {

namespace {

/** An axis in [-rank, rank + extra) as a non-negative one. */
int64_t resolveAxis(const Node& node, int64_t axis, int64_t rank, int64_t extra, const std::string& what) {
  const int64_t resolved = axis < 0 ? axis + rank : axis;
  if (resolved < 0 || resolved >= rank + extra) {
    opError(node, what + " " + std::to_string(axis) + " is outside [" + std::to_string(-rank) + ", " +
                      std::to_string(rank + extra - 1) + "]");
  }
  return resolved;
}

template <typename T> const Tensor<T>& firstInput(const OpContext<T>& ctx) {
  if (ctx.inputs.empty() || !ctx.inputs[0]) opError(ctx.node, "needs an input");
  return *ctx.inputs[0];
}

/** The output is the input's values in a new shape; the gradient the output's in the input's shape. */
template <typename T> void copyReshaped(const Tensor<T>& from, const Shape& shape, Tensor<T>& to) {
  to.shape = shape;
  to.data.assign(from.data.begin(), from.data.end());
}

/** [d0 · … · d(axis−1), d(axis) · … ]. */
struct Flatten {
  template <typename T> static void forward(OpContext<T>& ctx) {
    const Tensor<T>& x = firstInput(ctx);
    const int64_t rank = int64_t(x.shape.size());
    const int64_t axis = resolveAxis(ctx.node, ctx.node.attrs.i("axis", 1), rank, 1, "axis");
    const Shape outer(x.shape.begin(), x.shape.begin() + axis), inner(x.shape.begin() + axis, x.shape.end());
    copyReshaped(x, {numel(outer), numel(inner)}, *ctx.outputs[0]);
  }

  template <typename T> static void backward(OpContext<T>& ctx) {
    if (ctx.inputGrads[0]) copyReshaped(*ctx.outputGrads[0], ctx.inputs[0]->shape, *ctx.inputGrads[0]);
  }
};

/** The intList "shape": 0 copies the input's dimension (unless allowzero), -1 is inferred. */
struct Reshape {
  static Shape targetShape(const Node& node, const Shape& in) {
    const auto found = node.attrs.intLists.find("shape");
    if (found == node.attrs.intLists.end()) opError(node, "has no target shape (the intList attribute \"shape\")");
    const bool allowZero = node.attrs.i("allowzero", 0) != 0;
    Shape out = found->second;
    int64_t inferred = -1, known = 1;
    for (size_t i = 0; i < out.size(); i++) {
      if (out[i] == 0 && !allowZero) {
        if (i >= in.size())
          opError(node, "target shape " + shapeText(found->second) + " copies axis " + std::to_string(i) +
                            " of an input of shape " + shapeText(in));
        out[i] = in[i];
      }
      if (out[i] == -1) {
        if (inferred >= 0) opError(node, "target shape " + shapeText(found->second) + " has more than one -1");
        inferred = int64_t(i);
      } else if (out[i] < 0) {
        opError(node, "target shape " + shapeText(found->second) + " has a negative dimension");
      } else {
        known *= out[i];
      }
    }
    const int64_t total = numel(in);
    if (inferred >= 0) {
      if (known == 0 || total % known != 0) {
        opError(node, "cannot reshape an input of shape " + shapeText(in) + " to " + shapeText(found->second));
      }
      out[size_t(inferred)] = total / known;
    }
    if (numel(out) != total) {
      opError(node, "cannot reshape an input of shape " + shapeText(in) + " (" + std::to_string(total) + " values) to " +
                        shapeText(out));
    }
    return out;
  }

  template <typename T> static void forward(OpContext<T>& ctx) {
    const Tensor<T>& x = firstInput(ctx);
    copyReshaped(x, targetShape(ctx.node, x.shape), *ctx.outputs[0]);
  }

  template <typename T> static void backward(OpContext<T>& ctx) {
    if (ctx.inputGrads[0]) copyReshaped(*ctx.outputGrads[0], ctx.inputs[0]->shape, *ctx.inputGrads[0]);
  }
};

/** The inputs side by side along `axis`; every other dimension must agree. */
struct Concat {
  /** Each input's part of a row: the product of its dimensions from the axis on. */
  template <typename T> static void layout(const OpContext<T>& ctx, int64_t& axis, Shape& outShape, int64_t& outer) {
    const Node& node = ctx.node;
    if (ctx.inputs.empty()) opError(node, "needs at least one input");
    for (size_t k = 0; k < ctx.inputs.size(); k++)
      if (!ctx.inputs[k]) opError(node, "input " + std::to_string(k) + " is missing");
    const Shape& first = ctx.inputs[0]->shape;
    axis = resolveAxis(node, node.attrs.i("axis", 0), int64_t(first.size()), 0, "axis");
    outShape = first;
    outShape[size_t(axis)] = 0;
    for (size_t k = 0; k < ctx.inputs.size(); k++) {
      const Shape& s = ctx.inputs[k]->shape;
      bool fits = s.size() == first.size();
      for (size_t d = 0; fits && d < s.size(); d++) fits = int64_t(d) == axis || s[d] == first[d];
      if (!fits) {
        opError(node, "input " + std::to_string(k) + " has shape " + shapeText(s) + ", which does not fit input 0's " +
                          shapeText(first) + " along axis " + std::to_string(axis));
      }
      outShape[size_t(axis)] += s[size_t(axis)];
    }
    outer = numel(Shape(first.begin(), first.begin() + axis));
  }

  template <typename T> static void forward(OpContext<T>& ctx) {
    int64_t axis, outer;
    Shape outShape;
    layout(ctx, axis, outShape, outer);
    Tensor<T>& y = *ctx.outputs[0];
    y.reshape(outShape);
    const int64_t rowOut = outer ? y.size() / outer : 0;
    int64_t offset = 0;
    for (const Tensor<T>* x : ctx.inputs) {
      const int64_t row = outer ? x->size() / outer : 0;
      for (int64_t o = 0; o < outer; o++) std::copy_n(x->ptr() + o * row, row, y.ptr() + o * rowOut + offset);
      offset += row;
    }
  }

  template <typename T> static void backward(OpContext<T>& ctx) {
    int64_t axis, outer;
    Shape outShape;
    layout(ctx, axis, outShape, outer);
    const Tensor<T>& g = *ctx.outputGrads[0];
    const int64_t rowOut = outer ? g.size() / outer : 0;
    int64_t offset = 0;
    for (size_t k = 0; k < ctx.inputs.size(); k++) {
      const int64_t row = outer ? ctx.inputs[k]->size() / outer : 0;
      if (Tensor<T>* dx = ctx.inputGrads[k]) {
        dx->reshape(ctx.inputs[k]->shape);
        for (int64_t o = 0; o < outer; o++) std::copy_n(g.ptr() + o * rowOut + offset, row, dx->ptr() + o * row);
      }
      offset += row;
    }
  }
};

}  // namespace

SL_REGISTER_OP("Flatten", Flatten);
SL_REGISTER_OP("Reshape", Reshape);
SL_REGISTER_OP("Concat", Concat);

}  // namespace sl::train
