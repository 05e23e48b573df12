// The training capability: the TrainingSession class (an opaque native session stepped one
// batch at a time), trainOps, the float64 checks trainOpCheck and trainLossCheck, and
// sriglLayerUpdate (one SRigL mask update). The JS-facing API is src/kernels/native/bindings/training.ts.
#include <cmath>
#include <cstring>
#include <memory>

#include "../train/session.h"
#include "../train/srigl_update.h"
#include "args.h"
#include "exports.h"

namespace sl::binding {

namespace {

using train::Node;
using train::Shape;
using train::Tensor;

/** Ids and counts fit an int. */
constexpr uint64_t kMaxId = 0x7fffffff;

// ---------------------------------------------------------------------------------------------
// Argument parsing

Napi::Object objectField(const Napi::Object& o, const char* key, const std::string& what) {
  const Napi::Value v = o.Get(key);
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray()) throw Error(what + "." + key + " must be an object, not " + describe(v));
  return v.As<Napi::Object>();
}

Napi::Array arrayField(const Napi::Object& o, const char* key, const std::string& what) {
  const Napi::Value v = o.Get(key);
  if (!v.IsArray()) throw Error(what + "." + key + " must be an array, not " + describe(v));
  return v.As<Napi::Array>();
}

std::string stringValue(const Napi::Value& v, const std::string& what) {
  if (!v.IsString()) throw Error(what + " must be a string, not " + describe(v));
  return v.As<Napi::String>().Utf8Value();
}

double finiteNumber(const Napi::Value& v, const std::string& what) {
  if (v.IsNumber()) {
    const double d = v.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d)) return d;
  }
  throw Error(what + " must be a finite number, not " + describe(v));
}

bool booleanValue(const Napi::Value& v, const std::string& what) {
  if (!v.IsBoolean()) throw Error(what + " must be true or false, not " + describe(v));
  return v.As<Napi::Boolean>().Value();
}

Shape shapeValue(const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) throw Error(what + " must be an array of whole numbers, not " + describe(v));
  const Napi::Array a = v.As<Napi::Array>();
  if (a.Length() > 16) throw Error(what + " has " + std::to_string(a.Length()) + " axes; at most 16 are supported");
  Shape shape;
  double total = 1;
  for (uint32_t i = 0; i < a.Length(); i++) {
    shape.push_back(int64_t(wholeNumber(a.Get(i), what + "[" + std::to_string(i) + "]", 0, kMaxId)));
    total *= double(shape.back());
  }
  if (total > double(kMaxId)) throw Error(what + " has more than 2^31 - 1 elements");
  return shape;
}

std::vector<int> idList(const Napi::Value& v, const std::string& what, int lo, int hi) {
  if (!v.IsArray()) throw Error(what + " must be an array of value ids, not " + describe(v));
  const Napi::Array a = v.As<Napi::Array>();
  std::vector<int> ids;
  for (uint32_t i = 0; i < a.Length(); i++) {
    const int64_t id = integer(a.Get(i), what + "[" + std::to_string(i) + "]");
    if (id < lo || id >= hi) {
      throw Error(what + "[" + std::to_string(i) + "] = " + std::to_string(id) + " is outside [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + ")");
    }
    ids.push_back(int(id));
  }
  return ids;
}

/** ints, floats, intLists and strings: optional objects of attribute name → value. */
train::Attributes attributes(const Napi::Object& node, const std::string& what) {
  train::Attributes attrs;
  auto each = [&](const char* key, auto&& read) {
    const Napi::Value v = node.Get(key);
    if (v.IsUndefined()) return;
    const Napi::Object o = objectField(node, key, what);
    const Napi::Array names = o.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); i++) {
      const std::string name = names.Get(i).As<Napi::String>().Utf8Value();
      read(name, o.Get(name), what + "." + key + "." + name);
    }
  };
  each("ints", [&](const std::string& name, const Napi::Value& v, const std::string& w) { attrs.ints[name] = integer(v, w); });
  each("floats",
       [&](const std::string& name, const Napi::Value& v, const std::string& w) { attrs.floats[name] = finiteNumber(v, w); });
  each("strings",
       [&](const std::string& name, const Napi::Value& v, const std::string& w) { attrs.strings[name] = stringValue(v, w); });
  each("intLists", [&](const std::string& name, const Napi::Value& v, const std::string& w) {
    if (!v.IsArray()) throw Error(w + " must be an array of integers, not " + describe(v));
    const Napi::Array a = v.As<Napi::Array>();
    std::vector<int64_t> list;
    for (uint32_t i = 0; i < a.Length(); i++) list.push_back(integer(a.Get(i), w + "[" + std::to_string(i) + "]"));
    attrs.intLists[name] = list;
  });
  return attrs;
}

