#include "args.h"

#include <cmath>
#include <sstream>

namespace sl::binding {

namespace {

std::string numberText(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

int64_t axisValue(const Napi::Value& v, const std::string& what, size_t rank) {
  if (v.IsNumber()) {
    const double d = v.As<Napi::Number>().DoubleValue();
    if (d == -1) return -1;
    if (std::isfinite(d) && std::floor(d) == d && d >= 0 && d < double(rank)) return int64_t(d);
  }
  throw Error(what + " must be -1 (no layout) or an axis in [0, " + std::to_string(rank) + "), not " + describe(v));
}

}  // namespace

std::string describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return numberText(v.As<Napi::Number>().DoubleValue());
  if (v.IsString()) return "the string \"" + v.As<Napi::String>().Utf8Value() + "\"";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsTypedArray()) return "a typed array of the wrong element type";
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) return "an object";
  return "a value of another type";
}

uint64_t wholeNumber(const Napi::Value& v, const std::string& what, uint64_t lo, uint64_t hi) {
  if (v.IsNumber()) {
    const double d = v.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && std::floor(d) == d && d >= double(lo) && d <= double(hi)) return uint64_t(d);
  }
  throw Error(what + " must be a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], not " +
              describe(v));
}

int64_t integer(const Napi::Value& v, const std::string& what) {
  if (v.IsNumber()) {
    const double d = v.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) <= double(kMaxSafe)) return int64_t(d);
  }
  throw Error(what + " must be an integer, not " + describe(v));
}

Napi::Object argObject(const Napi::CallbackInfo& info, size_t i, const std::string& fn) {
  if (info.Length() <= i || !info[i].IsObject() || info[i].IsArray()) {
    throw Error(fn + ": argument " + std::to_string(i + 1) + " must be an object, not " +
                (info.Length() <= i ? std::string("missing") : describe(info[i])));
  }
  return info[i].As<Napi::Object>();
}

unsigned threadsArg(const Napi::Value& v, const std::string& fn) {
  if (v.IsUndefined()) return 0;  // hardware concurrency
  return unsigned(wholeNumber(v, fn + ": threads", 0, 1024));
}

double thresholdArg(const Napi::Value& v, const std::string& fn) {
  if (v.IsNumber()) {
    const double d = v.As<Napi::Number>().DoubleValue();
    if (d >= 0) return d;  // NaN fails this
  }
  throw Error(fn + ": zeroThreshold must be a number >= 0, not " + describe(v));
}

