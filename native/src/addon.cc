// The N-API binding: validates every argument (a bad one throws a JS Error naming it, never a
// crash), opens sources, creates JS-owned result arrays (Electron's memory cage forbids external
// ArrayBuffers) and runs the kernels synchronously. The JS-facing API is src/kernels/nativeAddon.ts.
#include <napi.h>

#include <cstdlib>
#include <sstream>

#include "condense.h"
#include "forward.h"
#include "heatmap.h"
#include "masks.h"
#include "scan.h"

namespace {

using sl::Error;

/** 2^53 - 1: the largest integer a JS number holds exactly. */
constexpr uint64_t kMaxSafe = (uint64_t(1) << 53) - 1;

std::string numberText(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

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

/** A whole number in [lo, hi] (hi at most 2^53 - 1). */
uint64_t wholeNumber(const Napi::Value& v, const std::string& what, uint64_t lo = 0, uint64_t hi = kMaxSafe) {
  if (v.IsNumber()) {
    const double d = v.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && std::floor(d) == d && d >= double(lo) && d <= double(hi)) return uint64_t(d);
  }
  throw Error(what + " must be a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], not " +
              describe(v));
}

int64_t axisValue(const Napi::Value& v, const std::string& what, size_t rank) {
  if (v.IsNumber()) {
    const double d = v.As<Napi::Number>().DoubleValue();
    if (d == -1) return -1;
    if (std::isfinite(d) && std::floor(d) == d && d >= 0 && d < double(rank)) return int64_t(d);
  }
  throw Error(what + " must be -1 (no layout) or an axis in [0, " + std::to_string(rank) + "), not " + describe(v));
}

Napi::Object argObject(const Napi::CallbackInfo& info, size_t i, const std::string& fn) {
  if (info.Length() <= i || !info[i].IsObject() || info[i].IsArray()) {
    throw Error(fn + ": argument " + std::to_string(i + 1) + " must be an object, not " +
                (info.Length() <= i ? std::string("missing") : describe(info[i])));
  }
  return info[i].As<Napi::Object>();
}

template <class T>
Napi::TypedArrayOf<T> typedArray(const Napi::Value& v, napi_typedarray_type type, const std::string& what,
                                 const char* typeName) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw Error(what + " must be a " + typeName + ", not " + describe(v));
  }
  return v.As<Napi::TypedArrayOf<T>>();
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

/** Reads dtype, shape, layout and source; opens the source. */
void tensorArgs(const Napi::Object& a, const std::string& fn, sl::TensorGeom& g, sl::Source& src) {
  const Napi::Value dt = a.Get("dtype");
  if (!dt.IsString() || !sl::parseDType(dt.As<Napi::String>().Utf8Value(), g.dtype)) {
    throw Error(fn + ": dtype must be one of float32, float64, float16, bfloat16, float8_e4m3fn, float8_e5m2, "
                     "float8_e4m3fnuz, float8_e5m2fnuz, float8_e8m0, float4_e2m1, complex64, complex128, int8, uint8, "
                     "int16, uint16, int32, uint32, int64, uint64, bool; not " +
                describe(dt));
  }
  g.bits = sl::dtypeBits(g.dtype);

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
                 sl::dtypeName(g.dtype) + " elements take " + std::to_string(expected));
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

Napi::Value scan(const Napi::CallbackInfo& info) {
  const std::string fn = "scan";
  const Napi::Object a = argObject(info, 0, fn);
  sl::TensorGeom g;
  sl::Source src;
  tensorArgs(a, fn, g, src);
  const uint64_t m = wholeNumber(a.Get("m"), fn + ": m", 0, 65535);
  const uint64_t n = wholeNumber(a.Get("n"), fn + ": n", 0, m == 0 ? kMaxSafe : m - 1);
  const double threshold = thresholdArg(a.Get("zeroThreshold"), fn);
  const unsigned threads = threadsArg(a.Get("threads"), fn);
  Napi::Env env = info.Env();
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
  sl::ScanResultNative r;
  sl::scanKernel(src, g, n, m, threshold, threads, fanIn, fanOut, r);
  auto hist = Napi::Float64Array::New(env, sl::kHistBins);
  std::memcpy(hist.Data(), r.histogram, sizeof(r.histogram));
  Napi::Object out = Napi::Object::New(env);
  out.Set("nnz", double(r.nnz));
  out.Set("negativeZeros", double(r.negativeZeros));
  out.Set("fanIn", fanInV);
  out.Set("fanOut", fanOutV);
  out.Set("nmGroups", double(r.nmGroups));
  out.Set("nmCompliant", double(r.nmCompliant));
  out.Set("nmPartial", double(r.nmPartial));
  out.Set("histogram", hist);
  return out;
}

Napi::Value maskArgs(const Napi::CallbackInfo& info, const std::string& fn, bool nm) {
  const Napi::Object a = argObject(info, 0, fn);
  sl::TensorGeom g;
  sl::Source src;
  tensorArgs(a, fn, g, src);
  if (!g.hasLayout) throw Error(fn + ": the tensor needs a layout (outAxis and inAxis), not -1");
  const unsigned threads = threadsArg(a.Get("threads"), fn);
  uint64_t n = 0, m = 0, k = 0;
  if (nm) {
    m = wholeNumber(a.Get("m"), fn + ": m", 1, 65535);
    n = wholeNumber(a.Get("n"), fn + ": n", 0, m - 1);
  } else {
    k = wholeNumber(a.Get("k"), fn + ": k");
  }
  auto mask = Napi::Uint8Array::New(info.Env(), size_t(g.numel));
  if (nm) sl::nmMaskKernel(src, g, n, m, threads, mask.Data());
  else sl::fanInMaskKernel(src, g, k, threads, mask.Data());
  return mask;
}

