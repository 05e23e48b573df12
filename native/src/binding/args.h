// Argument parsing of the N-API binding: a bad argument throws sl::Error naming it (the binding
// turns it into a JS Error), never a crash. The JS-facing API is src/kernels/nativeAddon.ts.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "../error.h"
#include "../geometry.h"
#include "../source.h"

namespace sl::binding {

/** 2^53 - 1: the largest integer a JS number holds exactly. */
constexpr uint64_t kMaxSafe = (uint64_t(1) << 53) - 1;

/** A value as an error message shows it: "undefined", "12", "the string \"x\"", "an object", ... */
std::string describe(const Napi::Value& v);

/** A whole number in [lo, hi] (hi at most 2^53 - 1). */
uint64_t wholeNumber(const Napi::Value& v, const std::string& what, uint64_t lo = 0, uint64_t hi = kMaxSafe);

/** An integer of either sign, |v| <= 2^53 - 1. */
int64_t integer(const Napi::Value& v, const std::string& what);

/** Argument i, which must be a plain object. */
Napi::Object argObject(const Napi::CallbackInfo& info, size_t i, const std::string& fn);

/** A typed array of the given element type. */
template <class T>
Napi::TypedArrayOf<T> typedArray(const Napi::Value& v, napi_typedarray_type type, const std::string& what,
                                 const char* typeName) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    throw sl::Error(what + " must be a " + typeName + ", not " + describe(v));
  }
  return v.As<Napi::TypedArrayOf<T>>();
}

/** Threads to use: undefined = 0 (hardware concurrency), else a whole number in [0, 1024]. */
unsigned threadsArg(const Napi::Value& v, const std::string& fn);

/** zeroThreshold: a number >= 0. */
double thresholdArg(const Napi::Value& v, const std::string& fn);

/**
 * The tensor of an argument object: dtype, shape, outAxis and inAxis (both -1 or both axes) into
 * g (derived), and source ({path, offset, length} or {bytes}, of exactly the tensor's size) opened
 * into src.
 */
void tensorArgs(const Napi::Object& a, const std::string& fn, TensorGeom& g, Source& src);

/** Throws unless the tensor has a layout. */
void requireLayout(const TensorGeom& g, const std::string& fn);

/** info[0] as a linear or conv weight: the arguments object, its tensor (with a layout), its bytes. */
struct WeightArgs {
  WeightArgs(const Napi::CallbackInfo& info, const std::string& fn);
  Napi::Object a;
  TensorGeom g;
  Source src;
};
/** The rowStart/rowEnd/colStart/colEnd of `a`, checked to be a window of the weight's view. */
ViewWindow windowArgs(const WeightArgs& w, const std::string& fn);

struct NmArgs {
  uint64_t n = 0, m = 0;
};

/**
 * a.n and a.m of an N:M pattern. Which patterns are valid, and the message users see when one is
 * not, is the TypeScript side's (it checks before every call). This guard only keeps the kernels'
 * group sizes and counts within their integer widths: whole numbers, m <= 65535, and m >= 1
 * unless `noneAllowed` (m = 0: no pattern). It throws a generic "invalid N:M pattern".
 */
NmArgs nmArgs(const Napi::Object& a, const std::string& fn, bool noneAllowed);

}  // namespace sl::binding
