// AVX-512 kernels (F/BW/VL/DQ + VPOPCNTDQ). Compiled with those flags in this unit only and
// called only when the CPU has them (simd.cpp). No vector constants at namespace scope: their
// initialisers would run AVX-512 code at load time on any CPU.
//
// Layout trick: codes are stored row-major. For W = 1, 2, 4 words per code, one 512-bit load
// covers 8 / W whole codes, so the query repeated across the register lines up with every code;
// per-word popcounts of 8 codes are then summed across lanes by `pair_sum` (two permutes + add),
// giving 8 distances in one register that are compared with the threshold in one instruction.
#include <immintrin.h>

#include <algorithm>
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

// Appends the codes of d within the threshold t as candidates base + code, in ascending code
// order: d is put back in code order (one permute for W = 2 and 4), compared again, and the
// selected distances and indices are compressed into registers and stored whole (no branch per
// lane: candidates are rare and their positions unpredictable, so per-lane branches mispredict).
// Writes 8 entries at c; callers guarantee c + 8 <= the room of idx and out (c <= base and
// base + 8 <= n).
template <size_t W>
inline size_t emit(__m512i d, __m512i t, size_t base, uint32_t* idx, int32_t* out, size_t c) {
  if constexpr (W == 2) {
    d = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), d);
  } else if constexpr (W == 4) {
    d = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 2, 1, 3, 4, 6, 5, 7), d);
  }
  const __mmask8 m = _mm512_cmple_epu64_mask(d, t);
  const __m256i ix =
      _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(base)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c), _mm256_maskz_compress_epi32(m, _mm512_cvtepi64_epi32(d)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + c), _mm256_maskz_compress_epi32(m, ix));
  return c + static_cast<size_t>(__builtin_popcount(m));
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
      // One compare of the minimum (VPMINUQ runs beside VPOPCNTQ) instead of four compares.
      const __m512i lo = _mm512_min_epu64(_mm512_min_epu64(d0, d1), _mm512_min_epu64(d2, d3));
      if (__builtin_expect(_mm512_cmple_epu64_mask(lo, t) != 0, 0)) {
        c = emit<1>(d0, t, i, idx, out, c);
        c = emit<1>(d1, t, i + 8, idx, out, c);
        c = emit<1>(d2, t, i + 16, idx, out, c);
        c = emit<1>(d3, t, i + 24, idx, out, c);
      }
    }
  }
  for (; i + 8 <= n; i += 8) {
    __m512i d = dist8<W>(codes + i * nbytes, qv.v, chunks);
    __mmask8 m = _mm512_cmple_epu64_mask(d, t);
    if (__builtin_expect(m != 0, 0)) c = emit<W>(d, t, i, idx, out, c);
  }
  c += scan_leq_loop(FixedDistance<0>{nbytes}, q, codes, n, nbytes, thr, idx + c, out + c, i);
  return c;
}

// 128- and 256-bit codes: the word popcounts of four registers are packed into 16-bit fields of
// one (shifts and ORs, which run beside VPOPCNTQ) before the words of each code are added, so one
// shuffle-and-add serves four registers instead of one. With P = 4 registers of G codes each
// (G = 4 for W = 2, 2 for W = 4), after the adds the 64-bit lane that holds code c of register r
// has its distance in field r; one 16-bit compare tests 4 * G codes.
//
// Element e (16-bit) of the packed sums holding code j of the 4G codes, in code order.
template <size_t W>
inline __m512i packed_order() {
  if constexpr (W == 2) {
    // Register r holds codes 4r .. 4r + 3, code 4r + i at 64-bit lane 2i: element 8i + r.
    alignas(64) static constexpr uint16_t order[32] = {0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27};
    return _mm512_load_si512(order);
  } else {
    // Register r holds codes 2r, 2r + 1, at 64-bit lanes 0 and 4: elements r and 16 + r.
    alignas(64) static constexpr uint16_t order[32] = {0, 16, 1, 17, 2, 18, 3, 19};
    return _mm512_load_si512(order);
  }
}

