// Dtypes: names and sizes, element access and decoding, the bit-pattern zero tests.
// The semantics mirror src/core/dtype.ts exactly.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "error.h"

namespace sl {

enum class DType : int {
  F32, F64, F16, BF16, F8E4M3FN, F8E5M2, F8E4M3FNUZ, F8E5M2FNUZ, F8E8M0, F4E2M1,
  C64, C128, I8, U8, I16, U16, I32, U32, I64, U64, BOOL,
};

bool parseDType(const std::string& name, DType& out);
const char* dtypeName(DType dt);
/** Storage bits of one element (float4 packs two per byte). */
int dtypeBits(DType dt);

// ---------------------------------------------------------------------------------------------
// Element decoding

inline uint64_t bitsOf(double d) {
  uint64_t u;
  std::memcpy(&u, &d, 8);
  return u;
}

/** Math.hypot as V8 computes it for two arguments (Kahan-compensated, scaled by the maximum). */
double v8Hypot(double a, double b);

/** Decoding tables, built once. */
struct Tables {
  float f16[65536];
  double f8[5][256];  // e4m3fn, e5m2, e4m3fnuz, e5m2fnuz, e8m0
  double f4[16];
};
const Tables& tables();

template <class T>
inline T loadLE(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

/**
 * Per-dtype element access. `load(p, i)` reads element i of a run starting at p (for float4, i is
 * the nibble index: element i sits in byte i/2, low nibble first). `nz` is the bit-pattern zero
 * test of markNonZero; `value` is decodeToFloat64; `negZero` is countNegativeZeros' pattern.
 */
template <DType D>
struct Elem;

#define SL_ELEM_COMMON(BYTES, RAW)                                                   \
  static constexpr int bytes = BYTES;                                                \
  static constexpr bool packed = false;                                              \
  using Raw = RAW;                                                                   \
  static Raw load(const uint8_t* p, size_t i) { return loadLE<Raw>(p + i * BYTES); }

template <>
struct Elem<DType::F32> {
  SL_ELEM_COMMON(4, uint32_t)
  static bool nz(Raw r) { return (r & 0x7fffffffu) != 0; }
  static bool negZero(Raw r) { return r == 0x80000000u; }
  static double value(Raw r) {
    float f;
    std::memcpy(&f, &r, 4);
    return f;
  }
};
template <>
struct Elem<DType::F64> {
  SL_ELEM_COMMON(8, uint64_t)
  static bool nz(Raw r) { return (r & 0x7fffffffffffffffull) != 0; }
  static bool negZero(Raw r) { return r == 0x8000000000000000ull; }
  static double value(Raw r) {
    double d;
    std::memcpy(&d, &r, 8);
    return d;
  }
};
template <>
struct Elem<DType::F16> {
  SL_ELEM_COMMON(2, uint16_t)
  static bool nz(Raw r) { return (r & 0x7fff) != 0; }
  static bool negZero(Raw r) { return r == 0x8000; }
  static double value(Raw r) { return tables().f16[r]; }
};
template <>
struct Elem<DType::BF16> {
  SL_ELEM_COMMON(2, uint16_t)
  static bool nz(Raw r) { return (r & 0x7fff) != 0; }
  static bool negZero(Raw r) { return r == 0x8000; }
  static double value(Raw r) {
    const uint32_t u = uint32_t(r) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};
#define SL_ELEM_F8(DT, IDX, NZ, NEGZ)                                   \
  template <>                                                           \
  struct Elem<DT> {                                                     \
    SL_ELEM_COMMON(1, uint8_t)                                          \
    static bool nz(Raw r) { return NZ; }                                \
    static bool negZero(Raw r) { return NEGZ; }                         \
    static double value(Raw r) { return tables().f8[IDX][r]; }          \
  };
SL_ELEM_F8(DType::F8E4M3FN, 0, (r & 0x7f) != 0, r == 0x80)
SL_ELEM_F8(DType::F8E5M2, 1, (r & 0x7f) != 0, r == 0x80)
SL_ELEM_F8(DType::F8E4M3FNUZ, 2, r != 0, false)
SL_ELEM_F8(DType::F8E5M2FNUZ, 3, r != 0, false)
SL_ELEM_F8(DType::F8E8M0, 4, ((void)r, true), false)
#undef SL_ELEM_F8

template <>
struct Elem<DType::F4E2M1> {
  static constexpr int bytes = 0;
  static constexpr bool packed = true;
  using Raw = uint8_t;
  static Raw load(const uint8_t* p, size_t i) { return (i & 1) ? (p[i >> 1] >> 4) : (p[i >> 1] & 0xf); }
  static bool nz(Raw r) { return (r & 0x7) != 0; }
  static bool negZero(Raw) { return false; }
  static double value(Raw r) { return tables().f4[r & 0xf]; }
};

struct C64Raw {
  uint32_t re, im;
};
struct C128Raw {
  uint64_t re, im;
};
template <>
struct Elem<DType::C64> {
  static constexpr int bytes = 8;
  static constexpr bool packed = false;
  using Raw = C64Raw;
  static Raw load(const uint8_t* p, size_t i) { return {loadLE<uint32_t>(p + 8 * i), loadLE<uint32_t>(p + 8 * i + 4)}; }
  static bool nz(Raw r) { return ((r.re | r.im) & 0x7fffffffu) != 0; }
  static bool negZero(Raw) { return false; }
  static double value(Raw r) {
    float a, b;
    std::memcpy(&a, &r.re, 4);
    std::memcpy(&b, &r.im, 4);
    return v8Hypot(a, b);
  }
};
template <>
struct Elem<DType::C128> {
  static constexpr int bytes = 16;
  static constexpr bool packed = false;
  using Raw = C128Raw;
  static Raw load(const uint8_t* p, size_t i) { return {loadLE<uint64_t>(p + 16 * i), loadLE<uint64_t>(p + 16 * i + 8)}; }
  static bool nz(Raw r) { return ((r.re | r.im) & 0x7fffffffffffffffull) != 0; }
  static bool negZero(Raw) { return false; }
  static double value(Raw r) {
    double a, b;
    std::memcpy(&a, &r.re, 8);
    std::memcpy(&b, &r.im, 8);
    return v8Hypot(a, b);
  }
};

#define SL_ELEM_INT(DT, BYTES, RAW, SIGNED)                      \
  template <>                                                    \
  struct Elem<DT> {                                              \
    SL_ELEM_COMMON(BYTES, RAW)                                   \
    static bool nz(Raw r) { return r != 0; }                     \
    static bool negZero(Raw) { return false; }                   \
    static double value(Raw r) { return double(SIGNED(r)); }     \
  };
SL_ELEM_INT(DType::I8, 1, uint8_t, int8_t)
SL_ELEM_INT(DType::U8, 1, uint8_t, uint8_t)
SL_ELEM_INT(DType::BOOL, 1, uint8_t, uint8_t)
SL_ELEM_INT(DType::I16, 2, uint16_t, int16_t)
SL_ELEM_INT(DType::U16, 2, uint16_t, uint16_t)
SL_ELEM_INT(DType::I32, 4, uint32_t, int32_t)
SL_ELEM_INT(DType::U32, 4, uint32_t, uint32_t)
SL_ELEM_INT(DType::I64, 8, uint64_t, int64_t)
SL_ELEM_INT(DType::U64, 8, uint64_t, uint64_t)
#undef SL_ELEM_INT
#undef SL_ELEM_COMMON

template <DType D>
using Tag = std::integral_constant<DType, D>;

/** Calls f(Tag<D>{}) with the dtype as a compile-time constant (use decltype(tag)::value). */
template <class F>
decltype(auto) dispatchDType(DType dt, F&& f) {
  switch (dt) {
    case DType::F32: return f(Tag<DType::F32>{});
    case DType::F64: return f(Tag<DType::F64>{});
    case DType::F16: return f(Tag<DType::F16>{});
    case DType::BF16: return f(Tag<DType::BF16>{});
    case DType::F8E4M3FN: return f(Tag<DType::F8E4M3FN>{});
    case DType::F8E5M2: return f(Tag<DType::F8E5M2>{});
    case DType::F8E4M3FNUZ: return f(Tag<DType::F8E4M3FNUZ>{});
    case DType::F8E5M2FNUZ: return f(Tag<DType::F8E5M2FNUZ>{});
    case DType::F8E8M0: return f(Tag<DType::F8E8M0>{});
    case DType::F4E2M1: return f(Tag<DType::F4E2M1>{});
    case DType::C64: return f(Tag<DType::C64>{});
    case DType::C128: return f(Tag<DType::C128>{});
    case DType::I8: return f(Tag<DType::I8>{});
    case DType::U8: return f(Tag<DType::U8>{});
    case DType::I16: return f(Tag<DType::I16>{});
    case DType::U16: return f(Tag<DType::U16>{});
    case DType::I32: return f(Tag<DType::I32>{});
    case DType::U32: return f(Tag<DType::U32>{});
    case DType::I64: return f(Tag<DType::I64>{});
    case DType::U64: return f(Tag<DType::U64>{});
    case DType::BOOL: return f(Tag<DType::BOOL>{});
  }
  throw Error("unknown dtype");
}

/**
 * |value| of `count` elements (complex: magnitude; NaN stays NaN) into `absOut`, and, if `nzOut`
 * is given, the zero test (bit patterns, or |v| <= threshold when threshold > 0).
 */
void decodeAbs(DType dt, const uint8_t* p, size_t parity, size_t count, double threshold, double* absOut,
               uint8_t* nzOut);
/** Ranking keys of `count` elements: larger |w| = larger key, NaN above everything (see dtype.cc). */
void decodeKeys(DType dt, const uint8_t* p, size_t parity, size_t count, uint64_t* keysOut);

}  // namespace sl
