// AVX-512 kernels (F/BW/VL/DQ + VPOPCNTDQ). Compiled with those flags in this unit only and
// called only when the CPU has them (simd.cpp). No vector constants at namespace scope: their
// initialisers would run AVX-512 code at load time on any CPU.
//
// Layout trick: codes are stored row-major. For W = 1, 2, 4 words per code, one 512-bit load
// covers 8 / W whole codes, so the query repeated across the register lines up with every code;
// per-word popcounts of 8 codes are then summed across lanes by `pair_sum` (two permutes + add),
// giving 8 distances in one register that are compared with the threshold in one instruction.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bits_util.hpp"
#include "deephash/hamming.hpp"

namespace deephash {
namespace avx512_isa {
#include "hamming_impl.hpp"

// Lane i of the result = a[2i] + a[2i+1] for i < 4, b[2(i-4)] + b[2(i-4)+1] for i >= 4.
inline __m512i pair_sum(__m512i a, __m512i b) {
  const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  const __m512i odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
  return _mm512_add_epi64(_mm512_permutex2var_epi64(a, even, b), _mm512_permutex2var_epi64(a, odd, b));
}

inline __m512i popcnt_xor(const uint8_t* p, __m512i q) {
  return _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(p), q));
}

// Query words laid out to match a 512-bit load: W in {1, 2, 4}: lane i holds word i % W;
// W = 8 * c: chunk t holds words 8t .. 8t + 7.
// Kept on the stack (no allocation per call): codes up to kMaxChunks * 512 bits take the vector
// paths, longer ones the per-code path.
constexpr size_t kMaxChunks = 32;
struct Query {
  __m512i v[kMaxChunks];
  Query(const uint8_t* q, size_t words) {
    if (words < 8) {
      alignas(64) uint64_t lanes[8];
      for (size_t i = 0; i < 8; ++i) lanes[i] = load_u64(q + 8 * (i % words));
      v[0] = _mm512_load_si512(lanes);
    } else {
      for (size_t t = 0; t < words / 8; ++t) v[t] = _mm512_loadu_si512(q + 64 * t);
    }
  }
};