// Packed distances of the 4G codes at p (W = 2 or 4 words each).
template <size_t W>
inline __m512i packed_dist(const uint8_t* p, __m512i q) {
  const __m512i p0 = popcnt_xor(p, q), p1 = popcnt_xor(p + 64, q);
  const __m512i p2 = popcnt_xor(p + 128, q), p3 = popcnt_xor(p + 192, q);
  // x = p0 | p1 << 16 | p2 << 32 | p3 << 48 (popcounts of a word are at most 64: no overlap).
  const __m512i x =
      _mm512_or_si512(_mm512_ternarylogic_epi64(p0, _mm512_slli_epi64(p1, 16), _mm512_slli_epi64(p2, 32), 0xFE),
                      _mm512_slli_epi64(p3, 48));
  // Add the two words of each 128-bit lane (a code of W = 2, half a code of W = 4) ...
  __m512i y = _mm512_add_epi64(x, _mm512_shuffle_epi32(x, _MM_PERM_BADC));
  if constexpr (W == 4) {
    // ... and the two halves of each 256-bit lane (a code of W = 4).
    y = _mm512_add_epi64(y, _mm512_shuffle_i64x2(y, y, _MM_SHUFFLE(2, 3, 0, 1)));
  }
  return y;
}

// Appends the codes of the packed distances y within t16 (16-bit threshold) as candidates
// base + j, in ascending order; writes 4G entries at c (c <= base, base + 4G <= n).
template <size_t W>
inline size_t emit_packed(__m512i y, __m512i t16, size_t base, uint32_t* idx, int32_t* out, size_t c) {
  constexpr size_t kCodes = W == 2 ? 16 : 8;
  const __m512i d16 = _mm512_permutexvar_epi16(packed_order<W>(), y);  // code order, low kCodes words
  const __m512i d32 = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(d16));
  const __mmask16 m = static_cast<__mmask16>(
      _mm512_cmple_epu32_mask(d32, _mm512_cvtepu16_epi32(_mm512_castsi512_si256(t16))) & ((1u << kCodes) - 1));
  const __m512i ix = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(base)),
                                      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  if constexpr (kCodes == 16) {
    _mm512_storeu_si512(out + c, _mm512_maskz_compress_epi32(m, d32));
    _mm512_storeu_si512(idx + c, _mm512_maskz_compress_epi32(m, ix));
  } else {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c),
                        _mm512_castsi512_si256(_mm512_maskz_compress_epi32(m, d32)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + c),
                        _mm512_castsi512_si256(_mm512_maskz_compress_epi32(m, ix)));
  }
  return c + static_cast<size_t>(__builtin_popcount(m));
}

template <size_t W>
size_t scan_leq_packed(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t thr, uint32_t* idx,
                       int32_t* out) {
  constexpr size_t kCodes = W == 2 ? 16 : 8;  // per packed register (256 bytes)
  // Fields that hold distances: 16-bit elements 8i + r (W = 2) or r and 16 + r (W = 4), r < 4.
  constexpr __mmask32 kFields = W == 2 ? 0x0F0F0F0Fu : 0x000F000Fu;
  const Query qv(q, W);
  const __m512i t16 = _mm512_set1_epi16(static_cast<int16_t>(std::min<int32_t>(thr, 0x7FFF)));
  size_t c = 0, i = 0;
  for (; i + 2 * kCodes <= n; i += 2 * kCodes) {
    const uint8_t* p = codes + i * nbytes;
    const __m512i y0 = packed_dist<W>(p, qv.v[0]), y1 = packed_dist<W>(p + 256, qv.v[0]);
    const __mmask32 m0 = _mm512_cmple_epu16_mask(y0, t16) & kFields;
    const __mmask32 m1 = _mm512_cmple_epu16_mask(y1, t16) & kFields;
    if (__builtin_expect((m0 | m1) != 0, 0)) {
      c = emit_packed<W>(y0, t16, i, idx, out, c);
      c = emit_packed<W>(y1, t16, i + kCodes, idx, out, c);
    }
  }
  for (; i + 8 <= n; i += 8) {
    const __m512i d = dist8<W>(codes + i * nbytes, qv.v, 0);
    const __m512i t = _mm512_set1_epi64(thr);
    if (__builtin_expect(_mm512_cmple_epu64_mask(d, t) != 0, 0)) c = emit<W>(d, t, i, idx, out, c);
  }
  c += scan_leq_loop(FixedDistance<W>{nbytes}, q, codes, n, nbytes, thr, idx + c, out + c, i);
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
    case 16: return scan_leq_packed<2>(q, codes, n, nbytes, thr, idx, out);
    case 32: return scan_leq_packed<4>(q, codes, n, nbytes, thr, idx, out);
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