void tensorArgs(const Napi::Object& a, const std::string& fn, TensorGeom& g, Source& src) {
  const Napi::Value dt = a.Get("dtype");
  if (!dt.IsString() || !parseDType(dt.As<Napi::String>().Utf8Value(), g.dtype)) {
    throw Error(fn + ": dtype must be one of float32, float64, float16, bfloat16, float8_e4m3fn, float8_e5m2, "
                     "float8_e4m3fnuz, float8_e5m2fnuz, float8_e8m0, float4_e2m1, complex64, complex128, int8, uint8, "
                     "int16, uint16, int32, uint32, int64, uint64, bool; not " +
                describe(dt));
  }
  g.bits = dtypeBits(g.dtype);

  const Napi::Value shapeV = a.Get("shape");
  if (!shapeV.IsArray()) throw Error(fn + ": shape must be an array of whole numbers, not " + describe(shapeV));
  const Napi::Array shape = shapeV.As<Napi::Array>();
  const uint32_t rank = shape.Length();
  if (rank > 64) throw Error(fn + ": shape has " + std::to_string(rank) + " axes; at most 64 are supported");
  g.shape.resize(rank);
  bool anyZero = false, overflow = false;
  unsigned __int128 numel = 1;
  for (uint32_t i = 0; i < rank; i++) {
    g.shape[i] = wholeNumber(shape.Get(i), fn + ": shape[" + std::to_string(i) + "]");
    if (g.shape[i] == 0) anyZero = true;
    else if (!overflow && (numel *= g.shape[i]) > kMaxSafe) overflow = true;
  }
  if (overflow && !anyZero) throw Error(fn + ": shape has more than 2^53 - 1 elements");
  g.numel = anyZero ? 0 : uint64_t(numel);

  const int64_t outAxis = axisValue(a.Get("outAxis"), fn + ": outAxis", rank);
  const int64_t inAxis = axisValue(a.Get("inAxis"), fn + ": inAxis", rank);
  if ((outAxis < 0) != (inAxis < 0)) {
    throw Error(fn + ": outAxis and inAxis must both be -1 (no layout) or both be axes, not " + std::to_string(outAxis) +
                " and " + std::to_string(inAxis));
  }
  g.hasLayout = outAxis >= 0;
  g.outAxis = int(outAxis);
  g.inAxis = int(inAxis);
  g.derive();

  // float4 packs two elements per byte; an odd count leaves the last byte's high nibble unused.
  const uint64_t expected = (g.numel * uint64_t(g.bits) + 7) / 8;
  auto sizeError = [&](uint64_t got) {
    return Error(fn + ": source has " + std::to_string(got) + " bytes, but " + std::to_string(g.numel) + " " +
                 dtypeName(g.dtype) + " elements take " + std::to_string(expected));
  };
  const Napi::Value sv = a.Get("source");
  if (!sv.IsObject() || sv.IsArray()) {
    throw Error(fn + ": source must be {path, offset, length} or {bytes}, not " + describe(sv));
  }
  const Napi::Object so = sv.As<Napi::Object>();
  if (so.Has("bytes")) {
    auto bytes = typedArray<uint8_t>(so.Get("bytes"), napi_uint8_array, fn + ": source.bytes", "Uint8Array");
    if (bytes.ElementLength() != expected) throw sizeError(bytes.ElementLength());
    src.useMemory(bytes.Data(), bytes.ElementLength());
    return;
  }
  const Napi::Value pv = so.Get("path");
  if (!pv.IsString() || pv.As<Napi::String>().Utf8Value().empty()) {
    throw Error(fn + ": source.path must be a non-empty string (or give source.bytes), not " + describe(pv));
  }
  const std::string path = pv.As<Napi::String>().Utf8Value();
  const uint64_t offset = wholeNumber(so.Get("offset"), fn + ": source.offset");
  const uint64_t length = wholeNumber(so.Get("length"), fn + ": source.length");
  if (length != expected) throw sizeError(length);
  src.openFile(path, offset, length);
}

void requireLayout(const TensorGeom& g, const std::string& fn) {
  if (!g.hasLayout) throw Error(fn + ": the tensor needs a layout (outAxis and inAxis), not -1");
}

NmArgs nmArgs(const Napi::Object& a, const std::string& fn, bool noneAllowed) {
  const Napi::Value nv = a.Get("n"), mv = a.Get("m");
  auto whole = [](const Napi::Value& v, double hi) {
    if (!v.IsNumber()) return false;
    const double d = v.As<Napi::Number>().DoubleValue();
    return std::isfinite(d) && std::floor(d) == d && d >= 0 && d <= hi;
  };
  if (!whole(mv, 65535) || !whole(nv, double(kMaxSafe)) || (!noneAllowed && mv.As<Napi::Number>().DoubleValue() == 0)) {
    throw Error(fn + ": invalid N:M pattern (n = " + describe(nv) + ", m = " + describe(mv) + ")");
  }
  return {uint64_t(nv.As<Napi::Number>().DoubleValue()), uint64_t(mv.As<Napi::Number>().DoubleValue())};
}

WeightArgs::WeightArgs(const Napi::CallbackInfo& info, const std::string& fn) : a(argObject(info, 0, fn)) {
  tensorArgs(a, fn, g, src);
  requireLayout(g, fn);
}

ViewWindow windowArgs(const WeightArgs& w, const std::string& fn) {
  auto edge = [&](const char* name) { return integer(w.a.Get(name), fn + ": " + name); };
  return checkedWindow(w.g, edge("rowStart"), edge("rowEnd"), edge("colStart"), edge("colEnd"), fn);
}

}  // namespace sl::binding