// [a0 + a1, b0 + b1] in each 128-bit lane: in-lane shuffles, cheaper than cross-lane permutes.
inline __m512i lane_pair_sum(__m512i a, __m512i b) {
  return _mm512_add_epi64(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
}

// Distances of the 8 codes starting at p (W words each; W in {1, 2, 4} or W = 0 meaning
// 8 * chunks words). Lane j of the result holds the distance of code LaneOrder<W>::code[j].
template <size_t W>
inline __m512i dist8(const uint8_t* p, const __m512i* qv, size_t chunks) {
  if constexpr (W == 1) {
    return popcnt_xor(p, qv[0]);
  } else if constexpr (W == 2) {
    // a = codes 0-3, b = codes 4-7 (one code per 128-bit lane): lanes hold codes 0,4,1,5,2,6,3,7.
    return lane_pair_sum(popcnt_xor(p, qv[0]), popcnt_xor(p + 64, qv[0]));
  } else if constexpr (W == 4) {
    // Each code spans two 128-bit lanes. ab = [c0 lo, c2 lo | c0 hi, c2 hi | c1 lo, c3 lo | ...]
    __m512i ab = lane_pair_sum(popcnt_xor(p, qv[0]), popcnt_xor(p + 64, qv[0]));
    __m512i cd = lane_pair_sum(popcnt_xor(p + 128, qv[0]), popcnt_xor(p + 192, qv[0]));
    // Add the lo and hi halves: lanes hold codes 0,2,1,3,4,6,5,7.
    __m512i lo = _mm512_shuffle_i64x2(ab, cd, _MM_SHUFFLE(2, 0, 2, 0));
    __m512i hi = _mm512_shuffle_i64x2(ab, cd, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm512_add_epi64(lo, hi);
  } else {
    const size_t stride = 64 * chunks;
    __m512i acc[8];
    for (size_t j = 0; j < 8; ++j) {
      const uint8_t* c = p + j * stride;
      __m512i a = popcnt_xor(c, qv[0]);
      for (size_t t = 1; t < chunks; ++t) a = _mm512_add_epi64(a, popcnt_xor(c + 64 * t, qv[t]));
      acc[j] = a;
    }
    return pair_sum(pair_sum(pair_sum(acc[0], acc[1]), pair_sum(acc[2], acc[3])),
                    pair_sum(pair_sum(acc[4], acc[5]), pair_sum(acc[6], acc[7])));
  }
}

// Which code each lane of dist8<W> holds.
template <size_t W>
struct LaneOrder {
  static constexpr uint8_t code[8] = {0, 1, 2, 3, 4, 5, 6, 7};
};
template <>
struct LaneOrder<2> {
  static constexpr uint8_t code[8] = {0, 4, 1, 5, 2, 6, 3, 7};
};
template <>
struct LaneOrder<4> {
  static constexpr uint8_t code[8] = {0, 2, 1, 3, 4, 6, 5, 7};
};

// Appends the lanes of d selected by mask m as candidates base + code, in ascending code order.
template <size_t W>
inline size_t emit(__m512i d, __mmask8 m, size_t base, uint32_t* idx, int32_t* out, size_t c) {
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, d);
  unsigned by_code = 0;
  uint64_t dist_of[8];
  for (unsigned lane = 0; lane < 8; ++lane) {
    if (m & (1u << lane)) {
      const unsigned code = LaneOrder<W>::code[lane];
      by_code |= 1u << code;
      dist_of[code] = lanes[lane];
    }
  }
  while (by_code) {
    unsigned j = static_cast<unsigned>(__builtin_ctz(by_code));
    idx[c] = static_cast<uint32_t>(base + j);
    out[c] = static_cast<int32_t>(dist_of[j]);
    ++c;
    by_code &= by_code - 1;
  }
  return c;
}

template <size_t W>
size_t scan_leq_w(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t thr, uint32_t* idx,
                  int32_t* out) {
  const size_t chunks = nbytes / 64;
  Query qv(q, nbytes / 8);
  const __m512i t = _mm512_set1_epi64(thr);
  size_t c = 0, i = 0;
  if constexpr (W == 1) {
    // 32 codes per iteration; one branch for all four compares.
    for (; i + 32 <= n; i += 32) {
      const uint8_t* p = codes + i * nbytes;
      __m512i d0 = dist8<1>(p, qv.v, 0), d1 = dist8<1>(p + 64, qv.v, 0);
      __m512i d2 = dist8<1>(p + 128, qv.v, 0), d3 = dist8<1>(p + 192, qv.v, 0);
      __mmask8 m0 = _mm512_cmple_epu64_mask(d0, t), m1 = _mm512_cmple_epu64_mask(d1, t);
      __mmask8 m2 = _mm512_cmple_epu64_mask(d2, t), m3 = _mm512_cmple_epu64_mask(d3, t);
      if (__builtin_expect((m0 | m1 | m2 | m3) != 0, 0)) {
        c = emit<1>(d0, m0, i, idx, out, c);
        c = emit<1>(d1, m1, i + 8, idx, out, c);
        c = emit<1>(d2, m2, i + 16, idx, out, c);
        c = emit<1>(d3, m3, i + 24, idx, out, c);
      }
    }
  }
  for (; i + 8 <= n; i += 8) {
    __m512i d = dist8<W>(codes + i * nbytes, qv.v, chunks);
    __mmask8 m = _mm512_cmple_epu64_mask(d, t);
    if (__builtin_expect(m != 0, 0)) c = emit<W>(d, m, i, idx, out, c);
  }
  c += scan_leq_loop(FixedDistance<0>{nbytes}, q, codes, n, nbytes, thr, idx + c, out + c, i);
  return c;
}

template <size_t W>
void distances_w(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t* out) {
  const size_t chunks = nbytes / 64;
  Query qv(q, nbytes / 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    alignas(32) int32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                       _mm512_cvtepi64_epi32(dist8<W>(codes + i * nbytes, qv.v, chunks)));
    for (size_t lane = 0; lane < 8; ++lane) out[i + LaneOrder<W>::code[lane]] = lanes[lane];
  }
  for (; i < n; ++i) out[i] = distance_any(q, codes + i * nbytes, nbytes);
}