Node nodeValue(const Napi::Value& v, const std::string& what, int valueCount) {
  if (!v.IsObject() || v.IsArray()) throw Error(what + " must be an object, not " + describe(v));
  const Napi::Object o = v.As<Napi::Object>();
  Node node;
  node.op = stringValue(o.Get("op"), what + ".op");
  node.name = stringValue(o.Get("name"), what + ".name");
  node.inputs = idList(o.Get("inputs"), what + ".inputs", -1, valueCount);
  node.outputs = idList(o.Get("outputs"), what + ".outputs", 0, valueCount);
  node.attrs = attributes(o, what);
  return node;
}

train::Param paramValue(const Napi::Value& v, const std::string& what, int valueCount) {
  if (!v.IsObject() || v.IsArray()) throw Error(what + " must be an object, not " + describe(v));
  const Napi::Object o = v.As<Napi::Object>();
  train::Param p;
  p.value = int(wholeNumber(o.Get("value"), what + ".value", 0, uint64_t(valueCount - 1)));
  p.name = stringValue(o.Get("name"), what + ".name");
  const std::string named = what + " (\"" + p.name + "\")";
  p.shape = shapeValue(o.Get("shape"), named + ".shape");
  auto data = typedArray<float>(o.Get("data"), napi_float32_array, named + ".data", "Float32Array");
  if (int64_t(data.ElementLength()) != train::numel(p.shape)) {
    throw Error(named + ".data has " + std::to_string(data.ElementLength()) + " values, but its shape " +
                train::shapeText(p.shape) + " holds " + std::to_string(train::numel(p.shape)));
  }
  p.data.assign(data.Data(), data.Data() + data.ElementLength());
  p.trainable = booleanValue(o.Get("trainable"), named + ".trainable");
  const Napi::Value maskValue = o.Get("mask");
  if (!maskValue.IsUndefined()) {
    auto mask = typedArray<uint8_t>(maskValue, napi_uint8_array, named + ".mask", "Uint8Array");
    if (mask.ElementLength() != data.ElementLength()) {
      throw Error(named + ".mask has " + std::to_string(mask.ElementLength()) + " values, not " +
                  std::to_string(data.ElementLength()));
    }
    p.mask.assign(mask.Data(), mask.Data() + mask.ElementLength());
  }
  return p;
}

train::Program programValue(const Napi::Value& v) {
  const std::string what = "TrainingSession: program";
  if (!v.IsObject() || v.IsArray()) throw Error(what + " must be an object, not " + describe(v));
  const Napi::Object o = v.As<Napi::Object>();
  train::Program program;
  program.valueCount = int(wholeNumber(o.Get("valueCount"), what + ".valueCount", 1, kMaxId));
  program.input = int(wholeNumber(o.Get("input"), what + ".input", 0, uint64_t(program.valueCount - 1)));
  program.output = int(wholeNumber(o.Get("output"), what + ".output", 0, uint64_t(program.valueCount - 1)));
  program.sampleShape = shapeValue(o.Get("sampleShape"), what + ".sampleShape");
  if (!o.Get("sparseDensity").IsUndefined()) {
    program.sparseDensity = finiteNumber(o.Get("sparseDensity"), what + ".sparseDensity");
    if (program.sparseDensity < 0 || program.sparseDensity > 1) {
      throw Error(what + ".sparseDensity must be in [0, 1], not " + describe(o.Get("sparseDensity")));
    }
  }
  const Napi::Array nodes = arrayField(o, "nodes", what);
  for (uint32_t i = 0; i < nodes.Length(); i++) {
    program.nodes.push_back(nodeValue(nodes.Get(i), what + ".nodes[" + std::to_string(i) + "]", program.valueCount));
  }
  const Napi::Array params = arrayField(o, "params", what);
  for (uint32_t i = 0; i < params.Length(); i++) {
    program.params.push_back(paramValue(params.Get(i), what + ".params[" + std::to_string(i) + "]", program.valueCount));
  }
  return program;
}

