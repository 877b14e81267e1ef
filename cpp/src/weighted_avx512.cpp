// Weighted kernels for the AVX-512 level.
//
// Masked form: popcount((q ^ c) & mask) with VPOPCNTDQ, as fast as the unweighted scan.
// General form (needs AVX-512 VBMI, checked at run time): each code's XOR is split into
// nibbles; VPERMI2B looks up, for all 64 bytes at once, one byte plane of the nibble's total
// weight in a 128-entry table indexed by (byte position << 4 | nibble); VPSADBW sums each
// code's 8 bytes into its 64-bit lane. Planes recombine as p0 + (p1 << 8) + (p2 << 16): the
// exact integer total, the same as the scalar byte-table kernel.
// GCC 12 warns about the deliberately undefined registers inside its own intrinsics headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bits_util.hpp"
#include "deephash/weighted.hpp"

namespace deephash {
namespace avx512_weighted_isa {
#include "weighted_impl.hpp"

inline size_t emit8(__m512i d, __mmask8 m, size_t base, uint32_t* idx, int32_t* out, size_t c) {
  const __m256i d32 = _mm512_cvtepi64_epi32(d);
  const __m256i ix =
      _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(base)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  _mm256_mask_compressstoreu_epi32(out + c, m, d32);
  _mm256_mask_compressstoreu_epi32(idx + c, m, ix);
  return c + static_cast<size_t>(__builtin_popcount(m));
}

size_t masked_scan_leq(const uint8_t* q, const uint8_t* mask, const uint8_t* codes, size_t n, size_t nbytes,
                       int32_t thr, uint32_t* idx, int32_t* dist) {
  if (nbytes != 8) return masked_scan_leq_portable(q, mask, codes, n, nbytes, thr, idx, dist);
  const __m512i qv = _mm512_set1_epi64(static_cast<long long>(load_u64(q)));
  const __m512i mv = _mm512_set1_epi64(static_cast<long long>(load_u64(mask)));
  const __m512i t = _mm512_set1_epi64(thr);
  size_t c = 0, i = 0;
  for (; i + 32 <= n; i += 32) {
    const uint8_t* p = codes + 8 * i;
    __m512i d0 = _mm512_popcnt_epi64(_mm512_and_si512(_mm512_xor_si512(_mm512_loadu_si512(p), qv), mv));
    __m512i d1 = _mm512_popcnt_epi64(_mm512_and_si512(_mm512_xor_si512(_mm512_loadu_si512(p + 64), qv), mv));
    __m512i d2 = _mm512_popcnt_epi64(_mm512_and_si512(_mm512_xor_si512(_mm512_loadu_si512(p + 128), qv), mv));
    __m512i d3 = _mm512_popcnt_epi64(_mm512_and_si512(_mm512_xor_si512(_mm512_loadu_si512(p + 192), qv), mv));
    __mmask8 m0 = _mm512_cmple_epi64_mask(d0, t), m1 = _mm512_cmple_epi64_mask(d1, t);
    __mmask8 m2 = _mm512_cmple_epi64_mask(d2, t), m3 = _mm512_cmple_epi64_mask(d3, t);
    if (__builtin_expect((m0 | m1 | m2 | m3) != 0, 0)) {
      c = emit8(d0, m0, i, idx, dist, c);
      c = emit8(d1, m1, i + 8, idx, dist, c);
      c = emit8(d2, m2, i + 16, idx, dist, c);
      c = emit8(d3, m3, i + 24, idx, dist, c);
    }
  }
  c += masked_scan_leq_portable(q, mask, codes, n, nbytes, thr, idx + c, dist + c, i);
  return c;
}

// Byte lane l of a register holds byte l % 8 of its code: table row (l % 8) << 4.
inline __m512i lane_rows() {
  alignas(64) uint8_t r[64];
  for (int l = 0; l < 64; ++l) r[l] = static_cast<uint8_t>((l & 7) << 4);
  return _mm512_load_si512(r);
}

// Total units of 8 codes whose XOR with the query's group g is x, accumulated into acc[t].
template <int NP>
inline void add_group(__m512i x, const uint8_t* tabs, __m512i rows, __m512i* acc) {
  const __m512i nib = _mm512_set1_epi8(0x0F);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i lo = _mm512_or_si512(_mm512_and_si512(x, nib), rows);
  const __m512i hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(x, 4), nib), rows);
  for (int t = 0; t < NP; ++t) {
    const uint8_t* tl = tabs + t * 128;
    const uint8_t* th = tabs + (NP + t) * 128;
    const __m512i vl = _mm512_permutex2var_epi8(_mm512_loadu_si512(tl), lo, _mm512_loadu_si512(tl + 64));
    const __m512i vh = _mm512_permutex2var_epi8(_mm512_loadu_si512(th), hi, _mm512_loadu_si512(th + 64));
    acc[t] = _mm512_add_epi64(acc[t], _mm512_add_epi64(_mm512_sad_epu8(vl, zero), _mm512_sad_epu8(vh, zero)));
  }
}

