// The opaque training session (llm.c's build / forward / backward / update / free): a program of
// ops over numbered values, its parameters with their optimizer state, and one step = forward,
// loss, backward, optimizer update, mask. Built once from the program the TypeScript side made of
// an ONNX graph (src/core/train/trainingProgram.ts); driven one short step at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "op.h"
#include "tensor.h"

namespace sl::train {

/**
 * At most this density a masked weight trains in the sparse layout by default; above, dense with
 * its mask. Measured: the 784-3072-768-10 MLP at batch 128 steps as fast either way near 0.4
 * (the sparse products run at about 40 % of the dense GEMM's rate), so 2:4 (0.5) trains dense.
 */
constexpr double kSparseDensity = 0.4;

struct Param {
  int value = -1;      // the value id the graph reads it as
  std::string name;    // the initializer's name
  Shape shape;
  std::vector<float> data;   // dense, row-major
  bool trainable = false;
  /**
   * Empty: dense. Else 0/1 per element (1 = active), changed only by Session::setMasks: inactive
   * weights, their gradients and SGD momentum stay exactly 0. The session trains the weight in the
   * sparse layout when its density is at most Program::sparseDensity, else dense with the mask
   * applied; the choice is made once, at construction.
   */
  std::vector<uint8_t> mask;
};

struct Program {
  int valueCount = 0;
  int input = -1;    // the value fed with a batch [B, ...sampleShape]
  int output = -1;   // the logits [B, classes]
  Shape sampleShape;
  std::vector<Node> nodes;   // in an order where every input is computed before use
  std::vector<Param> params;
  /** Masked weights at most this dense train in the sparse layout (0: every one dense with its mask). */
  double sparseDensity = kSparseDensity;
};

struct OptimizerConfig {
  enum class Kind { Sgd, AdamW } kind = Kind::Sgd;
  double momentum = 0.9, weightDecay = 0, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
  bool nesterov = false;
};

/** Labels: class per sample. Distillation: the teacher's logits per sample, softened by temperature. */
struct Targets {
  const int32_t* labels = nullptr;
  const float* teacherLogits = nullptr;
  int64_t teacherValues = 0;  // how many teacherLogits holds: checked against [batch, classes]
  double temperature = 1;
};

/** A masked weight's new mask and values (both dense, row-major, of the weight's size). */
struct MaskUpdate {
  std::string name;               // the parameter's (initializer's) name
  const uint8_t* mask = nullptr;  // 0/1, 1 = active
  int64_t maskLength = 0;
  const float* values = nullptr;  // the weight's new values; those at inactive positions are dropped
  int64_t valueCount = 0;
};

class Session {
 public:
  Session(Program program, OptimizerConfig optimizer, unsigned threads);
  ~Session();
  /**
   * One training step on a batch: forward, loss (softmax cross-entropy on labels, or T²·KL to the
   * teacher's softened outputs; mean over the batch), backward, optimizer update at learning
   * rate lr, then masks. With denseGradients, masked weights also keep their dense gradient.
   * Returns the batch's loss (before the update).
   */
  double step(const float* x, int64_t batch, const Targets& targets, double lr, bool denseGradients);
  /** The logits of a batch, without training: [batch, classes]. */
  void predict(const float* x, int64_t batch, std::vector<float>& logits);
  /**
   * Current values of every trainable parameter, dense (zeros at inactive positions); with `names`,
   * of only those (in the session's order), throwing an error that names any that is not one.
   */
  std::vector<std::pair<std::string, std::vector<float>>> parameters(const std::vector<std::string>* names = nullptr) const;
  /**
   * The dense gradients of the masked weights (trained sparse or dense with their mask) from the
   * last step run with denseGradients, before masking: what a mask update needs to regrow.
   */
  std::vector<std::pair<std::string, std::vector<float>>> denseGradients() const;
  /**
   * Gives weights built with a mask new masks and values (a dynamic sparse training's mask update):
   * each weight becomes values·mask and keeps the way it trains (sparse or masked). Checks every
   * update first and throws, changing nothing, on an unknown name, a weight without a mask or not
   * trained, a size that is not the weight's, or a mask value other than 0 and 1.
   *
   * Optimizer state: SGD momentum is kept where the weight stays active and 0 elsewhere. AdamW's
   * moments are kept too, and a regrown position continues from the moments it had when it went
   * inactive, decayed by β1 and β2 for every step since (what training dense with the mask holds:
   * its gradient there was 0); with resetOptimizerState, regrown positions start from zero
   * moments instead. The weights' dense gradients from the last step are dropped.
   */
  void setMasks(const std::vector<MaskUpdate>& updates, bool resetOptimizerState);
  /**
   * Per trainable parameter: how it trains ("dense", "masked d=0.50", "sparse d=0.10", or
   * "frozen" where its op does not train that input, as BatchNormalization's statistics).
   */
  std::vector<std::pair<std::string, std::string>> describe() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/**
 * A weight (input 1 of Gemm, MatMul, Conv) trained sparse: its layout over the op's [out, fan-in]
 * view, and for each active value in layout order its index in the stored (dense, row-major) weight.
 */
struct SparseWeight {
  SparseLayout layout;
  std::vector<int64_t> denseIndex;
};

/**
 * The sparse form of `node`'s weight of stored shape `shape` under `mask` (1 = active). False
 * when the op cannot take its weight sparse (another op; a Gemm or MatMul weight that is not 2-D;
 * a grouped Conv), with the reason in `whyNot`.
 */
bool sparseWeightFor(const Node& node, const Shape& shape, const uint8_t* mask, SparseWeight& out, std::string& whyNot);

/**
 * The gradient checks' entry (float64): runs one node on given inputs and returns its outputs;
 * with output gradients given, also the gradients of every input. `sparseWeight` makes input 1
 * sparse (its tensor then holds the nnz values).
 */
struct OpCheckResult {
  std::vector<Tensor<double>> outputs;
  std::vector<Tensor<double>> inputGrads;  // empty tensors where not computed
  Tensor<double> denseWeightGrad;          // set for a sparse weight
};
OpCheckResult runOpCheck(const Node& node, const std::vector<Tensor<double>>& inputs, const SparseLayout* sparseWeight,
                         const std::vector<Tensor<double>>* outputGrads);

/** The loss of logits [B, C] and its gradient (same as Session::step's), float64, for checks. */
double lossAndGradient(const Tensor<double>& logits, const Targets& targets, const double* teacherLogits,
                       Tensor<double>& dLogits);

}  // namespace sl::train