train::OptimizerConfig optimizerValue(const Napi::Value& v) {
  const std::string what = "TrainingSession: optimizer";
  if (!v.IsObject() || v.IsArray()) throw Error(what + " must be an object, not " + describe(v));
  const Napi::Object o = v.As<Napi::Object>();
  train::OptimizerConfig config;
  const std::string kind = stringValue(o.Get("kind"), what + ".kind");
  if (kind == "sgd")
    config.kind = train::OptimizerConfig::Kind::Sgd;
  else if (kind == "adamw")
    config.kind = train::OptimizerConfig::Kind::AdamW;
  else
    throw Error(what + ".kind must be \"sgd\" or \"adamw\", not \"" + kind + "\"");
  auto atLeastZero = [&](const char* key) {
    const double d = finiteNumber(o.Get(key), what + "." + key);
    if (d < 0) throw Error(what + "." + key + " must be at least 0, not " + describe(o.Get(key)));
    return d;
  };
  auto belowOne = [&](const char* key) {
    const double d = atLeastZero(key);
    if (d >= 1) throw Error(what + "." + key + " must be in [0, 1), not " + describe(o.Get(key)));
    return d;
  };
  config.momentum = atLeastZero("momentum");
  config.nesterov = booleanValue(o.Get("nesterov"), what + ".nesterov");
  config.weightDecay = atLeastZero("weightDecay");
  config.beta1 = belowOne("beta1");
  config.beta2 = belowOne("beta2");
  config.epsilon = atLeastZero("epsilon");
  if (config.kind == train::OptimizerConfig::Kind::Sgd && config.nesterov && config.momentum == 0) {
    throw Error(what + ": Nesterov momentum needs a momentum above 0");
  }
  return config;
}

Tensor<double> checkedTensor(const Napi::Value& v, const std::string& what) {
  if (!v.IsObject() || v.IsArray()) throw Error(what + " must be {shape, data}, not " + describe(v));
  const Napi::Object o = v.As<Napi::Object>();
  Tensor<double> t;
  t.shape = shapeValue(o.Get("shape"), what + ".shape");
  auto data = typedArray<double>(o.Get("data"), napi_float64_array, what + ".data", "Float64Array");
  if (int64_t(data.ElementLength()) != train::numel(t.shape)) {
    throw Error(what + ".data has " + std::to_string(data.ElementLength()) + " values, but its shape " +
                train::shapeText(t.shape) + " holds " + std::to_string(train::numel(t.shape)));
  }
  t.data.assign(data.Data(), data.Data() + data.ElementLength());
  return t;
}

// ---------------------------------------------------------------------------------------------
// Results (JS-owned arrays)

template <typename T> Napi::Float32Array float32Array(Napi::Env env, const std::vector<T>& values) {
  auto out = Napi::Float32Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); i++) out[i] = float(values[i]);
  return out;
}

Napi::Float64Array float64Array(Napi::Env env, const std::vector<double>& values) {
  auto out = Napi::Float64Array::New(env, values.size());
  if (!values.empty()) std::memcpy(out.Data(), values.data(), values.size() * sizeof(double));
  return out;
}

Napi::Object tensorObject(Napi::Env env, const Shape& shape, const std::vector<double>& data) {
  Napi::Object o = Napi::Object::New(env);
  Napi::Array s = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); i++) s.Set(uint32_t(i), double(shape[i]));
  o.Set("shape", s);
  o.Set("data", float64Array(env, data));
  return o;
}

Napi::Object namedArrays(Napi::Env env, const std::vector<std::pair<std::string, std::vector<float>>>& entries) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [name, values] : entries) o.Set(name, float32Array(env, values));
  return o;
}

/** Runs f, turning C++ exceptions into JS Errors (ObjectWrap methods do not pass through guarded). */
template <class F> Napi::Value rethrown(Napi::Env env, F&& f) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// TrainingSession