template <int NP>
inline __m512i combine(const __m512i* acc) {
  __m512i d = acc[0];
  if (NP > 1) d = _mm512_add_epi64(d, _mm512_slli_epi64(acc[1], 8));
  if (NP > 2) d = _mm512_add_epi64(d, _mm512_slli_epi64(acc[2], 16));
  return d;
}

// 64-bit codes: the tables stay in registers. A coarse pass (one 7-bit plane per nibble half,
// so the two halves add in bytes without overflow, and one VPSADBW) gives a lower bound of each
// total; only groups of 8 codes where some bound is within the threshold pay for the exact
// planes. 32 codes per iteration.
template <int NP>
size_t lut_scan_vbmi_64(const WeightedPlan& plan, const uint8_t* q, const uint8_t* codes, size_t n, int32_t thr,
                        uint32_t* idx, int32_t* dist) {
  const uint8_t* tabs = plan.planes.data();
  __m512i tlo_a[NP], tlo_b[NP], thi_a[NP], thi_b[NP];
  for (int t = 0; t < NP; ++t) {
    tlo_a[t] = _mm512_loadu_si512(tabs + t * 128);
    tlo_b[t] = _mm512_loadu_si512(tabs + t * 128 + 64);
    thi_a[t] = _mm512_loadu_si512(tabs + (NP + t) * 128);
    thi_b[t] = _mm512_loadu_si512(tabs + (NP + t) * 128 + 64);
  }
  const __m512i clo_a = _mm512_loadu_si512(plan.coarse.data());
  const __m512i clo_b = _mm512_loadu_si512(plan.coarse.data() + 64);
  const __m512i chi_a = _mm512_loadu_si512(plan.coarse.data() + 128);
  const __m512i chi_b = _mm512_loadu_si512(plan.coarse.data() + 192);
  const __m512i rows = lane_rows();
  const __m512i nib = _mm512_set1_epi8(0x0F);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i qv = _mm512_set1_epi64(static_cast<long long>(load_u64(q)));
  const __m512i t64 = _mm512_set1_epi64(thr);
  const __m512i ct64 = _mm512_set1_epi64(thr >> plan.coarse_shift);
  struct Idx {
    __m512i lo, hi;
  };
  auto indices = [&](const uint8_t* p) {
    const __m512i x = _mm512_xor_si512(_mm512_loadu_si512(p), qv);
    // (x & 0x0F) | rows and ((x >> 4) & 0x0F) | rows, one ternary-logic op each.
    return Idx{_mm512_ternarylogic_epi64(x, nib, rows, 0xEA),
               _mm512_ternarylogic_epi64(_mm512_srli_epi16(x, 4), nib, rows, 0xEA)};
  };
  auto coarse_ok = [&](const Idx& ix) {
    const __m512i v =
        _mm512_add_epi8(_mm512_permutex2var_epi8(clo_a, ix.lo, clo_b), _mm512_permutex2var_epi8(chi_a, ix.hi, chi_b));
    return _mm512_cmple_epi64_mask(_mm512_sad_epu8(v, zero), ct64);
  };
  auto exact = [&](const Idx& ix) {
    __m512i d = zero;
    for (int t = NP - 1; t >= 0; --t) {
      const __m512i vl = _mm512_permutex2var_epi8(tlo_a[t], ix.lo, tlo_b[t]);
      const __m512i vh = _mm512_permutex2var_epi8(thi_a[t], ix.hi, thi_b[t]);
      const __m512i sum = _mm512_add_epi64(_mm512_sad_epu8(vl, zero), _mm512_sad_epu8(vh, zero));
      d = _mm512_add_epi64(_mm512_slli_epi64(d, 8), sum);
    }
    return d;
  };
  auto finish = [&](const Idx& ix, size_t i, size_t c) {
    const __m512i d = exact(ix);
    const __mmask8 m = _mm512_cmple_epi64_mask(d, t64);
    return m ? emit8(d, m, i, idx, dist, c) : c;
  };
  size_t c = 0, i = 0;
  for (; i + 32 <= n; i += 32) {
    const uint8_t* p = codes + 8 * i;
    const Idx x0 = indices(p), x1 = indices(p + 64), x2 = indices(p + 128), x3 = indices(p + 192);
    const __mmask8 m0 = coarse_ok(x0), m1 = coarse_ok(x1), m2 = coarse_ok(x2), m3 = coarse_ok(x3);
    if (__builtin_expect((m0 | m1 | m2 | m3) != 0, 0)) {
      if (m0) c = finish(x0, i, c);
      if (m1) c = finish(x1, i + 8, c);
      if (m2) c = finish(x2, i + 16, c);
      if (m3) c = finish(x3, i + 24, c);
    }
  }
  for (; i + 8 <= n; i += 8) {
    const Idx x = indices(codes + 8 * i);
    if (coarse_ok(x)) c = finish(x, i, c);
  }
  c += lut_scan_leq_portable(plan, q, codes, n, thr, idx + c, dist + c, i);
  return c;
}

