// The op registry: each ONNX op the engine trains has a forward and a backward, written side by
// side in the file of its family (linear.cc, conv.cc, pooling.cc, elementwise.cc (with the activations),
// shape_ops.cc, batchnorm.cc) and registered once with SL_REGISTER_OP. The session (session.h) runs
// them in graph order forward and in reverse order backward; ops know nothing of each other.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sparse_layout.h"
#include "tensor.h"

namespace sl::train {

/** An ONNX node's attributes (what the program builder passed on; constant inputs become attributes). */
struct Attributes {
  std::map<std::string, int64_t> ints;
  std::map<std::string, double> floats;
  std::map<std::string, std::vector<int64_t>> intLists;
  std::map<std::string, std::string> strings;

  int64_t i(const std::string& name, int64_t fallback) const;
  double f(const std::string& name, double fallback) const;
  std::vector<int64_t> list(const std::string& name, const std::vector<int64_t>& fallback) const;
  std::string s(const std::string& name, const std::string& fallback) const;
};

struct Node {
  std::string op;    // ONNX op type: "Gemm", "Conv", ...
  std::string name;  // the node's name, for messages
  std::vector<int> inputs;   // value ids; -1 for an absent optional input
  std::vector<int> outputs;  // value ids
  Attributes attrs;
};

/** What an op's forward keeps for its backward (argmax of a max pool, the im2col buffer...). */
struct OpState {
  virtual ~OpState() = default;
};

template <typename T>
struct OpContext {
  const Node& node;
  /**
   * Forward inputs (absent optional inputs are nullptr). A sparse weight's tensor keeps its dense
   * shape (as stored: what the op needs to know of kernel sizes) but holds only its nnz active
   * values, in the order of `sparseWeight`.
   */
  std::vector<const Tensor<T>*> inputs;
  /** Forward outputs: the op sets their shape and values. Still holding them in backward. */
  std::vector<Tensor<T>*> outputs;
  /** Backward only: dL/d(output i). */
  std::vector<const Tensor<T>*> outputGrads;
  /**
   * Backward only: dL/d(input i), nullptr where nobody needs it (data input of the first op, frozen
   * params). The op OVERWRITES them (sets shape and every value); the session sums over consumers.
   * For a sparse weight, the gradient at its active positions only: the weight's shape, nnz values.
   */
  std::vector<Tensor<T>*> inputGrads;
  /** The layout of input 1 (the weight of Gemm, MatMul, Conv) when it trains sparse, else nullptr. */
  const SparseLayout* sparseWeight = nullptr;
  /**
   * Backward only, for a sparse weight when the session asks: the dense gradient of the weight
   * (its full shape, every position), as a dense layer would compute it. The op overwrites it.
   */
  Tensor<T>* denseWeightGrad = nullptr;
  /** The op's own state between forward and backward (created by the op on first use). */
  std::unique_ptr<OpState>& state;
  unsigned threads = 1;
};

/** The op's state of type S (derived from OpState), created on first use. */
template <class S, typename T>
S& opState(OpContext<T>& ctx) {
  if (!ctx.state) ctx.state = std::make_unique<S>();
  return static_cast<S&>(*ctx.state);
}

/** Throws sl::Error "<op> node "<name>": <message>". */
[[noreturn]] void opError(const Node& node, const std::string& message);

struct OpDefinition {
  void (*forwardF)(OpContext<float>&);
  void (*backwardF)(OpContext<float>&);
  void (*forwardD)(OpContext<double>&);
  void (*backwardD)(OpContext<double>&);
  /** Input indices that can be trained as weights (Gemm: B and C; Conv: W and B; ...). */
  std::vector<int> paramInputs;
};

/** The registered op of this type, or nullptr. */
const OpDefinition* findOp(const std::string& op);
/** Every registered op type, for messages and for the program builder's check. */
std::vector<std::string> registeredOps();

bool registerOp(const std::string& op, const OpDefinition& definition);

/** Registers struct OP (static template forward<T>(OpContext<T>&) and backward<T>) as ONNX type NAME. */
#define SL_REGISTER_OP(NAME, OP, ...)                                                                     \
  static const bool registered_##OP = ::sl::train::registerOp(                                            \
      NAME, ::sl::train::OpDefinition{&OP::forward<float>, &OP::backward<float>, &OP::forward<double>,    \
                                      &OP::backward<double>, std::vector<int>{__VA_ARGS__}})

}  // namespace sl::train
