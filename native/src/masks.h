// Pruning masks: N:M (the N largest |w| of every group of M along the input axis) and constant
// fan-in (the k largest |w| of every output neuron).
#pragma once

#include <cstdint>

#include "geometry.h"
#include "source.h"

namespace sl {

/** mask: numel zeroed bytes; g has a layout; m >= 1. */
void nmMaskKernel(const Source& src, const TensorGeom& g, uint64_t n, uint64_t m, unsigned threads, uint8_t* mask);
/** mask: numel zeroed bytes; g has a layout. */
void fanInMaskKernel(const Source& src, const TensorGeom& g, uint64_t k, unsigned threads, uint8_t* mask);

}  // namespace sl