Napi::Value nmMask(const Napi::CallbackInfo& info) { return maskArgs(info, "nmMask", true); }
Napi::Value fanInMask(const Napi::CallbackInfo& info) { return maskArgs(info, "fanInMask", false); }

Napi::Value heatmap(const Napi::CallbackInfo& info) {
  const std::string fn = "heatmap";
  const Napi::Object a = argObject(info, 0, fn);
  sl::TensorGeom g;
  sl::Source src;
  tensorArgs(a, fn, g, src);
  if (!g.hasLayout) throw Error(fn + ": the tensor needs a layout (outAxis and inAxis), not -1");
  const uint64_t rows = g.shape[size_t(g.outAxis)];
  const uint64_t cols = rows == 0 ? 0 : g.numel / rows;
  sl::HeatmapWindow w;
  w.rowStart = wholeNumber(a.Get("rowStart"), fn + ": rowStart");
  w.rowEnd = wholeNumber(a.Get("rowEnd"), fn + ": rowEnd");
  w.colStart = wholeNumber(a.Get("colStart"), fn + ": colStart");
  w.colEnd = wholeNumber(a.Get("colEnd"), fn + ": colEnd");
  const uint64_t width = wholeNumber(a.Get("width"), fn + ": width", 1);
  const uint64_t height = wholeNumber(a.Get("height"), fn + ": height", 1);
  if (!(w.rowStart < w.rowEnd && w.rowEnd <= rows && w.colStart < w.colEnd && w.colEnd <= cols)) {
    throw Error(fn + ": window rows " + std::to_string(w.rowStart) + ".." + std::to_string(w.rowEnd) + ", cols " +
                std::to_string(w.colStart) + ".." + std::to_string(w.colEnd) + " does not fit the " + std::to_string(rows) +
                "×" + std::to_string(cols) + " [neurons, fan-in positions] view (ends are exclusive, windows not empty)");
  }
  const double threshold = thresholdArg(a.Get("zeroThreshold"), fn);
  const unsigned threads = threadsArg(a.Get("threads"), fn);
  w.rows = std::min(height, w.rowEnd - w.rowStart);
  w.cols = std::min(width, w.colEnd - w.colStart);
  constexpr uint64_t kMaxCells = uint64_t(1) << 22;
  if (w.rows > kMaxCells || w.cols > kMaxCells || w.rows * w.cols > kMaxCells) {
    throw Error(fn + ": " + std::to_string(w.rows) + "×" + std::to_string(w.cols) + " cells is more than the 2^22 supported");
  }
  Napi::Env env = info.Env();
  auto density = Napi::Float32Array::New(env, size_t(w.rows * w.cols));
  auto meanAbs = Napi::Float32Array::New(env, size_t(w.rows * w.cols));
  sl::heatmapKernel(src, g, w, threshold, threads, density.Data(), meanAbs.Data());
  Napi::Object out = Napi::Object::New(env);
  out.Set("rows", double(w.rows));
  out.Set("cols", double(w.cols));
  out.Set("density", density);
  out.Set("meanAbs", meanAbs);
  return out;
}

Napi::Value condense(const Napi::CallbackInfo& info) {
  const std::string fn = "condense";
  auto weight = typedArray<float>(info[0], napi_float32_array, fn + ": weight", "Float32Array");
  const uint64_t outF = wholeNumber(info[1], fn + ": outFeatures", 0, 0x7fffffff);
  const uint64_t inF = wholeNumber(info[2], fn + ": inFeatures", 0, 0x7fffffff);
  if (uint64_t(weight.ElementLength()) != outF * inF) {
    throw Error(fn + ": weight has " + std::to_string(weight.ElementLength()) + " values, not " + std::to_string(outF) +
                "×" + std::to_string(inF));
  }
  const sl::CondensePlan plan = sl::condensePlan(weight.Data(), outF, inF);
  const size_t nActive = plan.activeRows.size();
  Napi::Env env = info.Env();
  auto activeRows = Napi::Int32Array::New(env, nActive);
  auto values = Napi::Float32Array::New(env, nActive * size_t(plan.k));
  auto indices = Napi::Int32Array::New(env, nActive * size_t(plan.k));
  if (nActive) std::memcpy(activeRows.Data(), plan.activeRows.data(), nActive * sizeof(int32_t));
  sl::condenseFill(weight.Data(), inF, plan, values.Data(), indices.Data());
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
  sl::condensedForwardKernel(outF, inF, k, ar, nActive, values.Data(), indices.Data(), bias, x, batch, threads, y.Data());
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
  sl::denseForwardKernel(weight.Data(), bias, outF, inF, x, batch, threads, y.Data());
  return y;
}

Napi::Value crashForTest(const Napi::CallbackInfo&) { std::abort(); }

/** Turns C++ exceptions into JS Errors. */
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("scan", Napi::Function::New(env, guarded<scan>, "scan"));
  exports.Set("nmMask", Napi::Function::New(env, guarded<nmMask>, "nmMask"));
  exports.Set("fanInMask", Napi::Function::New(env, guarded<fanInMask>, "fanInMask"));
  exports.Set("heatmap", Napi::Function::New(env, guarded<heatmap>, "heatmap"));
  exports.Set("condense", Napi::Function::New(env, guarded<condense>, "condense"));
  exports.Set("condensedForward", Napi::Function::New(env, guarded<condensedForward>, "condensedForward"));
  exports.Set("denseForward", Napi::Function::New(env, guarded<denseForward>, "denseForward"));
  exports.Set("crashForTest", Napi::Function::New(env, crashForTest, "crashForTest"));
  return exports;
}

}  // namespace

NODE_API_MODULE(sparsity_lens_native, Init)
