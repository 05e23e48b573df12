// The training session: values by id, the parameters with their optimizer state, and a step of
// forward (graph order), loss, backward (reverse order), optimizer update and masks.
#include "session.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "../error.h"
#include "../pool.h"
#include "loss.h"
#include "optimizer.h"

namespace sl::train {

namespace {

enum class Training { Frozen, Dense, Masked, Sparse };

struct ParamSlot {
  Param param;  // its data is moved into the session's values
  Training training = Training::Frozen;
  double density = 1;
  SparseWeight sparse;    // Training::Sparse only
  size_t weightNode = 0;  // Training::Sparse: the node that reads it as its weight
  OptimizerState optimizer;
  Tensor<float> denseGrad;  // Sparse and Masked: the dense gradient of the last step that asked for it
  bool hasDenseGrad = false;
  /**
   * Training::Sparse with AdamW, from the first mask update on: per dense position, the moments it
   * had when it left the layout and the step count then, so that it can return with them decayed.
   */
  std::vector<float> parkedExpAvg, parkedExpAvgSq;
  std::vector<int64_t> parkedAtStep;
};

/** A mask update checked against its parameter, ready to apply. */
struct CheckedMaskUpdate {
  ParamSlot* slot;
  const MaskUpdate* update;
  int64_t active;
  SparseWeight sparse;  // Training::Sparse: the layout of the new mask
};

/** A node's consumers of an input slot: (node index, input slot). */
struct Use {
  size_t node;
  size_t slot;
};

std::string densityText(double density) {
  char text[32];
  std::snprintf(text, sizeof text, "d=%.2f", density);
  return text;
}

}  // namespace

bool sparseWeightFor(const Node& node, const Shape& shape, const uint8_t* mask, SparseWeight& out, std::string& whyNot) {
  int64_t rows, cols;
  bool transposed = false;  // stored [in, out]: the layout's [out, in] view is its transpose
  if (node.op == "Gemm" || node.op == "MatMul") {
    if (shape.size() != 2) {
      whyNot = "its weight has shape " + shapeText(shape) + ", not 2-D";
      return false;
    }
    transposed = node.op == "MatMul" || node.attrs.i("transB", 0) == 0;
    rows = transposed ? shape[1] : shape[0];
    cols = transposed ? shape[0] : shape[1];
  } else if (node.op == "Conv") {
    if (shape.size() < 3 || node.attrs.i("group", 1) != 1) {
      whyNot = "a grouped convolution trains its weight dense";
      return false;
    }
    rows = shape[0];
    cols = numel(shape) / std::max<int64_t>(1, rows);
  } else {
    whyNot = node.op + " has no sparse weight";
    return false;
  }
  out.layout = transposed ? SparseLayout::fromMaskTransposed(mask, rows, cols) : SparseLayout::fromMask(mask, rows, cols);
  out.denseIndex.resize(size_t(out.layout.nnz()));
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t t = out.layout.rowStart[size_t(r)]; t < out.layout.rowStart[size_t(r) + 1]; t++) {
      const int64_t c = out.layout.colIndex[size_t(t)];
      out.denseIndex[size_t(t)] = transposed ? c * rows + r : r * cols + c;
    }
  }
  return true;
}

struct Session::Impl {
  Program program;
  OptimizerConfig optimizer;
  unsigned threads = 1;

  std::vector<const OpDefinition*> definitions;  // per node
  std::vector<std::unique_ptr<OpState>> states;  // per node
  std::vector<ParamSlot> params;
  std::vector<int> paramOfValue;                    // value id → index in params, or -1
  std::vector<Tensor<float>> values, grads;         // by value id
  std::vector<char> requiresGrad;                   // by value id
  std::vector<int> gradUses;                        // by value id: (node, slot) pairs that produce a gradient for it
  std::vector<char> gradReady;                      // by value id, during backward
  std::vector<std::vector<Tensor<float>>> scratch;  // per node, per slot: gradients of values with several uses
  int64_t stepCount = 0;

  Impl(Program p, OptimizerConfig o, unsigned t) : program(std::move(p)), optimizer(o), threads(resolveThreads(t, 256)) {
    checkStructure();
    setUpParams();
    setUpGradients();
  }

