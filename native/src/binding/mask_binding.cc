// The mask capability: nmMask and fanInMask, as bytes or packed bits.
#include <cstring>
#include <vector>

#include "../masks.h"
#include "args.h"
#include "exports.h"

namespace sl::binding {

namespace {

/**
 * The mask as the caller asked for it: one byte a weight, or with `packed` 8 weights a byte in
 * storage order, the first in the high bit (numpy.packbits' order), for a mask crossing a
 * process boundary at an eighth of the bytes.
 */
template <typename Kernel>
Napi::Value maskAs(const Napi::CallbackInfo& info, const Napi::Object& args, uint64_t numel, Kernel&& kernel) {
  const Napi::Value packedArg = args.Get("packed");
  if (!packedArg.IsBoolean() || !packedArg.As<Napi::Boolean>().Value()) {
    auto mask = Napi::Uint8Array::New(info.Env(), size_t(numel));
    kernel(mask.Data());
    return mask;
  }
  std::vector<uint8_t> bytes(size_t(numel) + 8, 0);
  kernel(bytes.data());
  auto bits = Napi::Uint8Array::New(info.Env(), size_t((numel + 7) / 8));
  uint8_t* out = bits.Data();
  for (size_t o = 0; o < bits.ElementLength(); o++) {
    uint64_t eight;  // bytes 8o..8o+7, each 0 or 1 (the padding past numel is 0)
    std::memcpy(&eight, bytes.data() + 8 * o, 8);
    out[o] = uint8_t((eight * 0x8040201008040201ULL) >> 56);  // byte j to bit 7 - j (little-endian)
  }
  return bits;
}

Napi::Value nmMask(const Napi::CallbackInfo& info) {
  const std::string fn = "nmMask";
  const WeightArgs t(info, fn);
  const unsigned threads = threadsArg(t.a.Get("threads"), fn);
  const NmArgs nm = nmArgs(t.a, fn, false);
  return maskAs(info, t.a, t.g.numel, [&](uint8_t* mask) { nmMaskKernel(t.src, t.g, nm.n, nm.m, threads, mask); });
}

Napi::Value fanInMask(const Napi::CallbackInfo& info) {
  const std::string fn = "fanInMask";
  const WeightArgs t(info, fn);
  const unsigned threads = threadsArg(t.a.Get("threads"), fn);
  const uint64_t k = wholeNumber(t.a.Get("k"), fn + ": k");
  return maskAs(info, t.a, t.g.numel, [&](uint8_t* mask) { fanInMaskKernel(t.src, t.g, k, threads, mask); });
}

}  // namespace

void RegisterMasks(Napi::Env env, Napi::Object exports) {
  exportFunction<nmMask>(env, exports, "nmMask");
  exportFunction<fanInMask>(env, exports, "fanInMask");
}

}  // namespace sl::binding
