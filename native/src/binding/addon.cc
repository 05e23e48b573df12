// The N-API addon: each capability's binding registers its functions. The bindings validate
// every argument (a bad one throws a JS Error naming it, never a crash), open sources, create
// JS-owned result arrays (Electron's memory cage forbids external ArrayBuffers) and run the
// kernels synchronously. The JS-facing API is src/kernels/nativeAddon.ts.
#include <napi.h>

#include <cstdlib>

#include "exports.h"

namespace {

/** Test only: aborts the process, to prove a native crash stays in the worker process. */
Napi::Value crashForTest(const Napi::CallbackInfo&) { std::abort(); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  sl::binding::RegisterScan(env, exports);
  sl::binding::RegisterMasks(env, exports);
  sl::binding::RegisterCondensed(env, exports);
  sl::binding::RegisterTraining(env, exports);
  exports.Set("crashForTest", Napi::Function::New(env, crashForTest, "crashForTest"));
  return exports;
}

}  // namespace

NODE_API_MODULE(sparsity_lens_native, Init)