  /** Ids in range, each value defined once before use, every op known. */
  void checkStructure() {
    const int count = program.valueCount;
    if (count <= 0) throw Error("the training program has no values");
    auto inRange = [&](int v) { return v >= 0 && v < count; };
    if (!inRange(program.input)) throw Error("the program's input " + std::to_string(program.input) + " is not a value id");
    if (!inRange(program.output)) throw Error("the program's output " + std::to_string(program.output) + " is not a value id");
    std::vector<char> defined(size_t(count), 0);
    defined[size_t(program.input)] = 1;
    paramOfValue.assign(size_t(count), -1);
    for (size_t i = 0; i < program.params.size(); i++) {
      const Param& p = program.params[i];
      const std::string what = "parameter \"" + p.name + "\"";
      if (!inRange(p.value))
        throw Error(what + " has value id " + std::to_string(p.value) + ", outside [0, " + std::to_string(count) + ")");
      if (defined[size_t(p.value)])
        throw Error(what + " uses value id " + std::to_string(p.value) + ", which is already defined");
      defined[size_t(p.value)] = 1;
      paramOfValue[size_t(p.value)] = int(i);
      for (int64_t d : p.shape)
        if (d < 0) throw Error(what + " has shape " + shapeText(p.shape));
      if (int64_t(p.data.size()) != numel(p.shape)) {
        throw Error(what + " has " + std::to_string(p.data.size()) + " values, but its shape " + shapeText(p.shape) + " holds " +
                    std::to_string(numel(p.shape)));
      }
      if (!p.mask.empty() && int64_t(p.mask.size()) != numel(p.shape)) {
        throw Error(what + " has a mask of " + std::to_string(p.mask.size()) + " values, but its shape " + shapeText(p.shape) +
                    " holds " + std::to_string(numel(p.shape)));
      }
    }
    for (const Node& node : program.nodes) {
      const OpDefinition* def = findOp(node.op);
      if (!def) {
        std::string known;
        for (const std::string& op : registeredOps()) known += (known.empty() ? "" : ", ") + op;
        throw Error("node \"" + node.name + "\" has op type " + node.op +
                    ", which the training engine does not support (it supports " + known + ")");
      }
      definitions.push_back(def);
      for (size_t k = 0; k < node.inputs.size(); k++) {
        const int v = node.inputs[k];
        if (v == -1) continue;
        if (!inRange(v) || !defined[size_t(v)]) {
          opError(node, "input " + std::to_string(k) + " (value " + std::to_string(v) + ") is not computed before the node");
        }
      }
      if (node.outputs.empty()) opError(node, "has no outputs");
      for (int v : node.outputs) {
        if (!inRange(v) || defined[size_t(v)]) opError(node, "output value " + std::to_string(v) + " is not a new value id");
        defined[size_t(v)] = 1;
      }
    }
    if (!defined[size_t(program.output)])
      throw Error("no node computes the program's output (value " + std::to_string(program.output) + ")");
    states.resize(program.nodes.size());
    values.resize(size_t(count));
    grads.resize(size_t(count));
  }

  /** How each parameter trains, and its values in the session's storage. */
  void setUpParams() {
    std::vector<std::vector<Use>> uses(values.size());
    for (size_t n = 0; n < program.nodes.size(); n++) {
      const auto& inputs = program.nodes[n].inputs;
      for (size_t k = 0; k < inputs.size(); k++)
        if (inputs[k] >= 0) uses[size_t(inputs[k])].push_back({n, k});
    }
    params.resize(program.params.size());
    for (size_t i = 0; i < program.params.size(); i++) {
      ParamSlot& slot = params[i];
      slot.param = std::move(program.params[i]);
      Param& p = slot.param;
      const std::vector<Use>& used = uses[size_t(p.value)];
      if (!p.mask.empty()) {
        int64_t active = 0;
        for (size_t e = 0; e < p.mask.size(); e++) {
          if (p.mask[e] > 1)
            throw Error("parameter \"" + p.name + "\" has a mask value " + std::to_string(p.mask[e]) + "; masks hold 0 or 1");
          active += p.mask[e];
          if (!p.mask[e]) p.data[e] = 0;
        }
        slot.density = double(active) / double(p.mask.size());
      }
      slot.training = trainingOf(slot, used);
      Tensor<float>& value = values[size_t(p.value)];
      value.shape = p.shape;
      if (slot.training == Training::Sparse) {
        value.data.resize(slot.sparse.denseIndex.size());
        for (size_t t = 0; t < slot.sparse.denseIndex.size(); t++) value.data[t] = p.data[size_t(slot.sparse.denseIndex[t])];
      } else {
        value.data = p.data;
      }
      p.data = {};
    }
    program.params.clear();
  }

