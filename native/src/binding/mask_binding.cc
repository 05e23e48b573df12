// The mask capability: nmMask and fanInMask.
#include "../masks.h"
#include "args.h"
#include "exports.h"

namespace sl::binding {

namespace {

Napi::Value nmMask(const Napi::CallbackInfo& info) {
  const std::string fn = "nmMask";
  const Napi::Object a = argObject(info, 0, fn);
  TensorGeom g;
  Source src;
  tensorArgs(a, fn, g, src);
  requireLayout(g, fn);
  const unsigned threads = threadsArg(a.Get("threads"), fn);
  const NmArgs nm = nmArgs(a, fn, false);
  auto mask = Napi::Uint8Array::New(info.Env(), size_t(g.numel));
  nmMaskKernel(src, g, nm.n, nm.m, threads, mask.Data());
  return mask;
}

Napi::Value fanInMask(const Napi::CallbackInfo& info) {
  const std::string fn = "fanInMask";
  const Napi::Object a = argObject(info, 0, fn);
  TensorGeom g;
  Source src;
  tensorArgs(a, fn, g, src);
  requireLayout(g, fn);
  const unsigned threads = threadsArg(a.Get("threads"), fn);
  const uint64_t k = wholeNumber(a.Get("k"), fn + ": k");
  auto mask = Napi::Uint8Array::New(info.Env(), size_t(g.numel));
  fanInMaskKernel(src, g, k, threads, mask.Data());
  return mask;
}

}  // namespace

void RegisterMasks(Napi::Env env, Napi::Object exports) {
  exportFunction<nmMask>(env, exports, "nmMask");
  exportFunction<fanInMask>(env, exports, "fanInMask");
}

}  // namespace sl::binding