// Wider codes (a multiple of 8 bytes): gather group g of 8 codes into one register.
template <int NP>
size_t lut_scan_vbmi(const WeightedPlan& plan, const uint8_t* q, const uint8_t* codes, size_t n, int32_t thr,
                     uint32_t* idx, int32_t* dist) {
  const size_t nbytes = plan.nbytes;
  if (nbytes == 8) return lut_scan_vbmi_64<NP>(plan, q, codes, n, thr, idx, dist);
  const size_t groups = nbytes / 8;
  const uint8_t* tabs = plan.planes.data();
  const size_t gstride = 2 * NP * 128;
  const __m512i rows = lane_rows();
  const __m512i t = _mm512_set1_epi64(thr);
  const long long nb = static_cast<long long>(nbytes);
  const __m512i offs = _mm512_setr_epi64(0, nb, 2 * nb, 3 * nb, 4 * nb, 5 * nb, 6 * nb, 7 * nb);
  size_t c = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint8_t* base = codes + i * nbytes;
    __m512i acc[NP];
    for (int p = 0; p < NP; ++p) acc[p] = _mm512_setzero_si512();
    for (size_t g = 0; g < groups; ++g) {
      const __m512i x = _mm512_i64gather_epi64(offs, base + 8 * g, 1);
      const __m512i qg = _mm512_set1_epi64(static_cast<long long>(load_u64(q + 8 * g)));
      add_group<NP>(_mm512_xor_si512(x, qg), tabs + g * gstride, rows, acc);
    }
    const __m512i d = combine<NP>(acc);
    const __mmask8 m = _mm512_cmple_epi64_mask(d, t);
    if (m) c = emit8(d, m, i, idx, dist, c);
  }
  c += lut_scan_leq_portable(plan, q, codes, n, thr, idx + c, dist + c, i);
  return c;
}

size_t lut_scan_leq(const WeightedPlan& plan, const uint8_t* q, const uint8_t* codes, size_t n, int32_t thr,
                    uint32_t* idx, int32_t* dist) {
  switch (plan.nplanes) {
    case 1: return lut_scan_vbmi<1>(plan, q, codes, n, thr, idx, dist);
    case 2: return lut_scan_vbmi<2>(plan, q, codes, n, thr, idx, dist);
    case 3: return lut_scan_vbmi<3>(plan, q, codes, n, thr, idx, dist);
    default: return lut_scan_leq_portable(plan, q, codes, n, thr, idx, dist);
  }
}

}  // namespace avx512_weighted_isa

const WeightedKernels& weighted_avx512_kernels() noexcept {
  static const WeightedKernels vbmi = {SimdLevel::avx512, avx512_weighted_isa::masked_scan_leq,
                                       avx512_weighted_isa::lut_scan_leq};
  static const WeightedKernels novbmi = {SimdLevel::avx512, avx512_weighted_isa::masked_scan_leq,
                                         avx512_weighted_isa::lut_scan_leq_table};
  static const bool has_vbmi = __builtin_cpu_supports("avx512vbmi");
  return has_vbmi ? vbmi : novbmi;
}

}  // namespace deephash