  /**
   * Frozen unless trainable and read only where its op trains weights (BatchNormalization's
   * statistics stay frozen); a masked weight trains sparse where its op can take it so and it is
   * sparse enough, else dense with its mask.
   */
  Training trainingOf(ParamSlot& slot, const std::vector<Use>& used) {
    const Param& p = slot.param;
    if (!p.trainable || used.empty()) return Training::Frozen;
    for (const Use& use : used) {
      const std::vector<int>& trainable = definitions[use.node]->paramInputs;
      if (std::find(trainable.begin(), trainable.end(), int(use.slot)) == trainable.end()) return Training::Frozen;
    }
    if (p.mask.empty()) return Training::Dense;
    std::string whyNot;
    if (slot.density <= program.sparseDensity && used.size() == 1 && used[0].slot == 1 &&
        sparseWeightFor(program.nodes[used[0].node], p.shape, p.mask.data(), slot.sparse, whyNot)) {
      slot.weightNode = used[0].node;
      return Training::Sparse;
    }
    return Training::Masked;
  }

  /** Which values need a gradient: trainable parameters and whatever is computed from them. */
  void setUpGradients() {
    requiresGrad.assign(values.size(), 0);
    gradUses.assign(values.size(), 0);
    for (const ParamSlot& slot : params)
      if (slot.training != Training::Frozen) requiresGrad[size_t(slot.param.value)] = 1;
    for (const Node& node : program.nodes) {
      bool any = false;
      for (int v : node.inputs) any = any || (v >= 0 && requiresGrad[size_t(v)]);
      for (int v : node.outputs) requiresGrad[size_t(v)] = any;
      for (int v : node.inputs)
        if (v >= 0 && requiresGrad[size_t(v)]) gradUses[size_t(v)]++;
    }
    gradUses[size_t(program.output)]++;  // the loss: other readers of the logits add to its gradient
    scratch.resize(program.nodes.size());
    for (size_t n = 0; n < program.nodes.size(); n++) scratch[n].resize(program.nodes[n].inputs.size());
  }

  template <typename F> OpContext<float> contextOf(size_t n, F&& fill) {
    const Node& node = program.nodes[n];
    OpContext<float> ctx{node, {}, {}, {}, {}, nullptr, nullptr, states[n], threads};
    for (int v : node.inputs) ctx.inputs.push_back(v >= 0 ? &values[size_t(v)] : nullptr);
    for (int v : node.outputs) ctx.outputs.push_back(&values[size_t(v)]);
    if (node.inputs.size() > 1 && node.inputs[1] >= 0) {
      const int p = paramOfValue[size_t(node.inputs[1])];
      if (p >= 0 && params[size_t(p)].training == Training::Sparse) ctx.sparseWeight = &params[size_t(p)].sparse.layout;
    }
    fill(ctx);
    return ctx;
  }

  void forward(const float* x, int64_t batch) {
    Shape inputShape{batch};
    inputShape.insert(inputShape.end(), program.sampleShape.begin(), program.sampleShape.end());
    Tensor<float>& input = values[size_t(program.input)];
    input.reshape(inputShape);
    std::memcpy(input.ptr(), x, input.data.size() * sizeof(float));
    for (size_t n = 0; n < program.nodes.size(); n++) {
      OpContext<float> ctx = contextOf(n, [](OpContext<float>&) {});
      definitions[n]->forwardF(ctx);
    }
    const Shape& out = values[size_t(program.output)].shape;
    if (out.size() != 2 || out[0] != batch) {
      throw Error("the program's output has shape " + shapeText(out) + "; the loss needs logits [" + std::to_string(batch) +
                  ", classes]");
    }
  }

