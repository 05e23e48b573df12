// The scan's layout walker: fan-in, fan-out and N:M counts from zero masks in storage order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "geometry.h"

namespace sl {

/**
 * Fan-in, fan-out and N:M counts from zero masks given in storage order (see LayoutCounter in the
 * reference). Per-position counts are kept in bytes and flushed to 32-bit counts every 255 rows.
 * One walker per thread; a thread's range starts at an N:M group start.
 */
struct LayoutWalker {
  // Results: fanIn/fanOut point at the shared result arrays (first thread) or at fanInOwn/fanOutOwn.
  uint32_t* fanIn = nullptr;
  uint32_t* fanOut = nullptr;
  std::vector<uint32_t> fanInOwn, fanOutOwn;
  uint64_t compliant = 0;
  /** Non-zeros past n in the groups that hold more: what projecting to N:M removes. */
  uint64_t excess = 0;

  /**
   * Starts at element e0. sharedFanIn/sharedFanOut: zeroed result arrays to count into directly,
   * or null for own copies. mm = 0: no N:M counts.
   */
  void init(const TensorGeom& g, uint64_t nn, uint64_t mm, uint64_t e0, uint32_t* sharedFanIn, uint32_t* sharedFanOut);
  /** Adds the next `count` zero-mask bytes (0 or 1). */
  void add(const uint8_t* z, size_t count);
  /** Moves the byte counts into the 32-bit ones (call before reading fanIn/fanOut). */
  void flush();

 private:
  bool fan = false;
  uint64_t outDim = 1, outStride = 1, hi = 0, o = 0, lo = 0, outHi = 1;
  // Byte counts of the array vector-added per row: fanOut (outStride > 1, outHi == 1) or fanIn (outStride == 1).
  std::vector<uint8_t> acc8;
  uint32_t acc8Rows = 0;

  bool nm = false;
  uint64_t m = 0, n = 0, inDim = 1, inStride = 1, fullEnd = 0, j = 0, q = 0, gpos = 0;
  std::vector<uint32_t> cnt;
  std::vector<uint8_t> cnt8;  // group counts in bytes when m <= 255
  uint32_t cnt0 = 0;          // the group count when inStride == 1

  // [.., out] layouts (outStride == 1): runs along the neurons, once per input position.
  void addFanByNeuron(const uint8_t* z, size_t count);
  // [out, ..] layouts (outHi == 1): runs along the input positions, once per neuron.
  void addFanByPosition(const uint8_t* z, size_t count);
  void addFanGeneral(const uint8_t* z, size_t count);
  void closeGroups();
  void addNmStrided(const uint8_t* z, size_t count);
  void addNmContiguous(const uint8_t* z, size_t count);
};

}  // namespace sl