class TrainingSession : public Napi::ObjectWrap<TrainingSession> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(
        env, "TrainingSession",
        {InstanceMethod<&TrainingSession::step>("step"), InstanceMethod<&TrainingSession::predict>("predict"),
         InstanceMethod<&TrainingSession::parameters>("parameters"),
         InstanceMethod<&TrainingSession::denseGradients>("denseGradients"),
         InstanceMethod<&TrainingSession::setMasks>("setMasks"), InstanceMethod<&TrainingSession::describeParams>("describe"),
         InstanceMethod<&TrainingSession::close>("close")});
  }

  explicit TrainingSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainingSession>(info) {
    rethrown(info.Env(), [&]() -> Napi::Value {
      if (!info.IsConstructCall()) throw Error("TrainingSession must be called with new");
      train::Program program = programValue(info[0]);
      sampleSize_ = train::numel(program.sampleShape);
      const train::OptimizerConfig optimizer = optimizerValue(info[1]);
      const unsigned threads = threadsArg(info[2], "TrainingSession");
      session_ = std::make_unique<train::Session>(std::move(program), optimizer, threads);
      return info.Env().Undefined();
    });
  }

 private:
  train::Session& open(const std::string& fn) {
    if (!session_) throw Error("TrainingSession." + fn + ": the session is closed");
    return *session_;
  }

  /** x of `batch` samples, checked against the sample shape. */
  const float* batchArg(const Napi::CallbackInfo& info, const std::string& fn, int64_t& batch) {
    batch = int64_t(wholeNumber(info[1], fn + ": batch", 1, kMaxId));
    auto x = typedArray<float>(info[0], napi_float32_array, fn + ": x", "Float32Array");
    if (int64_t(x.ElementLength()) != batch * sampleSize_) {
      throw Error(fn + ": x has " + std::to_string(x.ElementLength()) +
                  " values, not batch × sample size = " + std::to_string(batch) + " × " + std::to_string(sampleSize_));
    }
    return x.Data();
  }

  Napi::Value step(const Napi::CallbackInfo& info) {
    return rethrown(info.Env(), [&]() -> Napi::Value {
      const std::string fn = "TrainingSession.step";
      train::Session& session = open("step");
      int64_t batch;
      const float* x = batchArg(info, fn, batch);
      if (!info[2].IsObject() || info[2].IsArray())
        throw Error(fn + ": targets must be {labels} or {teacherLogits, temperature}, not " + describe(info[2]));
      const Napi::Object targetsArg = info[2].As<Napi::Object>();
      train::Targets targets;
      if (targetsArg.Has("labels")) {
        auto labels = typedArray<int32_t>(targetsArg.Get("labels"), napi_int32_array, fn + ": targets.labels", "Int32Array");
        if (int64_t(labels.ElementLength()) != batch) {
          throw Error(fn + ": targets.labels has " + std::to_string(labels.ElementLength()) + " labels for a batch of " +
                      std::to_string(batch));
        }
        targets.labels = labels.Data();
      } else {
        auto teacher = typedArray<float>(targetsArg.Get("teacherLogits"), napi_float32_array, fn + ": targets.teacherLogits",
                                         "Float32Array");
        targets.teacherLogits = teacher.Data();
        targets.teacherValues = int64_t(teacher.ElementLength());
        targets.temperature = finiteNumber(targetsArg.Get("temperature"), fn + ": targets.temperature");
        if (targets.temperature <= 0)
          throw Error(fn + ": targets.temperature must be above 0, not " + describe(targetsArg.Get("temperature")));
      }
      const double lr = finiteNumber(info[3], fn + ": lr");
      if (lr < 0) throw Error(fn + ": lr must be at least 0, not " + describe(info[3]));
      const bool denseGradients = booleanValue(info[4], fn + ": denseGradients");
      return Napi::Number::New(info.Env(), session.step(x, batch, targets, lr, denseGradients));
    });
  }

  Napi::Value predict(const Napi::CallbackInfo& info) {
    return rethrown(info.Env(), [&]() -> Napi::Value {
      train::Session& session = open("predict");
      int64_t batch;
      const float* x = batchArg(info, "TrainingSession.predict", batch);
      std::vector<float> logits;
      session.predict(x, batch, logits);
      return float32Array(info.Env(), logits);
    });
  }

  /** names (optional): only these trainable parameters. */
  Napi::Value parameters(const Napi::CallbackInfo& info) {
    return rethrown(info.Env(), [&]() -> Napi::Value {
      const std::string fn = "TrainingSession.parameters";
      train::Session& session = open("parameters");
      std::vector<std::string> names;
      const bool filtered = !info[0].IsUndefined();
      if (filtered) {
        if (!info[0].IsArray()) throw Error(fn + ": names must be an array of parameter names, not " + describe(info[0]));
        const Napi::Array a = info[0].As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); i++) {
          const Napi::Value name = a.Get(i);
          if (!name.IsString()) throw Error(fn + ": names[" + std::to_string(i) + "] must be a string, not " + describe(name));
          names.push_back(name.As<Napi::String>().Utf8Value());
        }
      }
      std::vector<std::pair<std::string, std::vector<float>>> entries;
      try {
        entries = session.parameters(filtered ? &names : nullptr);
      } catch (const sl::Error& e) {
        throw Error("TrainingSession." + std::string(e.what()));
      }
      Napi::Object o = Napi::Object::New(info.Env());
      for (const auto& [name, values] : entries) {
        auto array = Napi::Float32Array::New(info.Env(), values.size());
        if (!values.empty()) std::memcpy(array.Data(), values.data(), values.size() * sizeof(float));
        o.Set(name, array);
      }
      return o;
    });
  }

  Napi::Value denseGradients(const Napi::CallbackInfo& info) {
    return rethrown(info.Env(),
                    [&]() -> Napi::Value { return namedArrays(info.Env(), open("denseGradients").denseGradients()); });
  }

  /** masks: parameter name → {mask: Uint8Array, values: Float32Array}; options: {resetOptimizerState}. */
  Napi::Value setMasks(const Napi::CallbackInfo& info) {
    return rethrown(info.Env(), [&]() -> Napi::Value {
      const std::string fn = "TrainingSession.setMasks";
      train::Session& session = open("setMasks");
      if (!info[0].IsObject() || info[0].IsArray() || info[0].IsTypedArray())
        throw Error(fn + ": masks must be an object of parameter name → {mask, values}, not " + describe(info[0]));
      if (!info[1].IsObject() || info[1].IsArray())
        throw Error(fn + ": options must be {resetOptimizerState}, not " + describe(info[1]));
      const bool reset =
          booleanValue(info[1].As<Napi::Object>().Get("resetOptimizerState"), fn + ": options.resetOptimizerState");
      const Napi::Object masks = info[0].As<Napi::Object>();
      const Napi::Array names = masks.GetPropertyNames();
      std::vector<train::MaskUpdate> updates;
      for (uint32_t i = 0; i < names.Length(); i++) {
        train::MaskUpdate update;
        update.name = names.Get(i).As<Napi::String>().Utf8Value();
        const std::string what = fn + ": masks[\"" + update.name + "\"]";
        const Napi::Value entry = masks.Get(update.name);
        if (!entry.IsObject() || entry.IsArray() || entry.IsTypedArray())
          throw Error(what + " must be {mask, values}, not " + describe(entry));
        const Napi::Object o = entry.As<Napi::Object>();
        // The typed arrays stay alive in `masks` through the call.
        auto mask = typedArray<uint8_t>(o.Get("mask"), napi_uint8_array, what + ".mask", "Uint8Array");
        auto values = typedArray<float>(o.Get("values"), napi_float32_array, what + ".values", "Float32Array");
        update.mask = mask.Data();
        update.maskLength = int64_t(mask.ElementLength());
        update.values = values.Data();
        update.valueCount = int64_t(values.ElementLength());
        updates.push_back(std::move(update));
      }
      try {
        session.setMasks(updates, reset);
      } catch (const sl::Error& e) {
        throw Error("TrainingSession." + std::string(e.what()));
      }
      return info.Env().Undefined();
    });
  }

  Napi::Value describeParams(const Napi::CallbackInfo& info) {
    return rethrown(info.Env(), [&]() -> Napi::Value {
      Napi::Object o = Napi::Object::New(info.Env());
      for (const auto& [name, how] : open("describe").describe()) o.Set(name, how);
      return o;
    });
  }

  Napi::Value close(const Napi::CallbackInfo& info) {
    session_.reset();
    return info.Env().Undefined();
  }

  std::unique_ptr<train::Session> session_;
  int64_t sampleSize_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Functions