  void backward(bool denseGradients) {
    gradReady.assign(values.size(), 0);
    gradReady[size_t(program.output)] = 1;
    for (size_t n = program.nodes.size(); n-- > 0;) {
      const Node& node = program.nodes[n];
      bool needed = false;
      for (int v : node.inputs) needed = needed || (v >= 0 && requiresGrad[size_t(v)]);
      if (!needed) continue;
      for (int v : node.outputs) {
        if (!gradReady[size_t(v)]) grads[size_t(v)].zeros(values[size_t(v)].shape);  // an output the loss does not see
      }
      ParamSlot* sparseParam = nullptr;
      OpContext<float> ctx = contextOf(n, [&](OpContext<float>& c) {
        for (int v : node.outputs) c.outputGrads.push_back(&grads[size_t(v)]);
        for (size_t k = 0; k < node.inputs.size(); k++) {
          const int v = node.inputs[k];
          if (v < 0 || !requiresGrad[size_t(v)])
            c.inputGrads.push_back(nullptr);
          else
            c.inputGrads.push_back(gradUses[size_t(v)] == 1 ? &grads[size_t(v)] : &scratch[n][k]);
        }
        if (c.sparseWeight) {
          sparseParam = &params[size_t(paramOfValue[size_t(node.inputs[1])])];
          if (denseGradients) c.denseWeightGrad = &sparseParam->denseGrad;
        }
      });
      definitions[n]->backwardF(ctx);
      if (sparseParam && denseGradients) sparseParam->hasDenseGrad = true;
      for (size_t k = 0; k < node.inputs.size(); k++) {
        if (ctx.inputGrads[k]) collectGradient(node, k, *ctx.inputGrads[k]);
      }
    }
  }

  /** Checks the gradient an op wrote for input slot k and sums it into its value's gradient. */
  void collectGradient(const Node& node, size_t k, const Tensor<float>& grad) {
    const int v = node.inputs[k];
    const Tensor<float>& value = values[size_t(v)];
    if (grad.data.size() != value.data.size()) {
      opError(node, "wrote " + std::to_string(grad.data.size()) + " gradient values for input " + std::to_string(k) +
                        ", which holds " + std::to_string(value.data.size()));
    }
    Tensor<float>& total = grads[size_t(v)];
    if (&grad != &total) {
      if (!gradReady[size_t(v)]) {
        total.shape = value.shape;
        total.data.assign(grad.data.begin(), grad.data.end());
      } else {
        for (size_t i = 0; i < total.data.size(); i++) total.data[i] += grad.data[i];
      }
    }
    gradReady[size_t(v)] = 1;
  }

  void update(double lr, bool denseGradients) {
    stepCount++;
    for (ParamSlot& slot : params) {
      if (slot.training == Training::Frozen) continue;
      const int v = slot.param.value;
      Tensor<float>& w = values[size_t(v)];
      Tensor<float>& g = grads[size_t(v)];
      if (!gradReady[size_t(v)]) {  // the loss does not depend on it
        g.shape = w.shape;
        g.data.assign(w.data.size(), 0.0f);
      }
      const uint8_t* mask = nullptr;
      if (slot.training == Training::Masked) {
        mask = slot.param.mask.data();
        if (denseGradients) {  // before the optimizer masks it
          slot.denseGrad = g;
          slot.hasDenseGrad = true;
        }
      }
      optimizerStep(optimizer, lr, stepCount, w.ptr(), g.ptr(), w.size(), mask, slot.optimizer, threads);
    }
  }

  /** Every update checked before any is applied, so that a bad one changes nothing. */
  void setMasks(const std::vector<MaskUpdate>& updates, bool resetOptimizerState) {
    std::vector<CheckedMaskUpdate> checked;
    for (const MaskUpdate& update : updates) checked.push_back(checkMaskUpdate(update, checked));
    for (CheckedMaskUpdate& c : checked) {
      if (c.slot->training == Training::Sparse) {
        remaskSparse(*c.slot, *c.update, std::move(c.sparse), resetOptimizerState);
      } else {
        remaskDense(*c.slot, *c.update, resetOptimizerState);
      }
      c.slot->param.mask.assign(c.update->mask, c.update->mask + c.update->maskLength);
      c.slot->density = double(c.active) / double(c.update->maskLength);
      // Gradients of the old mask: a mask update needs fresh ones.
      c.slot->denseGrad = {};
      c.slot->hasDenseGrad = false;
    }
  }

