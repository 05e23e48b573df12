// The mask capability: nmMask and fanInMask.
#include "../masks.h"
#include "args.h"
#include "exports.h"

namespace sl::binding {

namespace {

Napi::Value nmMask(const Napi::CallbackInfo& info) {
  const std::string fn = "nmMask";
  const WeightArgs t(info, fn);
  const unsigned threads = threadsArg(t.a.Get("threads"), fn);
  const NmArgs nm = nmArgs(t.a, fn, false);
  auto mask = Napi::Uint8Array::New(info.Env(), size_t(t.g.numel));
  nmMaskKernel(t.src, t.g, nm.n, nm.m, threads, mask.Data());
  return mask;
}

Napi::Value fanInMask(const Napi::CallbackInfo& info) {
  const std::string fn = "fanInMask";
  const WeightArgs t(info, fn);
  const unsigned threads = threadsArg(t.a.Get("threads"), fn);
  const uint64_t k = wholeNumber(t.a.Get("k"), fn + ": k");
  auto mask = Napi::Uint8Array::New(info.Env(), size_t(t.g.numel));
  fanInMaskKernel(t.src, t.g, k, threads, mask.Data());
  return mask;
}

}  // namespace

void RegisterMasks(Napi::Env env, Napi::Object exports) {
  exportFunction<nmMask>(env, exports, "nmMask");
  exportFunction<fanInMask>(env, exports, "fanInMask");
}

}  // namespace sl::binding
