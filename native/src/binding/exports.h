// How the capability bindings add their functions to the addon's exports. Each capability has
// one binding file that registers all of its functions; binding/addon.cc calls the registrars.
#pragma once

#include <napi.h>

#include <exception>
#include <new>

namespace sl::binding {

using Handler = Napi::Value (*)(const Napi::CallbackInfo&);

/** Turns C++ exceptions into JS Errors. */
template <Handler F>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

/** exports[name] = F, its exceptions turned into JS Errors. */
template <Handler F>
void exportFunction(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, guarded<F>, name));
}

/** scan, scanMany, heatmap, weightWindow (scan_binding.cc). */
void RegisterScan(Napi::Env env, Napi::Object exports);
/** nmMask, fanInMask (mask_binding.cc). */
void RegisterMasks(Napi::Env env, Napi::Object exports);
/** condense, condensedForward, denseForward (condensed_binding.cc). */
void RegisterCondensed(Napi::Env env, Napi::Object exports);
/** TrainingSession, trainOps, trainOpCheck, trainLossCheck (train_binding.cc). */
void RegisterTraining(Napi::Env env, Napi::Object exports);

}  // namespace sl::binding
