// AVX-512 VPOPCNTDQ ceiling loops: 8 codes per group, word w of the group in register w.
#include <immintrin.h>

#include "ceiling.hpp"

namespace deephash_bench {
namespace {

// Distances of the 8 codes of the group at p (W registers).
template <size_t W>
inline __m512i dist8(const uint64_t* p, const __m512i* q) {
  __m512i d = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(p), q[0]));
  for (size_t w = 1; w < W; ++w)
    d = _mm512_add_epi64(d, _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(p + 8 * w), q[w])));
  return d;
}

template <size_t W>
uint64_t cmp_w(const uint64_t* c, size_t n, const uint64_t* query, int32_t thr) {
  __m512i q[W];
  for (size_t w = 0; w < W; ++w) q[w] = _mm512_set1_epi64(static_cast<long long>(query[w]));
  const __m512i t = _mm512_set1_epi64(thr);
  uint64_t hits = 0;
  for (size_t i = 0; i + 32 <= n; i += 32, c += 32 * W) {
    const __mmask8 m0 = _mm512_cmple_epu64_mask(dist8<W>(c, q), t);
    const __mmask8 m1 = _mm512_cmple_epu64_mask(dist8<W>(c + 8 * W, q), t);
    const __mmask8 m2 = _mm512_cmple_epu64_mask(dist8<W>(c + 16 * W, q), t);
    const __mmask8 m3 = _mm512_cmple_epu64_mask(dist8<W>(c + 24 * W, q), t);
    if (__builtin_expect((m0 | m1 | m2 | m3) != 0, 0))
      hits += static_cast<uint64_t>(__builtin_popcount(m0) + __builtin_popcount(m1) + __builtin_popcount(m2) +
                                    __builtin_popcount(m3));
  }
  return hits;
}

template <size_t W>
uint64_t min_w(const uint64_t* c, size_t n, const uint64_t* query, int32_t thr) {
  __m512i q[W];
  for (size_t w = 0; w < W; ++w) q[w] = _mm512_set1_epi64(static_cast<long long>(query[w]));
  const __m512i t = _mm512_set1_epi64(thr);
  uint64_t hits = 0;
  for (size_t i = 0; i + 32 <= n; i += 32, c += 32 * W) {
    const __m512i a = _mm512_min_epu64(dist8<W>(c, q), dist8<W>(c + 8 * W, q));
    const __m512i b = _mm512_min_epu64(dist8<W>(c + 16 * W, q), dist8<W>(c + 24 * W, q));
    const __mmask8 m = _mm512_cmple_epu64_mask(_mm512_min_epu64(a, b), t);
    if (__builtin_expect(m != 0, 0)) hits += static_cast<uint64_t>(__builtin_popcount(m));
  }
  return hits;
}

uint64_t cmp_any(const uint64_t* c, size_t n, size_t words, const uint64_t* q, int32_t thr) {
  switch (words) {
    case 1: return cmp_w<1>(c, n, q, thr);
    case 2: return cmp_w<2>(c, n, q, thr);
    default: return cmp_w<4>(c, n, q, thr);
  }
}

uint64_t min_any(const uint64_t* c, size_t n, size_t words, const uint64_t* q, int32_t thr) {
  switch (words) {
    case 1: return min_w<1>(c, n, q, thr);
    case 2: return min_w<2>(c, n, q, thr);
    default: return min_w<4>(c, n, q, thr);
  }
}

}  // namespace

LevelLoops avx512_loops() { return {"avx512", 8, &cmp_any, &min_any}; }

}  // namespace deephash_bench
