// The scan capability: scan, heatmap and weightWindow.
#include <algorithm>
#include <cstring>

#include "../heatmap.h"
#include "../scan.h"
#include "../weight_window.h"
#include "args.h"
#include "exports.h"

namespace sl::binding {

namespace {

/** One tensor's scan: the arguments object of `scan`, the result object it returns. */
Napi::Object scanOne(Napi::Env env, const Napi::Object& a, const std::string& fn) {
  TensorGeom g;
  Source src;
  tensorArgs(a, fn, g, src);
  const NmArgs nm = nmArgs(a, fn, true);
  const double threshold = thresholdArg(a.Get("zeroThreshold"), fn);
  const unsigned threads = threadsArg(a.Get("threads"), fn);
  Napi::Value fanInV = env.Null(), fanOutV = env.Null();
  uint32_t* fanIn = nullptr;
  uint32_t* fanOut = nullptr;
  if (g.hasLayout) {
    const uint64_t outDim = g.shape[size_t(g.outAxis)];
    auto fi = Napi::Uint32Array::New(env, size_t(outDim));
    auto fo = Napi::Uint32Array::New(env, size_t(outDim == 0 ? 0 : g.numel / outDim));
    fanIn = fi.Data();
    fanOut = fo.Data();
    fanInV = fi;
    fanOutV = fo;
  }
  ScanResultNative r;
  scanKernel(src, g, nm.n, nm.m, threshold, threads, fanIn, fanOut, r);
  // Only when asked for: 130 doubles per tensor add up over a model of many small tensors.
  Napi::Value histV = env.Null();
  if (a.Get("histogram").ToBoolean().Value()) {
    auto hist = Napi::Float64Array::New(env, kHistBins);
    std::memcpy(hist.Data(), r.histogram, sizeof(r.histogram));
    histV = hist;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("nnz", double(r.nnz));
  out.Set("negativeZeros", double(r.negativeZeros));
  out.Set("fanIn", fanInV);
  out.Set("fanOut", fanOutV);
  out.Set("nmGroups", double(r.nmGroups));
  out.Set("nmCompliant", double(r.nmCompliant));
  out.Set("nmPartial", double(r.nmPartial));
  out.Set("nmExcess", double(r.nmExcess));
  out.Set("histogram", histV);
  return out;
}

Napi::Value scan(const Napi::CallbackInfo& info) {
  return scanOne(info.Env(), argObject(info, 0, "scan"), "scan");
}

/** Many tensors in one call: a model of many small tensors costs one call, not one each. */
Napi::Value scanMany(const Napi::CallbackInfo& info) {
  const std::string fn = "scanMany";
  if (info.Length() < 1 || !info[0].IsArray()) throw Error(fn + ": expected an array of scan arguments");
  const Napi::Array requests = info[0].As<Napi::Array>();
  Napi::Array results = Napi::Array::New(info.Env(), requests.Length());
  for (uint32_t i = 0; i < requests.Length(); i++) {
    const Napi::Value a = requests.Get(i);
    const std::string at = fn + "[" + std::to_string(i) + "]";
    if (!a.IsObject()) throw Error(at + ": expected an object");
    results.Set(i, scanOne(info.Env(), a.As<Napi::Object>(), at));
  }
  return results;
}

Napi::Value heatmap(const Napi::CallbackInfo& info) {
  const std::string fn = "heatmap";
  const WeightArgs t(info, fn);
  const ViewWindow v = windowArgs(t, fn);
  const uint64_t width = wholeNumber(t.a.Get("width"), fn + ": width", 1);
  const uint64_t height = wholeNumber(t.a.Get("height"), fn + ": height", 1);
  const double threshold = thresholdArg(t.a.Get("zeroThreshold"), fn);
  const unsigned threads = threadsArg(t.a.Get("threads"), fn);
  HeatmapWindow w{v.rowStart, v.rowEnd, v.colStart, v.colEnd, std::min(height, v.rowEnd - v.rowStart), std::min(width, v.colEnd - v.colStart)};
  constexpr uint64_t kMaxCells = uint64_t(1) << 22;
  if (w.rows > kMaxCells || w.cols > kMaxCells || w.rows * w.cols > kMaxCells) {
    throw Error(fn + ": " + std::to_string(w.rows) + "×" + std::to_string(w.cols) + " cells is more than the 2^22 supported");
  }
  Napi::Env env = info.Env();
  auto density = Napi::Float32Array::New(env, size_t(w.rows * w.cols));
  auto meanAbs = Napi::Float32Array::New(env, size_t(w.rows * w.cols));
  heatmapKernel(t.src, t.g, w, threshold, threads, density.Data(), meanAbs.Data());
  Napi::Object out = Napi::Object::New(env);
  out.Set("rows", double(w.rows));
  out.Set("cols", double(w.cols));
  out.Set("density", density);
  out.Set("meanAbs", meanAbs);
  return out;
}

Napi::Value weightWindow(const Napi::CallbackInfo& info) {
  const std::string fn = "weightWindow";
  const WeightArgs t(info, fn);
  const ViewWindow w = windowArgs(t, fn);
  checkWindowSpan(t.g, w);
  auto out = Napi::Float32Array::New(info.Env(), size_t((w.rowEnd - w.rowStart) * (w.colEnd - w.colStart)));
  weightWindowKernel(t.src, t.g, w, out.Data());
  return out;
}

}  // namespace

void RegisterScan(Napi::Env env, Napi::Object exports) {
  exportFunction<scan>(env, exports, "scan");
  exportFunction<scanMany>(env, exports, "scanMany");
  exportFunction<heatmap>(env, exports, "heatmap");
  exportFunction<weightWindow>(env, exports, "weightWindow");
}

}  // namespace sl::binding
