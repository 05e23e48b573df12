#include "dtype.h"

namespace sl {

namespace {
struct DTypeInfo {
  const char* name;
  DType dt;
  int bits;
};
const DTypeInfo kDTypes[] = {
    {"float32", DType::F32, 32},
    {"float64", DType::F64, 64},
    {"float16", DType::F16, 16},
    {"bfloat16", DType::BF16, 16},
    {"float8_e4m3fn", DType::F8E4M3FN, 8},
    {"float8_e5m2", DType::F8E5M2, 8},
    {"float8_e4m3fnuz", DType::F8E4M3FNUZ, 8},
    {"float8_e5m2fnuz", DType::F8E5M2FNUZ, 8},
    {"float8_e8m0", DType::F8E8M0, 8},
    {"float4_e2m1", DType::F4E2M1, 4},
    {"complex64", DType::C64, 64},
    {"complex128", DType::C128, 128},
    {"int8", DType::I8, 8},
    {"uint8", DType::U8, 8},
    {"int16", DType::I16, 16},
    {"uint16", DType::U16, 16},
    {"int32", DType::I32, 32},
    {"uint32", DType::U32, 32},
    {"int64", DType::I64, 64},
    {"uint64", DType::U64, 64},
    {"bool", DType::BOOL, 8},
};
}  // namespace

bool parseDType(const std::string& name, DType& out) {
  for (const auto& d : kDTypes) {
    if (name == d.name) {
      out = d.dt;
      return true;
    }
  }
  return false;
}

const char* dtypeName(DType dt) {
  for (const auto& d : kDTypes)
    if (d.dt == dt) return d.name;
  return "?";
}

int dtypeBits(DType dt) {
  for (const auto& d : kDTypes)
    if (d.dt == dt) return d.bits;
  return 0;
}

// Built with -ffp-contract=off (binding.gyp): no fused multiply-add, so every step rounds as in V8.
double v8Hypot(double a, double b) {
  bool oneIsNaN = false;
  double absA = 0, absB = 0, max = 0;
  if (std::isnan(a)) {
    oneIsNaN = true;
  } else {
    absA = std::fabs(a);
    if (absA > max) max = absA;
  }
  if (std::isnan(b)) {
    oneIsNaN = true;
  } else {
    absB = std::fabs(b);
    if (absB > max) max = absB;
  }
  if (max == std::numeric_limits<double>::infinity()) return max;
  if (oneIsNaN) return std::numeric_limits<double>::quiet_NaN();
  if (max == 0) return 0;
  double sum = 0, compensation = 0;
  const double values[2] = {absA, absB};
  for (double v : values) {
    const double n = v / max;
    const double summand = n * n - compensation;
    const double preliminary = sum + summand;
    compensation = (preliminary - sum) - summand;
    sum = preliminary;
  }
  return std::sqrt(sum) * max;
}

namespace {

enum class F8Kind { FN, IEEE, FNUZ };

double float8(int b, int expBits, int manBits, int bias, F8Kind kind) {
  if (kind == F8Kind::FNUZ && b == 0x80) return std::numeric_limits<double>::quiet_NaN();
  const double sign = (b & 0x80) ? -1 : 1;
  const int exp = (b >> manBits) & ((1 << expBits) - 1);
  const int man = b & ((1 << manBits) - 1);
  const int expMax = (1 << expBits) - 1;
  if (kind == F8Kind::IEEE && exp == expMax)
    return man == 0 ? sign * std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  if (kind == F8Kind::FN && exp == expMax && man == (1 << manBits) - 1) return std::numeric_limits<double>::quiet_NaN();
  if (exp == 0) return sign * (double(man) / double(1 << manBits)) * std::ldexp(1.0, 1 - bias);
  return sign * (1 + double(man) / double(1 << manBits)) * std::ldexp(1.0, exp - bias);
}

float halfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t man = h & 0x3ff;
  float f;
  if (exp == 0) {
    f = std::ldexp(float(man), -24);  // zero or subnormal, exact
    if (sign) f = -f;
    return f;
  }
  uint32_t u;
  if (exp == 31) u = sign | 0x7f800000u | (man << 13);
  else u = sign | ((exp + 112) << 23) | (man << 13);
  std::memcpy(&f, &u, 4);
  return f;
}

Tables* buildTables() {
  auto* t = new Tables();
  for (uint32_t h = 0; h < 65536; h++) t->f16[h] = halfToFloat(uint16_t(h));
  for (int b = 0; b < 256; b++) {
    t->f8[0][b] = float8(b, 4, 3, 7, F8Kind::FN);
    t->f8[1][b] = float8(b, 5, 2, 15, F8Kind::IEEE);
    t->f8[2][b] = float8(b, 4, 3, 8, F8Kind::FNUZ);
    t->f8[3][b] = float8(b, 5, 2, 16, F8Kind::FNUZ);
    t->f8[4][b] = b == 0xff ? std::numeric_limits<double>::quiet_NaN() : std::ldexp(1.0, b - 127);
  }
  const double f4[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  for (int n = 0; n < 16; n++) t->f4[n] = (n & 8 ? -1 : 1) * f4[n & 7];
  return t;
}

}  // namespace

const Tables& tables() {
  static const Tables* t = buildTables();  // never freed: safe for threads still running at exit
  return *t;
}

void decodeAbs(DType dt, const uint8_t* p, size_t parity, size_t count, double threshold, double* absOut,
               uint8_t* nzOut) {
  dispatchDType(dt, [&](auto tag) {
    using E = Elem<decltype(tag)::value>;
    const size_t par = E::packed ? parity : 0;
    if (!nzOut) {
      for (size_t i = 0; i < count; i++) absOut[i] = std::fabs(E::value(E::load(p, par + i)));
    } else if (threshold > 0) {
      for (size_t i = 0; i < count; i++) {
        const double a = std::fabs(E::value(E::load(p, par + i)));
        absOut[i] = a;
        nzOut[i] = !(a <= threshold);
      }
    } else {
      for (size_t i = 0; i < count; i++) {
        const auto r = E::load(p, par + i);
        absOut[i] = std::fabs(E::value(r));
        nzOut[i] = E::nz(r);
      }
    }
  });
}

namespace {
/** A sortable key for |w|: larger magnitude = larger key; NaN above everything (+Inf below NaN). */
inline uint64_t magnitudeKey(double absValue) {
  return std::isnan(absValue) ? ~uint64_t(0) : bitsOf(absValue);
}

/**
 * A ranking key for |w|, cheaper than magnitudeKey where the bits allow: any mapping that orders
 * keys as the magnitudes (as decodeToFloat64 gives them) and puts NaN above all will do.
 */
template <DType D>
inline uint64_t rankKey(typename Elem<D>::Raw r) {
  if constexpr (D == DType::F32) {
    const uint32_t a = r & 0x7fffffffu;
    return a > 0x7f800000u ? ~uint64_t(0) : a;
  } else if constexpr (D == DType::F64) {
    const uint64_t a = r & 0x7fffffffffffffffull;
    return a > 0x7ff0000000000000ull ? ~uint64_t(0) : a;
  } else if constexpr (D == DType::F16) {
    const uint32_t a = r & 0x7fffu;
    return a > 0x7c00u ? ~uint64_t(0) : a;
  } else if constexpr (D == DType::BF16) {
    const uint32_t a = r & 0x7fffu;
    return a > 0x7f80u ? ~uint64_t(0) : a;
  } else if constexpr (D == DType::I8) {
    return uint64_t(std::abs(int(int8_t(r))));
  } else if constexpr (D == DType::I16) {
    return uint64_t(std::abs(int(int16_t(r))));
  } else if constexpr (D == DType::I32) {
    const int64_t v = int32_t(r);
    return uint64_t(v < 0 ? -v : v);
  } else if constexpr (D == DType::U8 || D == DType::BOOL || D == DType::U16 || D == DType::U32) {
    return uint64_t(r);
  } else {
    // float8 and float4 (tables), complex (magnitudes) and 64-bit integers (rounded to doubles,
    // so values that round alike tie, as in the reference).
    return magnitudeKey(std::fabs(Elem<D>::value(r)));
  }
}
}  // namespace

void decodeKeys(DType dt, const uint8_t* p, size_t parity, size_t count, uint64_t* keysOut) {
  dispatchDType(dt, [&](auto tag) {
    constexpr DType D = decltype(tag)::value;
    using E = Elem<D>;
    const size_t par = E::packed ? parity : 0;
    for (size_t i = 0; i < count; i++) keysOut[i] = rankKey<D>(E::load(p, par + i));
  });
}

}  // namespace sl
