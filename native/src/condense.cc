#include "condense.h"

#include <cstring>
#include <string>

#include "error.h"

namespace sl {

namespace {
inline bool nonZero(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return (u & 0x7fffffffu) != 0;
}
}  // namespace

CondensePlan condensePlan(const float* w, uint64_t outF, uint64_t inF) {
  CondensePlan plan;
  for (uint64_t r = 0; r < outF; r++) {
    const float* row = w + r * inF;
    uint64_t count = 0;
    for (uint64_t c = 0; c < inF; c++) count += nonZero(row[c]);
    if (count == 0) continue;
    if (plan.activeRows.empty()) plan.k = count;
    else if (count != plan.k) {
      throw Error("not constant fan-in: row " + std::to_string(r) + " has " + std::to_string(count) +
                  " non-zeros, expected " + std::to_string(plan.k));
    }
    plan.activeRows.push_back(int32_t(r));
  }
  return plan;
}

void condenseFill(const float* w, uint64_t inF, const CondensePlan& plan, float* values, int32_t* indices) {
  size_t at = 0;
  for (int32_t r : plan.activeRows) {
    const float* row = w + uint64_t(r) * inF;
    for (uint64_t c = 0; c < inF; c++) {
      if (nonZero(row[c])) {
        values[at] = row[c];
        indices[at++] = int32_t(c);
      }
    }
  }
}

}  // namespace sl