  CheckedMaskUpdate checkMaskUpdate(const MaskUpdate& update, const std::vector<CheckedMaskUpdate>& earlier) {
    const std::string what = "setMasks: parameter \"" + update.name + "\"";
    ParamSlot* slot = nullptr;
    for (ParamSlot& candidate : params) {
      if (candidate.param.name == update.name) {
        slot = &candidate;
        break;
      }
    }
    if (!slot) throw Error("setMasks: there is no parameter named \"" + update.name + "\"");
    for (const CheckedMaskUpdate& c : earlier)
      if (c.slot == slot) throw Error(what + " is given twice");
    if (slot->param.mask.empty()) throw Error(what + " was built without a mask; only masked weights take new masks");
    if (slot->training == Training::Frozen) throw Error(what + " does not train, so its mask cannot change");
    const Shape& shape = slot->param.shape;
    const int64_t n = numel(shape);
    if (update.maskLength != n) {
      throw Error(what + ": the mask has " + std::to_string(update.maskLength) + " values, but its shape " + shapeText(shape) +
                  " holds " + std::to_string(n));
    }
    if (update.valueCount != n) {
      throw Error(what + ": the values hold " + std::to_string(update.valueCount) + " numbers, but its shape " +
                  shapeText(shape) + " holds " + std::to_string(n));
    }
    CheckedMaskUpdate c{slot, &update, 0, {}};
    uint8_t highest = 0;  // one pass without an early exit (it vectorizes), then the first bad value if any
    for (int64_t i = 0; i < n; i++) {
      highest = std::max(highest, update.mask[i]);
      c.active += update.mask[i];
    }
    if (highest > 1) {
      const int64_t i = std::find_if(update.mask, update.mask + n, [](uint8_t v) { return v > 1; }) - update.mask;
      throw Error(what + ": mask[" + std::to_string(i) + "] is " + std::to_string(update.mask[i]) + "; masks hold 0 or 1");
    }
    std::string whyNot;
    if (slot->training == Training::Sparse &&
        !sparseWeightFor(program.nodes[slot->weightNode], shape, update.mask, c.sparse, whyNot)) {
      throw Error(what + ": " + whyNot);
    }
    return c;
  }

  /** Dense with its mask: SGD momentum only where the weight stays active; AdamW's moments decay where inactive. */
  void remaskDense(ParamSlot& slot, const MaskUpdate& update, bool resetOptimizerState) {
    const uint8_t* before = slot.param.mask.data();
    const uint8_t* after = update.mask;
    float* w = values[size_t(slot.param.value)].ptr();
    OptimizerState& state = slot.optimizer;
    const bool hasMomentum = !state.momentum.empty(), hasMoments = !state.expAvg.empty();
    for (int64_t i = 0; i < update.maskLength; i++) {
      w[i] = after[i] ? update.values[i] : 0.0f;
      if (hasMomentum && !(before[i] && after[i])) state.momentum[size_t(i)] = 0;
      if (hasMoments && resetOptimizerState && !before[i] && after[i]) {
        state.expAvg[size_t(i)] = 0;
        state.expAvgSq[size_t(i)] = 0;
      }
    }
  }

