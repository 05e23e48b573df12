// The optimizer step, with PyTorch's semantics in float (torch.optim.SGD and torch.optim.AdamW,
// single-tensor form): one call per parameter per training step.
#pragma once

#include <cstdint>
#include <vector>

#include "session.h"

namespace sl::train {

/** A parameter's optimizer state: SGD's momentum buffer, or AdamW's moments. */
struct OptimizerState {
  std::vector<float> momentum;  // SGD, allocated on the first step (PyTorch's buf = d then)
  std::vector<float> expAvg, expAvgSq;
};

/**
 * Updates the n values w with their gradient g at learning rate lr; `step` counts the steps so far,
 * this one included (AdamW's bias correction). With a mask (dense weights trained masked, 1 =
 * active): the gradient is masked first, and after the step the weights and SGD's momentum are
 * zeroed where the mask is 0 (the gradient array is modified). AdamW's moments are not: with a zero
 * gradient they decay by β1 and β2 each step, which is what a position regrown by a mask update
 * continues from (as in SRigL's reference, which never resets them).
 */
void optimizerStep(const OptimizerConfig& config, double lr, int64_t step, float* w, float* g, int64_t n, const uint8_t* mask,
                   OptimizerState& state, unsigned threads);

}  // namespace sl::train
