// Pruning masks: N:M (the N largest |w| of every group of M along the input axis) and constant
// fan-in (the k largest |w| of every output neuron). Ranking: NaN first, then larger |w|, ties to
// the lower storage index, as ranksBefore in the TypeScript reference.
#include "masks.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "pool.h"

namespace sl {

namespace {

constexpr size_t kMaskChunk = size_t(1) << 20;  // elements decoded at a time per thread
constexpr size_t kNeuronChunk = size_t(1) << 21;  // fan-in masks with strided neurons: keys per batch

/**
 * Marks (mask[i * mstride] = 1) the `keep` best of L keys k[i * stride]; ties go to the lower i.
 */
/** selectBest for 4 keys and 0 < keep < 4: ranks by comparisons, no branches. */
inline void select4(const uint64_t* k, size_t stride, size_t keep, uint8_t* mask, size_t mstride) {
  const uint64_t a = k[0], b = k[stride], c = k[2 * stride], d = k[3 * stride];
  const size_t ra = size_t(b > a) + size_t(c > a) + size_t(d > a);
  const size_t rb = size_t(a >= b) + size_t(c > b) + size_t(d > b);
  const size_t rc = size_t(a >= c) + size_t(b >= c) + size_t(d > c);
  const size_t rd = size_t(a >= d) + size_t(b >= d) + size_t(c >= d);
  mask[0] = ra < keep;
  mask[mstride] = rb < keep;
  mask[2 * mstride] = rc < keep;
  mask[3 * mstride] = rd < keep;
}

void selectBest(const uint64_t* k, size_t stride, size_t L, size_t keep, uint8_t* mask, size_t mstride,
                std::vector<uint64_t>& scratch) {
  if (keep == 0 || L == 0) return;
  if (keep >= L) {
    for (size_t i = 0; i < L; i++) mask[i * mstride] = 1;
    return;
  }
  if (L == 4) {
    select4(k, stride, keep, mask, mstride);
    return;
  }
  if (L <= 16) {
    uint64_t v[16];
    for (size_t i = 0; i < L; i++) v[i] = k[i * stride];
    for (size_t i = 0; i < L; i++) {
      size_t rank = 0;
      for (size_t j = 0; j < L; j++) rank += (v[j] > v[i]) | ((v[j] == v[i]) & (j < i));
      mask[i * mstride] = rank < keep;
    }
    return;
  }
  scratch.resize(L);
  for (size_t i = 0; i < L; i++) scratch[i] = k[i * stride];
  std::nth_element(scratch.begin(), scratch.begin() + ptrdiff_t(keep - 1), scratch.end(), std::greater<uint64_t>());
  const uint64_t t = scratch[keep - 1];
  size_t greater = 0;
  for (size_t i = 0; i < L; i++) greater += k[i * stride] > t;
  size_t equal = keep - greater;  // how many of the keys equal to t are kept: the first ones
  for (size_t i = 0; i < L; i++) {
    const uint64_t x = k[i * stride];
    const bool take = x > t || (x == t && equal > 0);
    equal -= x == t && take;
    mask[i * mstride] = take;
  }
}

/** dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols, in cache-friendly tiles. */
template <class T>
void transposeTiles(const T* src, size_t rows, size_t cols, size_t lds, T* dst, size_t ldd) {
  constexpr size_t kTile = 32;
  for (size_t r0 = 0; r0 < rows; r0 += kTile) {
    const size_t r1 = std::min(rows, r0 + kTile);
    for (size_t c0 = 0; c0 < cols; c0 += kTile) {
      const size_t c1 = std::min(cols, c0 + kTile);
      for (size_t r = r0; r < r1; r++)
        for (size_t c = c0; c < c1; c++) dst[c * ldd + r] = src[r * lds + c];
    }
  }
}

/** Decodes the keys of elements [e0, e1) into keys[0 .. e1 - e0). */
void readKeys(SegmentReader& reader, const TensorGeom& g, uint64_t e0, uint64_t e1, uint64_t* keys) {
  reader.readRange(e0, e1, [&](size_t, uint64_t off, const uint8_t* p, size_t parity, size_t count) {
    decodeKeys(g.dtype, p, parity, count, keys + off);
  });
}

/** rankKey of a float32 in 32 bits: |w|'s bits, every NaN one key above +inf (all NaNs alike). */
inline uint32_t f32Key(uint32_t bits) {
  const uint32_t a = bits & 0x7fffffffu;
  return a > 0x7f800000u ? 0x7f800001u : a;
}

/**
 * N:4 of float32 whose groups are 4 consecutive elements (the input axis last, its length a
 * multiple of 4): ranked straight from the stored bits in one pass, without a buffer of 64-bit
 * keys. The same ranks as select4 (ties to the lower index).
 */
void nmMaskFloat32By4(const Source& src, const TensorGeom& g, uint64_t n, unsigned threads, uint8_t* mask) {
  const uint64_t groups = g.numel / 4;
  const unsigned T = resolveThreads(threads, std::max<uint64_t>(1, g.numel >> 16));
  parallelRun(T, [&](unsigned th) {
    const uint64_t e0 = groups * th / T * 4, e1 = groups * (th + 1) / T * 4;
    SegmentReader reader(src, g);
    // Pieces of a 4 MiB buffer (2^20 float32) hold whole groups, since e0 starts one.
    reader.readRange(e0, e1, [&](size_t, uint64_t off, const uint8_t* p, size_t, size_t count) {
      if (count % 4 != 0) throw Error("internal error: a read piece splits a group of 4");
      uint8_t* out = mask + e0 + off;
      for (size_t i = 0; i < count; i += 4) {
        uint32_t w[4];
        std::memcpy(w, p + i * 4, 16);
        const uint32_t a = f32Key(w[0]), b = f32Key(w[1]), c = f32Key(w[2]), d = f32Key(w[3]);
        const uint32_t ra = uint32_t(b > a) + uint32_t(c > a) + uint32_t(d > a);
        const uint32_t rb = uint32_t(a >= b) + uint32_t(c > b) + uint32_t(d > b);
        const uint32_t rc = uint32_t(a >= c) + uint32_t(b >= c) + uint32_t(d > c);
        const uint32_t rd = uint32_t(a >= d) + uint32_t(b >= d) + uint32_t(c >= d);
        out[i] = ra < n;
        out[i + 1] = rb < n;
        out[i + 2] = rc < n;
        out[i + 3] = rd < n;
      }
    });
  });
}

/**
 * The k largest of one row's F float32 values (their bits in `keys`, turned into f32Key in place),
 * marked in `out`, by radix select: a histogram of the keys' top 11 bits (built in the same pass
 * that makes the keys) finds the bin of the k-th largest, the few keys of that bin give its exact
 * value, and one pass marks everything above it and the first ties. Three passes over the row
 * (nth_element over 64-bit keys was 2x slower than five).
 */
void fanInRowKeys(uint32_t* keys, size_t F, size_t k, uint8_t* out, std::vector<uint32_t>& bin) {
  constexpr int kShift = 20;  // keys ≤ 0x7f800001: 2^11 bins of the top bits
  uint32_t hist[1u << 11] = {};
  for (size_t i = 0; i < F; i++) {
    keys[i] = f32Key(keys[i]);
    hist[keys[i] >> kShift]++;
  }
  size_t above = 0;
  uint32_t b = (1u << 11) - 1;
  while (above + hist[b] < k) above += hist[b--];
  bin.clear();
  for (size_t i = 0; i < F; i++)
    if ((keys[i] >> kShift) == b) bin.push_back(keys[i]);
  const size_t r = k - above;  // the r-th largest of the bin is the threshold
  std::nth_element(bin.begin(), bin.begin() + ptrdiff_t(r - 1), bin.end(), std::greater<uint32_t>());
  const uint32_t t = bin[r - 1];
  // Keys above t: every bin above b, and those of bin b (all in its first r - 1 places).
  size_t greater = above;
  for (size_t j = 0; j + 1 < r; j++) greater += bin[j] > t;
  size_t equal = k - greater;  // ties kept: the first ones
  for (size_t i = 0; i < F; i++) {
    const bool take = keys[i] > t || (keys[i] == t && equal > 0);
    equal -= keys[i] == t && take;
    out[i] = take;
  }
}

}  // namespace

void nmMaskKernel(const Source& src, const TensorGeom& g, uint64_t n, uint64_t m, unsigned threads, uint8_t* mask) {
  if (g.numel == 0) return;
  if (g.dtype == DType::F32 && g.inStride == 1 && m == 4 && n > 0 && n < 4 && g.inDim % 4 == 0) {
    nmMaskFloat32By4(src, g, n, threads, mask);
    return;
  }
  const uint64_t inDim = g.inDim, inStride = g.inStride;
  const uint64_t groupsPerLine = (inDim + m - 1) / m;
  const uint64_t totalRows = g.inBlocks * groupsPerLine;  // "group rows": one group of every line, contiguous
  auto rowStart = [&](uint64_t t) { return (t / groupsPerLine) * inDim * inStride + (t % groupsPerLine) * m * inStride; };
  const unsigned T = resolveThreads(threads, std::max<uint64_t>(1, std::min(totalRows, g.numel >> 16)));
  parallelRun(T, [&](unsigned th) {
    const uint64_t ta = totalRows * th / T, tb = totalRows * (th + 1) / T;
    SegmentReader reader(src, g);
    std::vector<uint64_t> keys;
    std::vector<uint64_t> scratch;
    uint64_t t = ta;
    uint64_t gi = ta % groupsPerLine;  // group index (within its line) of group row t
    uint64_t pos = rowStart(ta);       // first element of group row t (group rows tile the tensor)
    auto lenOf = [&](uint64_t gIndex) { return std::min<uint64_t>(m, inDim - gIndex * m); };
    auto nextGroup = [&](uint64_t gIndex) { return gIndex + 1 == groupsPerLine ? 0 : gIndex + 1; };
    while (t < tb) {
      const uint64_t L0 = lenOf(gi);
      const uint64_t firstElems = L0 * inStride;
      if (firstElems > kMaskChunk) {
        // One group row too large for a chunk: a few input positions at a time, strided reads.
        const uint64_t first = pos;
        const uint64_t Q = std::max<uint64_t>(1, kMaskChunk / L0);
        for (uint64_t q0 = 0; q0 < inStride; q0 += Q) {
          const uint64_t Qn = std::min(Q, inStride - q0);
          keys.resize(size_t(L0 * Qn));
          reader.read(
              size_t(L0), [&](size_t j) { return Segment{first + j * inStride + q0, Qn}; },
              [&](size_t j, uint64_t off, const uint8_t* p, size_t parity, size_t count) {
                decodeKeys(g.dtype, p, parity, count, keys.data() + j * Qn + off);
              });
          for (uint64_t qq = 0; qq < Qn; qq++) {
            selectBest(keys.data() + qq, size_t(Qn), size_t(L0), size_t(n), mask + first + q0 + qq, size_t(inStride),
                       scratch);
          }
        }
        pos += firstElems;
        t++;
        gi = nextGroup(gi);
        continue;
      }
      // As many whole group rows as fit in a chunk: one contiguous range.
      uint64_t end = pos + firstElems;
      uint64_t u = t + 1, gu = nextGroup(gi);
      while (u < tb) {
        const uint64_t elems = lenOf(gu) * inStride;
        if (end + elems - pos > kMaskChunk) break;
        end += elems;
        u++;
        gu = nextGroup(gu);
      }
      keys.resize(size_t(end - pos));
      readKeys(reader, g, pos, end, keys.data());
      const uint64_t* kp = keys.data();
      uint8_t* mp = mask + pos;
      uint64_t gg = gi;
      for (uint64_t r = t; r < u; r++) {
        const uint64_t L = lenOf(gg);
        if (inStride == 1) {
          if (L == 4 && n > 0 && n < 4) select4(kp, 1, size_t(n), mp, 1);
          else selectBest(kp, 1, size_t(L), size_t(n), mp, 1, scratch);
        } else {
          for (uint64_t q = 0; q < inStride; q++) {
            if (L == 4 && n > 0 && n < 4) select4(kp + q, size_t(inStride), size_t(n), mp + q, size_t(inStride));
            else selectBest(kp + q, size_t(inStride), size_t(L), size_t(n), mp + q, size_t(inStride), scratch);
          }
        }
        kp += L * inStride;
        mp += L * inStride;
        gg = nextGroup(gg);
      }
      pos = end;
      t = u;
      gi = gu;
    }
  });
}

void fanInMaskKernel(const Source& src, const TensorGeom& g, uint64_t k, unsigned threads, uint8_t* mask) {
  if (g.numel == 0) return;
  const uint64_t outDim = g.outDim, os = g.outStride, H = g.outHi;
  const uint64_t F = g.numel / outDim;  // fan-in of every neuron
  if (k == 0) return;
  if (k >= F) {
    std::memset(mask, 1, size_t(g.numel));
    return;
  }
  const unsigned T = resolveThreads(threads, std::max<uint64_t>(1, std::min(outDim, g.numel >> 16)));
  if (g.dtype == DType::F32 && H == 1 && os == F) {
    // Rows of float32, each neuron's fan-in contiguous (PyTorch's [out, in…]): keys straight from
    // the bits, a chunk of rows at a time.
    parallelRun(T, [&](unsigned th) {
      const uint64_t oa = outDim * th / T, ob = outDim * (th + 1) / T;
      const uint64_t B = std::max<uint64_t>(1, kMaskChunk / F);  // rows per chunk
      SegmentReader reader(src, g);
      std::vector<uint32_t> keys, bin;
      for (uint64_t o0 = oa; o0 < ob; o0 += B) {
        const uint64_t o1 = std::min(ob, o0 + B);
        keys.resize(size_t((o1 - o0) * F));
        reader.readRange(o0 * F, o1 * F, [&](size_t, uint64_t off, const uint8_t* p, size_t, size_t count) {
          std::memcpy(keys.data() + off, p, count * 4);  // the bits; fanInRowKeys makes them keys
        });
        for (uint64_t o = o0; o < o1; o++)
          fanInRowKeys(keys.data() + (o - o0) * F, size_t(F), size_t(k), mask + o * F, bin);
      }
    });
    return;
  }
  parallelRun(T, [&](unsigned th) {
    const uint64_t oa = outDim * th / T, ob = outDim * (th + 1) / T;
    const uint64_t B = std::max<uint64_t>(1, (H == 1 ? kMaskChunk : kNeuronChunk) / F);  // neurons per chunk
    SegmentReader reader(src, g);
    std::vector<uint64_t> keys, neuron(static_cast<size_t>(F)), scratch;
    std::vector<uint8_t> keep(static_cast<size_t>(F)), keepT;
    std::vector<uint64_t> neuronKeys;
    for (uint64_t o0 = oa; o0 < ob; o0 += B) {
      const uint64_t o1 = std::min(ob, o0 + B);
      const uint64_t W = (o1 - o0) * os;  // elements of these neurons per outer index
      keys.resize(size_t(H * W));
      reader.read(
          size_t(H), [&](size_t hi) { return Segment{hi * outDim * os + o0 * os, W}; },
          [&](size_t hi, uint64_t off, const uint8_t* p, size_t parity, size_t count) {
            decodeKeys(g.dtype, p, parity, count, keys.data() + hi * W + off);
          });
      const uint64_t Bn = o1 - o0;
      if (H > 1 && os == 1) {
        // Neuron o is column o of the [H, outDim] storage: transpose the batch (in tiles), select
        // per neuron, and transpose the kept flags back into the mask rows.
        neuronKeys.resize(size_t(Bn * H));
        keepT.assign(size_t(Bn * H), 0);
        transposeTiles(keys.data(), size_t(H), size_t(Bn), size_t(W), neuronKeys.data(), size_t(H));
      }
      for (uint64_t o = o0; o < o1; o++) {
        if (H == 1) {
          selectBest(keys.data() + (o - o0) * os, 1, size_t(F), size_t(k), mask + o * os, 1, scratch);
          continue;
        }
        if (os == 1) {
          selectBest(neuronKeys.data() + (o - o0) * H, 1, size_t(F), size_t(k), keepT.data() + (o - o0) * H, 1, scratch);
          continue;
        }
        std::fill(keep.begin(), keep.end(), 0);
        const uint64_t* col = keys.data() + (o - o0) * os;
        uint64_t* dst = neuron.data();
        for (uint64_t hi = 0; hi < H; hi++) std::memcpy(dst + hi * os, col + hi * W, size_t(os) * 8);
        selectBest(neuron.data(), 1, size_t(F), size_t(k), keep.data(), 1, scratch);
        uint8_t* out = mask + o * os;
        for (uint64_t hi = 0; hi < H; hi++) std::memcpy(out + hi * outDim * os, keep.data() + hi * os, size_t(os));
      }
      if (H > 1 && os == 1) transposeTiles(keepT.data(), size_t(Bn), size_t(H), size_t(H), mask + o0, size_t(outDim));
    }
  });
}

}  // namespace sl