  /**
   * Sparse: the values and optimizer state gathered into the new layout's order. AdamW's moments of
   * the positions that leave are parked, and those that return get theirs back decayed by the
   * steps in between (β^steps, as the dense path's zero gradients give them).
   */
  void remaskSparse(ParamSlot& slot, const MaskUpdate& update, SparseWeight next, bool resetOptimizerState) {
    const std::vector<int64_t>& before = slot.sparse.denseIndex;
    const std::vector<int64_t>& after = next.denseIndex;
    // Per new position its place in the old layout (-1: it arrives), and the old places that leave:
    // both layouts list each row's positions by ascending column, so a merge walk per row finds them.
    const SparseLayout& was = slot.sparse.layout;
    const SparseLayout& is = next.layout;
    std::vector<int64_t> from(after.size(), -1), leaving;
    for (int64_t r = 0; r < is.rows; r++) {
      int64_t o = was.rowStart[size_t(r)];
      const int64_t oEnd = was.rowStart[size_t(r) + 1];
      for (int64_t t = is.rowStart[size_t(r)]; t < is.rowStart[size_t(r) + 1]; t++) {
        const int32_t c = is.colIndex[size_t(t)];
        while (o < oEnd && was.colIndex[size_t(o)] < c) leaving.push_back(o++);
        if (o < oEnd && was.colIndex[size_t(o)] == c) from[size_t(t)] = o++;
      }
      while (o < oEnd) leaving.push_back(o++);
    }

    std::vector<float> weights(after.size());
    for (size_t t = 0; t < after.size(); t++) weights[t] = update.values[size_t(after[t])];
    values[size_t(slot.param.value)].data = std::move(weights);

    OptimizerState& state = slot.optimizer;
    if (!state.momentum.empty()) {  // unallocated stays so: the first step starts it as 0 would
      std::vector<float> momentum(after.size(), 0.0f);
      for (size_t t = 0; t < after.size(); t++) {
        if (from[t] >= 0) momentum[t] = state.momentum[size_t(from[t])];
      }
      state.momentum = std::move(momentum);
    }

    // Moments exist once a step ran; with an empty layout since, only the parked ones do.
    if (!state.expAvg.empty() || !slot.parkedExpAvg.empty()) {
      if (slot.parkedExpAvg.empty()) {
        slot.parkedExpAvg.assign(size_t(update.maskLength), 0.0f);
        slot.parkedExpAvgSq.assign(size_t(update.maskLength), 0.0f);
        slot.parkedAtStep.assign(size_t(update.maskLength), 0);
      }
      for (const int64_t o : leaving) {
        const size_t t = size_t(o), d = size_t(before[t]);
        slot.parkedExpAvg[d] = state.expAvg[t];
        slot.parkedExpAvgSq[d] = state.expAvgSq[t];
        slot.parkedAtStep[d] = stepCount;
      }
      // The factors the dense path multiplies by, in float, each step.
      const double beta1 = double(float(optimizer.beta1)), beta2 = double(float(optimizer.beta2));
      std::vector<float> expAvg(after.size(), 0.0f), expAvgSq(after.size(), 0.0f);
      for (size_t t = 0; t < after.size(); t++) {
        const size_t d = size_t(after[t]);
        if (from[t] >= 0) {
          expAvg[t] = state.expAvg[size_t(from[t])];
          expAvgSq[t] = state.expAvgSq[size_t(from[t])];
        } else if (!resetOptimizerState) {
          const double steps = double(stepCount - slot.parkedAtStep[d]);
          expAvg[t] = float(double(slot.parkedExpAvg[d]) * std::pow(beta1, steps));
          expAvgSq[t] = float(double(slot.parkedExpAvgSq[d]) * std::pow(beta2, steps));
        }
      }
      state.expAvg = std::move(expAvg);
      state.expAvgSq = std::move(expAvgSq);
    }
    slot.sparse = std::move(next);
  }

  /** A parameter's values, dense (zeros at the inactive positions of a sparse weight). */
  std::vector<float> denseValues(const ParamSlot& slot) const {
    const Tensor<float>& value = values[size_t(slot.param.value)];
    if (slot.training != Training::Sparse) return value.data;
    std::vector<float> dense(size_t(numel(slot.param.shape)), 0.0f);
    for (size_t t = 0; t < slot.sparse.denseIndex.size(); t++) dense[size_t(slot.sparse.denseIndex[t])] = value.data[t];
    return dense;
  }
};

Session::Session(Program program, OptimizerConfig optimizer, unsigned threads)
    : impl_(std::make_unique<Impl>(std::move(program), optimizer, threads)) {}

Session::~Session() = default;

double Session::step(const float* x, int64_t batch, const Targets& targets, double lr, bool denseGradients) {
  Impl& s = *impl_;
  s.forward(x, batch);
  const Tensor<float>& logits = s.values[size_t(s.program.output)];
  Tensor<float>& dLogits = s.grads[size_t(s.program.output)];
  dLogits.reshape(logits.shape);
  if (targets.teacherLogits && targets.teacherValues != logits.size()) {
    throw Error("the teacher's logits hold " + std::to_string(targets.teacherValues) + " values; the model's logits " +
                shapeText(logits.shape) + " hold " + std::to_string(logits.size()));
  }
  const double loss = softmaxLoss<float>(logits.ptr(), logits.shape[0], logits.shape[1], targets.labels, targets.teacherLogits,
                                         targets.temperature, dLogits.ptr());
  s.backward(denseGradients);
  s.update(lr, denseGradients);
  return loss;
}

void Session::predict(const float* x, int64_t batch, std::vector<float>& logits) {
  impl_->forward(x, batch);
  logits = impl_->values[size_t(impl_->program.output)].data;
}