Napi::Value trainOps(const Napi::CallbackInfo& info) {
  const std::vector<std::string> ops = train::registeredOps();
  Napi::Array out = Napi::Array::New(info.Env(), ops.size());
  for (size_t i = 0; i < ops.size(); i++) out.Set(uint32_t(i), ops[i]);
  return out;
}

Napi::Value trainOpCheck(const Napi::CallbackInfo& info) {
  const std::string fn = "trainOpCheck";
  const Napi::Object nodeArg = argObject(info, 0, fn);
  if (!info[1].IsArray()) throw Error(fn + ": inputs must be an array of {shape, data}, not " + describe(info[1]));
  const Napi::Array inputsArg = info[1].As<Napi::Array>();
  std::vector<Tensor<double>> inputs;
  for (uint32_t i = 0; i < inputsArg.Length(); i++)
    inputs.push_back(checkedTensor(inputsArg.Get(i), fn + ": inputs[" + std::to_string(i) + "]"));
  const Napi::Object options = info[2].IsUndefined() ? Napi::Object::New(info.Env()) : argObject(info, 2, fn);

  // Inputs and outputs default to 0..n-1; output ids only count the outputs.
  Napi::Object nodeObject = Napi::Object::New(info.Env());
  for (const char* key : {"op", "name", "ints", "floats", "intLists", "strings"}) nodeObject.Set(key, nodeArg.Get(key));
  uint64_t outputCount = 1;
  if (!options.Get("outputCount").IsUndefined())
    outputCount = wholeNumber(options.Get("outputCount"), fn + ": options.outputCount", 1, 64);
  if (nodeArg.Get("outputs").IsArray()) outputCount = nodeArg.Get("outputs").As<Napi::Array>().Length();
  Napi::Array defaultInputs = Napi::Array::New(info.Env(), inputs.size()), outputs = Napi::Array::New(info.Env(), outputCount);
  for (uint32_t i = 0; i < inputs.size(); i++) defaultInputs.Set(i, double(i));
  for (uint32_t i = 0; i < outputCount; i++) outputs.Set(i, double(i));
  nodeObject.Set("inputs", nodeArg.Get("inputs").IsUndefined() ? Napi::Value(defaultInputs) : nodeArg.Get("inputs"));
  nodeObject.Set("outputs", outputs);
  const Node node = nodeValue(nodeObject, fn + ": node", int(std::max<uint64_t>(inputs.size(), outputCount)));
  for (size_t k = 0; k < node.inputs.size(); k++) {
    if (node.inputs[k] >= int(inputs.size())) {
      throw Error(fn + ": node.inputs[" + std::to_string(k) + "] = " + std::to_string(node.inputs[k]) + ", but " +
                  std::to_string(inputs.size()) + " inputs are given");
    }
  }

  // A sparse weight: input 1 given dense, run with its active values in layout order.
  train::SparseWeight sparse;
  const bool isSparse = !options.Get("sparseWeightMask").IsUndefined();
  int weightInput = -1;
  if (isSparse) {
    if (node.inputs.size() < 2 || node.inputs[1] < 0) throw Error(fn + ": options.sparseWeightMask needs an input 1");
    weightInput = node.inputs[1];
    Tensor<double>& weight = inputs[size_t(weightInput)];
    auto mask =
        typedArray<uint8_t>(options.Get("sparseWeightMask"), napi_uint8_array, fn + ": options.sparseWeightMask", "Uint8Array");
    if (int64_t(mask.ElementLength()) != weight.size()) {
      throw Error(fn + ": options.sparseWeightMask has " + std::to_string(mask.ElementLength()) + " values; input 1 has " +
                  std::to_string(weight.size()));
    }
    std::string whyNot;
    if (!train::sparseWeightFor(node, weight.shape, mask.Data(), sparse, whyNot)) {
      throw Error(fn + ": " + node.op + " node \"" + node.name + "\" cannot take its weight sparse: " + whyNot);
    }
    std::vector<double> active(sparse.denseIndex.size());
    for (size_t t = 0; t < active.size(); t++) active[t] = weight.data[size_t(sparse.denseIndex[t])];
    weight.data = std::move(active);
  }

  std::vector<Tensor<double>> outputGrads;
  const Napi::Value gradsArg = options.Get("outputGrads");
  if (!gradsArg.IsUndefined()) {
    if (!gradsArg.IsArray())
      throw Error(fn + ": options.outputGrads must be an array of Float64Array, not " + describe(gradsArg));
    const Napi::Array grads = gradsArg.As<Napi::Array>();
    for (uint32_t i = 0; i < grads.Length(); i++) {
      auto g = typedArray<double>(grads.Get(i), napi_float64_array, fn + ": options.outputGrads[" + std::to_string(i) + "]",
                                  "Float64Array");
      Tensor<double> t;
      t.data.assign(g.Data(), g.Data() + g.ElementLength());
      outputGrads.push_back(std::move(t));
    }
  }

  const train::OpCheckResult result =
      train::runOpCheck(node, inputs, isSparse ? &sparse.layout : nullptr, gradsArg.IsUndefined() ? nullptr : &outputGrads);

  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  Napi::Array outs = Napi::Array::New(env, result.outputs.size());
  for (size_t k = 0; k < result.outputs.size(); k++)
    outs.Set(uint32_t(k), tensorObject(env, result.outputs[k].shape, result.outputs[k].data));
  out.Set("outputs", outs);
  Napi::Array grads = Napi::Array::New(env, result.inputGrads.size());
  for (size_t k = 0; k < result.inputGrads.size(); k++) {
    const Tensor<double>& g = result.inputGrads[k];
    const int source = node.inputs[k];
    if (source < 0) {
      grads.Set(uint32_t(k), env.Null());
    } else if (isSparse && k == 1) {  // back to the dense weight, zero where inactive
      std::vector<double> dense(size_t(train::numel(inputs[size_t(source)].shape)), 0.0);
      if (g.data.size() != sparse.denseIndex.size()) throw Error(fn + ": the op wrote a sparse gradient of the wrong size");
      for (size_t t = 0; t < g.data.size(); t++) dense[size_t(sparse.denseIndex[t])] = g.data[t];
      grads.Set(uint32_t(k), tensorObject(env, inputs[size_t(source)].shape, dense));
    } else if (g.size() == inputs[size_t(source)].size() && (g.size() > 0 || !g.shape.empty())) {
      grads.Set(uint32_t(k), tensorObject(env, g.shape, g.data));
    } else {
      grads.Set(uint32_t(k), env.Null());  // the op has no gradient for this input
    }
  }
  out.Set("inputGrads", grads);
  if (isSparse && !gradsArg.IsUndefined())
    out.Set("denseWeightGrad", tensorObject(env, result.denseWeightGrad.shape, result.denseWeightGrad.data));
  return out;
}

