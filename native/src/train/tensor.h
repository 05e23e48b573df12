// The training engine's tensors: a shape and its values, row-major, owned. T is float for training
// and double for the gradient checks (every op is compiled for both).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sl::train {

using Shape = std::vector<int64_t>;

inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shapeText(const Shape& s);  // "[128, 64]"

template <typename T>
struct Tensor {
  Shape shape;
  std::vector<T> data;

  int64_t size() const { return int64_t(data.size()); }
  /** Sets the shape and sizes the data (values are kept where they were, new ones are 0). */
  void reshape(const Shape& s) {
    shape = s;
    data.resize(size_t(numel(s)));
  }
  /** Sets the shape and zeroes every value. */
  void zeros(const Shape& s) {
    shape = s;
    data.assign(size_t(numel(s)), T(0));
  }
  T* ptr() { return data.data(); }
  const T* ptr() const { return data.data(); }
};

}  // namespace sl::train
