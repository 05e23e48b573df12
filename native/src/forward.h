// Forward passes y = x · Wᵀ + b of a linear layer: condensed constant fan-in (SRigL) and dense.
#pragma once

#include <cstdint>

namespace sl {

/** y[batch, out] = x · Wᵀ + b; bias (or 0) for inactive rows. The caller checks activeRows and the sizes; indices are checked here. */
void condensedForwardKernel(uint64_t outF, uint64_t inF, uint64_t k, const int32_t* activeRows, uint64_t nActive,
                            const float* values, const int32_t* indices, const float* bias, const float* x, uint64_t batch,
                            unsigned threads, float* y);
void denseForwardKernel(const float* w, const float* bias, uint64_t outF, uint64_t inF, const float* x, uint64_t batch,
                        unsigned threads, float* y);

}  // namespace sl
