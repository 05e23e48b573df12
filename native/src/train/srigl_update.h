// One SRigL mask update of one layer (spec §3.3, §3.4, §4), the port of
// src/core/train/sriglUpdate.ts `sriglLayerUpdate`: every output bit for bit the same, and the
// same errors with the same messages. The TypeScript stays the reference (the srigl-step tool,
// the fixtures against PyTorch); this one runs in the job worker, where big layers made the JS slow.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../error.h"

namespace sl::train {

/** The update cannot be done as the spec says: the TypeScript SriglUpdateError, same message. */
struct SriglUpdateError : sl::Error {
  using sl::Error::Error;
};

struct SriglLayerOptions {
  /** The layer's target sparsity s. */
  double sparsity = 0;
  /** f: the share of the active weights dropped. */
  double dropFraction = 0;
  /** False: no ablation (gammaSal null in TypeScript). */
  bool ablation = false;
  /** γ_sal (a count when ≥ 1, else a share of k0); read only with `ablation`. */
  double gammaSal = 0;
};

/**
 * The figures of an update. The counts are doubles as in TypeScript, where they are JS numbers:
 * odd options (a sparsity outside (0, 1), NaN) give the same odd values there and here.
 */
struct SriglLayerFigures {
  /** The fan-in of every active neuron after the update. */
  double k = 0;
  double nKeep = 0;
  double nPrune = 0;
  /** Ablated neurons, ascending (their rows are all 0). */
  std::vector<int64_t> ablated;
  /** Whether there was an ablation step (then `threshold` holds its salient count). */
  bool hasThreshold = false;
  double threshold = 0;
  /** Positions active now that were not before. */
  int64_t grown = 0;
  /** Positions active before that are not now. */
  int64_t dropped = 0;
};

/**
 * The update on the [rows, cols] view (row = output neuron): weights, mask (non-zero = active) and
 * the dense gradient in, each rows × cols; the new weights and the new 0/1 mask written to
 * outWeights and outMask (rows × cols each, not aliasing the inputs). Throws SriglUpdateError.
 */
SriglLayerFigures sriglLayerUpdate(int64_t rows, int64_t cols, const float* weights, const uint8_t* mask, const float* grads,
                                   const SriglLayerOptions& options, float* outWeights, uint8_t* outMask);

/** A number as JavaScript's String(v) writes it (the messages quote the options as TypeScript does). */
std::string jsNumberText(double v);

}  // namespace sl::train
