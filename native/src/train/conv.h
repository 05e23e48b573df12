// The 2-D sliding-window geometry shared by Conv (conv.cc) and the pools (pooling.cc): strides,
// dilations, pads [top, left, bottom, right] or auto_pad, and the output size, as ONNX defines them.
#pragma once

#include <cstdint>
#include <string>

#include "op.h"

namespace sl::train {

struct Window2d {
  int64_t kH = 1, kW = 1;          // kernel
  int64_t sH = 1, sW = 1;          // strides
  int64_t dH = 1, dW = 1;          // dilations
  int64_t padT = 0, padL = 0, padB = 0, padR = 0;
  int64_t OH = 0, OW = 0;          // output size

  /** The kernel's extent along an axis once dilated. */
  int64_t extentH() const { return (kH - 1) * dH + 1; }
  int64_t extentW() const { return (kW - 1) * dW + 1; }
};

/**
 * The window of a node over an H × W input with kernel kH × kW: reads strides, dilations, pads and
 * auto_pad (NOTSET, VALID, SAME_UPPER, SAME_LOWER) from its attributes; ceilMode rounds the output
 * size up (the pools' ceil_mode, where a last window starting past the input and its top/left pad is
 * dropped). Errors through opError for a malformed attribute or an output smaller than 1 × 1.
 */
Window2d windowGeometry(const Node& node, int64_t H, int64_t W, int64_t kH, int64_t kW, bool ceilMode);

}  // namespace sl::train