std::vector<std::pair<std::string, std::vector<float>>> Session::parameters(const std::vector<std::string>* names) const {
  std::vector<char> wanted(impl_->params.size(), names ? 0 : 1);
  if (names) {
    std::string unknown;
    for (const std::string& name : *names) {
      bool found = false;
      for (size_t i = 0; i < impl_->params.size() && !found; i++) {
        found = impl_->params[i].param.trainable && impl_->params[i].param.name == name;
        if (found) wanted[i] = 1;
      }
      if (!found) unknown += (unknown.empty() ? "\"" : ", \"") + name + "\"";
    }
    if (!unknown.empty()) throw Error("parameters: there is no trainable parameter named " + unknown);
  }
  std::vector<std::pair<std::string, std::vector<float>>> out;
  for (size_t i = 0; i < impl_->params.size(); i++) {
    const ParamSlot& slot = impl_->params[i];
    if (slot.param.trainable && wanted[i]) out.emplace_back(slot.param.name, impl_->denseValues(slot));
  }
  return out;
}

std::vector<std::pair<std::string, std::vector<float>>> Session::denseGradients() const {
  std::vector<std::pair<std::string, std::vector<float>>> out;
  for (const ParamSlot& slot : impl_->params)
    if (slot.hasDenseGrad) out.emplace_back(slot.param.name, slot.denseGrad.data);
  return out;
}

void Session::setMasks(const std::vector<MaskUpdate>& updates, bool resetOptimizerState) {
  impl_->setMasks(updates, resetOptimizerState);
}

std::vector<std::pair<std::string, std::string>> Session::describe() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const ParamSlot& slot : impl_->params) {
    if (!slot.param.trainable) continue;
    switch (slot.training) {
      case Training::Frozen:
        out.emplace_back(slot.param.name, "frozen");
        break;
      case Training::Dense:
        out.emplace_back(slot.param.name, "dense");
        break;
      case Training::Masked:
        out.emplace_back(slot.param.name, "masked " + densityText(slot.density));
        break;
      case Training::Sparse:
        out.emplace_back(slot.param.name, "sparse " + densityText(slot.density));
        break;
    }
  }
  return out;
}

OpCheckResult runOpCheck(const Node& node, const std::vector<Tensor<double>>& inputs, const SparseLayout* sparseWeight,
                         const std::vector<Tensor<double>>* outputGrads) {
  const OpDefinition* def = findOp(node.op);
  if (!def) throw Error("node \"" + node.name + "\" has op type " + node.op + ", which the training engine does not support");
  OpCheckResult result;
  result.outputs.resize(node.outputs.size());
  std::unique_ptr<OpState> state;
  OpContext<double> ctx{node, {}, {}, {}, {}, sparseWeight, nullptr, state, 1};
  for (size_t k = 0; k < node.inputs.size(); k++)
    ctx.inputs.push_back(node.inputs[k] >= 0 ? &inputs.at(size_t(node.inputs[k])) : nullptr);
  for (Tensor<double>& out : result.outputs) ctx.outputs.push_back(&out);
  def->forwardD(ctx);
  if (!outputGrads) return result;

  if (outputGrads->size() != result.outputs.size()) {
    opError(node, "got " + std::to_string(outputGrads->size()) + " output gradients for " +
                      std::to_string(result.outputs.size()) + " outputs");
  }
  std::vector<Tensor<double>> shapedGrads(*outputGrads);
  for (size_t k = 0; k < shapedGrads.size(); k++) {
    if (shapedGrads[k].size() != result.outputs[k].size()) {
      opError(node, "the gradient of output " + std::to_string(k) + " has " + std::to_string(shapedGrads[k].size()) +
                        " values; the output " + shapeText(result.outputs[k].shape) + " has " +
                        std::to_string(result.outputs[k].size()));
    }
    shapedGrads[k].shape = result.outputs[k].shape;
    ctx.outputGrads.push_back(&shapedGrads[k]);
  }
  result.inputGrads.resize(node.inputs.size());
  for (size_t k = 0; k < node.inputs.size(); k++) ctx.inputGrads.push_back(ctx.inputs[k] ? &result.inputGrads[k] : nullptr);
  if (sparseWeight) ctx.denseWeightGrad = &result.denseWeightGrad;
  def->backwardD(ctx);
  return result;
}

double lossAndGradient(const Tensor<double>& logits, const Targets& targets, const double* teacherLogits,
                       Tensor<double>& dLogits) {
  if (logits.shape.size() != 2)
    throw Error("the logits have shape " + shapeText(logits.shape) + "; the loss needs [batch, classes]");
  dLogits.reshape(logits.shape);
  return softmaxLoss<double>(logits.ptr(), logits.shape[0], logits.shape[1], targets.labels, teacherLogits, targets.temperature,
                             dLogits.ptr());
}

}  // namespace sl::train
