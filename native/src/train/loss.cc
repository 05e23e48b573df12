#include "loss.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "../error.h"

namespace sl::train {

namespace {

/** log Σ_c exp(scale · row[c]), with the maximum taken out first so that nothing overflows. */
template <typename T> double logSumExp(const T* row, int64_t classes, double scale) {
  double top = -INFINITY;
  for (int64_t c = 0; c < classes; c++) top = std::max(top, scale * double(row[c]));
  double sum = 0;
  for (int64_t c = 0; c < classes; c++) sum += std::exp(scale * double(row[c]) - top);
  return top + std::log(sum);
}

}  // namespace

template <typename T>
double softmaxLoss(const T* logits, int64_t batch, int64_t classes, const int32_t* labels, const T* teacher, double temperature,
                   T* grad) {
  if (batch <= 0 || classes <= 0) throw Error("the loss needs at least one sample and one class");
  if (!labels && !(temperature > 0 && std::isfinite(temperature))) {
    throw Error("the distillation temperature must be a positive number, not " + std::to_string(temperature));
  }
  double total = 0;
  for (int64_t b = 0; b < batch; b++) {
    const T* z = logits + b * classes;
    T* g = grad + b * classes;
    if (labels) {
      const int32_t label = labels[b];
      if (label < 0 || label >= classes) {
        throw Error("label " + std::to_string(label) + " of sample " + std::to_string(b) + " is outside [0, " +
                    std::to_string(classes) + ")");
      }
      const double lse = logSumExp(z, classes, 1.0);
      total += lse - double(z[label]);
      // d/dz of the mean: (softmax(z) − onehot(label)) / batch.
      for (int64_t c = 0; c < classes; c++) g[c] = T((std::exp(double(z[c]) - lse) - (c == label ? 1.0 : 0.0)) / double(batch));
    } else {
      const T* t = teacher + b * classes;
      const double scale = 1 / temperature;
      const double lseStudent = logSumExp(z, classes, scale), lseTeacher = logSumExp(t, classes, scale);
      double kl = 0;
      for (int64_t c = 0; c < classes; c++) {
        const double logP = scale * double(t[c]) - lseTeacher, logQ = scale * double(z[c]) - lseStudent;
        const double p = std::exp(logP);
        kl += p * (logP - logQ);
        // d/dz of T² · KL / batch: T · (q − p) / batch.
        g[c] = T(temperature * (std::exp(logQ) - p) / double(batch));
      }
      total += temperature * temperature * kl;
    }
  }
  return total / double(batch);
}

template double softmaxLoss<float>(const float*, int64_t, int64_t, const int32_t*, const float*, double, float*);
template double softmaxLoss<double>(const double*, int64_t, int64_t, const int32_t*, const double*, double, double*);

}  // namespace sl::train