Napi::Value trainLossCheck(const Napi::CallbackInfo& info) {
  const std::string fn = "trainLossCheck";
  const Tensor<double> logits = checkedTensor(info[0], fn + ": logits");
  if (logits.shape.size() != 2) throw Error(fn + ": logits must be [batch, classes], not " + train::shapeText(logits.shape));
  const Napi::Object targetsArg = argObject(info, 1, fn);
  train::Targets targets;
  const double* teacher = nullptr;
  if (targetsArg.Has("labels")) {
    auto labels = typedArray<int32_t>(targetsArg.Get("labels"), napi_int32_array, fn + ": targets.labels", "Int32Array");
    if (int64_t(labels.ElementLength()) != logits.shape[0]) {
      throw Error(fn + ": targets.labels has " + std::to_string(labels.ElementLength()) + " labels for " +
                  std::to_string(logits.shape[0]) + " samples");
    }
    targets.labels = labels.Data();
  } else {
    auto t =
        typedArray<double>(targetsArg.Get("teacherLogits"), napi_float64_array, fn + ": targets.teacherLogits", "Float64Array");
    if (int64_t(t.ElementLength()) != logits.size()) {
      throw Error(fn + ": targets.teacherLogits has " + std::to_string(t.ElementLength()) + " values; the logits have " +
                  std::to_string(logits.size()));
    }
    teacher = t.Data();
    targets.temperature = finiteNumber(targetsArg.Get("temperature"), fn + ": targets.temperature");
    if (targets.temperature <= 0)
      throw Error(fn + ": targets.temperature must be above 0, not " + describe(targetsArg.Get("temperature")));
  }
  Tensor<double> grad;
  const double loss = train::lossAndGradient(logits, targets, teacher, grad);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("loss", loss);
  out.Set("grad", float64Array(info.Env(), grad.data));
  return out;
}