// 32-bit codes: 16 per register, popcounts in 32-bit lanes.
size_t scan_leq_32(const uint8_t* q, const uint8_t* codes, size_t n, int32_t thr, uint32_t* idx, int32_t* out) {
  const __m512i qv = _mm512_set1_epi32(static_cast<int>(load_u32(q)));
  const __m512i t = _mm512_set1_epi32(thr);
  size_t c = 0, i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i d = _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_loadu_si512(codes + 4 * i), qv));
    __mmask16 m = _mm512_cmple_epu32_mask(d, t);
    if (__builtin_expect(m != 0, 0)) {
      alignas(64) uint32_t lanes[16];
      _mm512_store_si512(lanes, d);
      unsigned mm = m;
      while (mm) {
        unsigned j = static_cast<unsigned>(__builtin_ctz(mm));
        idx[c] = static_cast<uint32_t>(i + j);
        out[c] = static_cast<int32_t>(lanes[j]);
        ++c;
        mm &= mm - 1;
      }
    }
  }
  c += scan_leq_loop(FixedDistance<0>{4}, q, codes, n, 4, thr, idx + c, out + c, i);
  return c;
}

// Any width: per code, 64-byte chunks and a masked tail load.
inline int32_t distance_masked(const uint8_t* a, const uint8_t* b, size_t nbytes) {
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= nbytes; i += 64) acc = _mm512_add_epi64(acc, popcnt_xor(a + i, _mm512_loadu_si512(b + i)));
  if (i < nbytes) {
    __mmask64 m = _bzhi_u64(~0ULL, static_cast<unsigned>(nbytes - i));
    __m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i), _mm512_maskz_loadu_epi8(m, b + i));
    acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
  }
  return static_cast<int32_t>(_mm512_reduce_add_epi64(acc));
}

struct MaskedDistance {
  size_t nbytes;
  int32_t operator()(const uint8_t* a, const uint8_t* b) const { return distance_masked(a, b, nbytes); }
};

size_t scan_leq(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t thr, uint32_t* idx,
                int32_t* out) {
  if (thr < 0 || n == 0) return 0;
  switch (nbytes) {
    case 4: return scan_leq_32(q, codes, n, thr, idx, out);
    case 8: return scan_leq_w<1>(q, codes, n, nbytes, thr, idx, out);
    case 16: return scan_leq_w<2>(q, codes, n, nbytes, thr, idx, out);
    case 32: return scan_leq_w<4>(q, codes, n, nbytes, thr, idx, out);
    default:
      if (nbytes % 64 == 0 && nbytes / 64 <= kMaxChunks) return scan_leq_w<0>(q, codes, n, nbytes, thr, idx, out);
      return scan_leq_loop(MaskedDistance{nbytes}, q, codes, n, nbytes, thr, idx, out);
  }
}

void distances(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t* out) {
  switch (nbytes) {
    case 8: return distances_w<1>(q, codes, n, nbytes, out);
    case 16: return distances_w<2>(q, codes, n, nbytes, out);
    case 32: return distances_w<4>(q, codes, n, nbytes, out);
    default:
      if (nbytes % 64 == 0 && nbytes / 64 <= kMaxChunks) return distances_w<0>(q, codes, n, nbytes, out);
      return distances_loop(MaskedDistance{nbytes}, q, codes, n, nbytes, out);
  }
}

}  // namespace avx512_isa

extern const HammingKernels kHammingAvx512 = {
    SimdLevel::avx512,
    [](const uint8_t* a, const uint8_t* b, size_t nbytes) { return avx512_isa::distance_masked(a, b, nbytes); },
    &avx512_isa::distances,
    &avx512_isa::scan_leq,
};

}  // namespace deephash
