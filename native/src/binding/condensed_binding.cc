// The condensed capability: condense, condensedForward and denseForward.
#include <cstring>

#include "../condense.h"
#include "../forward.h"
#include "args.h"
#include "exports.h"

namespace sl::binding {

namespace {

Napi::Value condense(const Napi::CallbackInfo& info) {
  const std::string fn = "condense";
  auto weight = typedArray<float>(info[0], napi_float32_array, fn + ": weight", "Float32Array");
  const uint64_t outF = wholeNumber(info[1], fn + ": outFeatures", 0, 0x7fffffff);
  const uint64_t inF = wholeNumber(info[2], fn + ": inFeatures", 0, 0x7fffffff);
  if (uint64_t(weight.ElementLength()) != outF * inF) {
    throw Error(fn + ": weight has " + std::to_string(weight.ElementLength()) + " values, not " + std::to_string(outF) +
                "×" + std::to_string(inF));
  }
  const CondensePlan plan = condensePlan(weight.Data(), outF, inF);
  const size_t nActive = plan.activeRows.size();
  Napi::Env env = info.Env();
  auto activeRows = Napi::Int32Array::New(env, nActive);
  auto values = Napi::Float32Array::New(env, nActive * size_t(plan.k));
  auto indices = Napi::Int32Array::New(env, nActive * size_t(plan.k));
  if (nActive) std::memcpy(activeRows.Data(), plan.activeRows.data(), nActive * sizeof(int32_t));
  condenseFill(weight.Data(), inF, plan, values.Data(), indices.Data());
  Napi::Object out = Napi::Object::New(env);
  out.Set("outFeatures", double(outF));
  out.Set("inFeatures", double(inF));
  out.Set("k", double(plan.k));
  out.Set("activeRows", activeRows);
  out.Set("values", values);
  out.Set("indices", indices);
  return out;
}

const float* biasArg(const Napi::Value& v, uint64_t outF, const std::string& fn) {
  if (v.IsNull() || v.IsUndefined()) return nullptr;
  auto b = typedArray<float>(v, napi_float32_array, fn + ": bias", "Float32Array (or null)");
  if (uint64_t(b.ElementLength()) != outF) {
    throw Error(fn + ": bias has " + std::to_string(b.ElementLength()) + " values, not outFeatures = " + std::to_string(outF));
  }
  return b.Data();
}

const float* inputArg(const Napi::Value& v, uint64_t batch, uint64_t inF, const std::string& fn) {
  auto x = typedArray<float>(v, napi_float32_array, fn + ": x", "Float32Array");
  if (uint64_t(x.ElementLength()) != batch * inF) {
    throw Error(fn + ": x has " + std::to_string(x.ElementLength()) + " values, not batch × inFeatures = " +
                std::to_string(batch) + "×" + std::to_string(inF));
  }
  return x.Data();
}

Napi::Value condensedForward(const Napi::CallbackInfo& info) {
  const std::string fn = "condensedForward";
  const Napi::Object layer = argObject(info, 0, fn);
  const uint64_t outF = wholeNumber(layer.Get("outFeatures"), fn + ": layer.outFeatures", 0, 0x7fffffff);
  const uint64_t inF = wholeNumber(layer.Get("inFeatures"), fn + ": layer.inFeatures", 0, 0x7fffffff);
  const uint64_t k = wholeNumber(layer.Get("k"), fn + ": layer.k", 0, inF);
  auto activeRows = typedArray<int32_t>(layer.Get("activeRows"), napi_int32_array, fn + ": layer.activeRows", "Int32Array");
  auto values = typedArray<float>(layer.Get("values"), napi_float32_array, fn + ": layer.values", "Float32Array");
  auto indices = typedArray<int32_t>(layer.Get("indices"), napi_int32_array, fn + ": layer.indices", "Int32Array");
  const uint64_t nActive = activeRows.ElementLength();
  if (nActive > outF) {
    throw Error(fn + ": layer.activeRows has " + std::to_string(nActive) + " rows, more than outFeatures = " +
                std::to_string(outF));
  }
  const int32_t* ar = activeRows.Data();
  for (uint64_t a = 0; a < nActive; a++) {
    if (ar[a] < 0 || uint64_t(ar[a]) >= outF || (a > 0 && ar[a] <= ar[a - 1])) {
      throw Error(fn + ": layer.activeRows must ascend strictly within [0, outFeatures = " + std::to_string(outF) +
                  "); activeRows[" + std::to_string(a) + "] = " + std::to_string(ar[a]));
    }
  }
  if (uint64_t(values.ElementLength()) != nActive * k || uint64_t(indices.ElementLength()) != nActive * k) {
    throw Error(fn + ": layer.values and layer.indices must hold activeRows.length × k = " + std::to_string(nActive * k) +
                " values, not " + std::to_string(values.ElementLength()) + " and " +
                std::to_string(indices.ElementLength()));
  }
  if (info.Length() < 4) throw Error(fn + ": expected (layer, bias, x, batch, threads)");
  const float* bias = biasArg(info[1], outF, fn);
  const uint64_t batch = wholeNumber(info[3], fn + ": batch", 0, 0x7fffffff);
  const float* x = inputArg(info[2], batch, inF, fn);
  const unsigned threads = threadsArg(info[4], fn);
  if (batch * outF > (uint64_t(1) << 32)) throw Error(fn + ": batch × outFeatures is too large");
  auto y = Napi::Float32Array::New(info.Env(), size_t(batch * outF));
  condensedForwardKernel(outF, inF, k, ar, nActive, values.Data(), indices.Data(), bias, x, batch, threads, y.Data());
  return y;
}

Napi::Value denseForward(const Napi::CallbackInfo& info) {
  const std::string fn = "denseForward";
  if (info.Length() < 6) throw Error(fn + ": expected (weight, bias, outFeatures, inFeatures, x, batch, threads)");
  auto weight = typedArray<float>(info[0], napi_float32_array, fn + ": weight", "Float32Array");
  const uint64_t outF = wholeNumber(info[2], fn + ": outFeatures", 0, 0x7fffffff);
  const uint64_t inF = wholeNumber(info[3], fn + ": inFeatures", 0, 0x7fffffff);
  if (uint64_t(weight.ElementLength()) != outF * inF) {
    throw Error(fn + ": weight has " + std::to_string(weight.ElementLength()) + " values, not " + std::to_string(outF) +
                "×" + std::to_string(inF));
  }
  const float* bias = biasArg(info[1], outF, fn);
  const uint64_t batch = wholeNumber(info[5], fn + ": batch", 0, 0x7fffffff);
  const float* x = inputArg(info[4], batch, inF, fn);
  const unsigned threads = threadsArg(info[6], fn);
  if (batch * outF > (uint64_t(1) << 32)) throw Error(fn + ": batch × outFeatures is too large");
  auto y = Napi::Float32Array::New(info.Env(), size_t(batch * outF));
  denseForwardKernel(weight.Data(), bias, outF, inF, x, batch, threads, y.Data());
  return y;
}

}  // namespace

void RegisterCondensed(Napi::Env env, Napi::Object exports) {
  exportFunction<condense>(env, exports, "condense");
  exportFunction<condensedForward>(env, exports, "condensedForward");
  exportFunction<denseForward>(env, exports, "denseForward");
}

}  // namespace sl::binding