/** A number option: any JS number (NaN too: the update then computes what the TypeScript does). */
double numberField(const Napi::Object& o, const char* key, const std::string& what) {
  const Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Error(what + "." + key + " must be a number, not " + describe(v));
  return v.As<Napi::Number>().DoubleValue();
}

/**
 * sriglLayerUpdate(layer: {rows, cols, weights, mask, grads}, options: {sparsity, dropFraction,
 * gammaSal}) → {weights, mask, k, nKeep, nPrune, ablated, threshold, grown, dropped}: the port of
 * src/core/train/sriglUpdate.ts. Its SriglUpdateErrors come out as Errors whose message is
 * "SRigL update: " and the TypeScript's message; wrong argument types as plain Errors.
 */
Napi::Value sriglLayerUpdate(const Napi::CallbackInfo& info) {
  const std::string fn = "sriglLayerUpdate";
  const std::string prefix = "SRigL update: ";
  const Napi::Object layer = argObject(info, 0, fn);
  const Napi::Object optionsArg = argObject(info, 1, fn);
  const int64_t rows = int64_t(wholeNumber(layer.Get("rows"), fn + ": layer.rows", 0, kMaxId));
  const int64_t cols = int64_t(wholeNumber(layer.Get("cols"), fn + ": layer.cols", 0, kMaxId));
  auto weights = typedArray<float>(layer.Get("weights"), napi_float32_array, fn + ": layer.weights", "Float32Array");
  auto mask = typedArray<uint8_t>(layer.Get("mask"), napi_uint8_array, fn + ": layer.mask", "Uint8Array");
  auto grads = typedArray<float>(layer.Get("grads"), napi_float32_array, fn + ": layer.grads", "Float32Array");
  train::SriglLayerOptions options;
  options.sparsity = numberField(optionsArg, "sparsity", fn + ": options");
  options.dropFraction = numberField(optionsArg, "dropFraction", fn + ": options");
  const Napi::Value gamma = optionsArg.Get("gammaSal");
  if (!gamma.IsNull()) {
    if (!gamma.IsNumber()) throw Error(fn + ": options.gammaSal must be a number or null, not " + describe(gamma));
    options.ablation = true;
    options.gammaSal = gamma.As<Napi::Number>().DoubleValue();
  }
  const uint64_t numel = uint64_t(rows) * uint64_t(cols);
  if (weights.ElementLength() != numel || mask.ElementLength() != numel || grads.ElementLength() != numel) {
    throw Error(prefix + "weights, mask and gradient must each hold " + std::to_string(rows) + " × " + std::to_string(cols) +
                " values");
  }

  Napi::Env env = info.Env();
  auto outWeights = Napi::Float32Array::New(env, size_t(numel));
  auto outMask = Napi::Uint8Array::New(env, size_t(numel));
  train::SriglLayerFigures figures;
  try {
    figures = train::sriglLayerUpdate(rows, cols, weights.Data(), mask.Data(), grads.Data(), options, outWeights.Data(),
                                      outMask.Data());
  } catch (const train::SriglUpdateError& e) {
    throw Error(prefix + e.what());
  }

  Napi::Object out = Napi::Object::New(env);
  out.Set("weights", outWeights);
  out.Set("mask", outMask);
  out.Set("k", figures.k);
  out.Set("nKeep", figures.nKeep);
  out.Set("nPrune", figures.nPrune);
  Napi::Array ablated = Napi::Array::New(env, figures.ablated.size());
  for (size_t i = 0; i < figures.ablated.size(); i++) ablated.Set(uint32_t(i), double(figures.ablated[i]));
  out.Set("ablated", ablated);
  out.Set("threshold", figures.hasThreshold ? Napi::Value(Napi::Number::New(env, figures.threshold)) : env.Null());
  out.Set("grown", double(figures.grown));
  out.Set("dropped", double(figures.dropped));
  return out;
}

}  // namespace

void RegisterTraining(Napi::Env env, Napi::Object exports) {
  exports.Set("TrainingSession", TrainingSession::define(env));
  exportFunction<trainOps>(env, exports, "trainOps");
  exportFunction<trainOpCheck>(env, exports, "trainOpCheck");
  exportFunction<trainLossCheck>(env, exports, "trainLossCheck");
  exportFunction<sriglLayerUpdate>(env, exports, "sriglLayerUpdate");
}

}  // namespace sl::binding
