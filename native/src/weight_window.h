// weightWindow: the signed weights of a window of a weight's [neurons, fan-in positions] view, as
// readWeightWindow (src/core/analysis/weightWindow.ts) gives them, reading only the storage runs
// the window covers.
#pragma once

#include <cstdint>

#include "geometry.h"
#include "source.h"

namespace sl {

/** Most bytes of storage a window may span, from its first weight to its last; wider ones are refused. */
constexpr uint64_t kMaxWindowSpanBytes = uint64_t(64) << 20;

/** Throws unless the window (inside g's view, see checkedWindow) spans at most kMaxWindowSpanBytes. */
void checkWindowSpan(const TensorGeom& g, const ViewWindow& w);

/**
 * out[(r - rowStart) * (colEnd - colStart) + (c - colStart)] = the value at view (r, c), decoded
 * to float64 (complex: magnitude) and rounded to float32, for a window checkWindowSpan accepted.
 */
void weightWindowKernel(const Source& src, const TensorGeom& g, const ViewWindow& w, float* out);

}  // namespace sl
