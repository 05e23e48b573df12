#include "optimizer.h"

#include <algorithm>
#include <cmath>

#include "../pool.h"

namespace sl::train {

namespace {

/** Values per thread at least: below this one thread is faster. */
constexpr int64_t kMinValuesPerThread = 1 << 16;

/** x = 0 where the mask is 0: a select, so that a random mask costs no mispredicted branches. */
void zeroInactive(float* x, const uint8_t* mask, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; i++) x[i] = mask[i] ? x[i] : 0.0f;
}

/** d = g + wd·w; buf = momentum·buf + d (buf = d on the first step); d = nesterov ? d + momentum·buf : buf; w −= lr·d. */
void sgd(const OptimizerConfig& config, float lr, float* w, const float* g, int64_t begin, int64_t end, float* buf,
         bool firstStep) {
  const float weightDecay = float(config.weightDecay), momentum = float(config.momentum);
  for (int64_t i = begin; i < end; i++) {
    float d = g[i];
    if (weightDecay != 0) d = d + weightDecay * w[i];
    if (buf) {
      buf[i] = firstStep ? d : momentum * buf[i] + d;
      d = config.nesterov ? d + momentum * buf[i] : buf[i];
    }
    w[i] = w[i] - lr * d;
  }
}

/** Decoupled weight decay, then Adam with bias correction (torch.optim.AdamW). */
void adamw(const OptimizerConfig& config, double lr, int64_t step, float* w, const float* g, int64_t begin, int64_t end, float* m,
           float* v) {
  const float decay = float(1 - lr * config.weightDecay);
  const float beta1 = float(config.beta1), beta2 = float(config.beta2);
  const float oneMinusBeta1 = float(1 - config.beta1), oneMinusBeta2 = float(1 - config.beta2);
  const float negativeStepSize = float(-lr / (1 - std::pow(config.beta1, double(step))));
  const float correction2Sqrt = float(std::sqrt(1 - std::pow(config.beta2, double(step))));
  const float epsilon = float(config.epsilon);
  for (int64_t i = begin; i < end; i++) {
    w[i] = w[i] * decay;
    m[i] = beta1 * m[i] + oneMinusBeta1 * g[i];
    v[i] = beta2 * v[i] + oneMinusBeta2 * g[i] * g[i];  // (1 − β2)·g·g in this order, as torch's addcmul
    const float denom = std::sqrt(v[i]) / correction2Sqrt + epsilon;
    w[i] = w[i] + negativeStepSize * m[i] / denom;  // torch's addcdiv: w + (value·m)/denom
  }
}

}  // namespace

void optimizerStep(const OptimizerConfig& config, double lr, int64_t step, float* w, float* g, int64_t n, const uint8_t* mask,
                   OptimizerState& state, unsigned threads) {
  const bool adam = config.kind == OptimizerConfig::Kind::AdamW;
  float *buf = nullptr, *m = nullptr, *v = nullptr;
  bool firstStep = false;
  if (adam) {
    state.expAvg.resize(size_t(n), 0.0f);
    state.expAvgSq.resize(size_t(n), 0.0f);
    m = state.expAvg.data();
    v = state.expAvgSq.data();
  } else if (config.momentum != 0) {
    firstStep = state.momentum.empty();
    state.momentum.resize(size_t(n));
    buf = state.momentum.data();
  }
  // Every value is updated on its own, so any split gives the same result.
  const unsigned T = resolveThreads(threads, uint64_t(std::max<int64_t>(1, n / kMinValuesPerThread)));
  parallelRun(T, [&](unsigned t) {
    const int64_t begin = n * t / T, end = n * (t + 1) / T;
    if (mask) zeroInactive(g, mask, begin, end);
    if (adam) {
      adamw(config, lr, step, w, g, begin, end, m, v);
    } else {
      sgd(config, float(lr), w, g, begin, end, buf, firstStep);
    }
    if (!mask) return;
    // The optimizer step, then the mask (as SRigL's reference): weights and momentum stay 0 where
    // inactive. AdamW moved w there by −lr·m̂/denom (its moments decay, not vanish); this undoes it.
    for (float* x : {w, buf})
      if (x) zeroInactive(x, mask, begin, end);
  });
}

}  // namespace sl::train
