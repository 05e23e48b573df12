// condense: a [out, in] float32 weight with constant fan-in as, per active row, its k non-zero
// values and their column indices (-0.0 counts as zero).
#pragma once

#include <cstdint>
#include <vector>

namespace sl {

struct CondensePlan {
  uint64_t k = 0;                   // non-zeros of every active row
  std::vector<int32_t> activeRows;  // rows with any non-zero, ascending
};

/** The active rows and k; throws "not constant fan-in" when two active rows differ. */
CondensePlan condensePlan(const float* w, uint64_t outF, uint64_t inF);
/** values, indices: plan.activeRows.size() × plan.k each, row by row, columns ascending. */
void condenseFill(const float* w, uint64_t inF, const CondensePlan& plan, float* values, int32_t* indices);

}  // namespace sl
