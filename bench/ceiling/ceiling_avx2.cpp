// AVX2 ceiling loops: nibble-table popcount (VPSHUFB), the words of a code added as bytes, one
// VPSADBW per register of 4 distances; 4 codes per group, word w of the group in register w.
#include <immintrin.h>

#include "ceiling.hpp"

namespace deephash_bench {
namespace {

inline __m256i byte_popcnt(__m256i v, __m256i lut, __m256i low) {
  const __m256i lo = _mm256_and_si256(v, low);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

// Distances of the 4 codes of the group at p, one per 64-bit lane.
template <size_t W>
inline __m256i dist4(const uint64_t* p, const __m256i* q, __m256i lut, __m256i low) {
  __m256i b = byte_popcnt(_mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), q[0]), lut, low);
  for (size_t w = 1; w < W; ++w) {
    const __m256i x = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 4 * w)), q[w]);
    b = _mm256_add_epi8(b, byte_popcnt(x, lut, low));  // at most 32 per byte for W <= 4
  }
  return _mm256_sad_epu8(b, _mm256_setzero_si256());
}

struct Consts {
  __m256i lut, low;
  Consts()
      : lut(_mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
                             3, 4)),
        low(_mm256_set1_epi8(0x0f)) {}
};

template <size_t W>
uint64_t cmp_w(const uint64_t* c, size_t n, const uint64_t* query, int32_t thr) {
  const Consts k;
  __m256i q[W];
  for (size_t w = 0; w < W; ++w) q[w] = _mm256_set1_epi64x(static_cast<long long>(query[w]));
  const __m256i t = _mm256_set1_epi64x(static_cast<long long>(thr) + 1);  // d <= thr <=> thr + 1 > d
  uint64_t hits = 0;
  for (size_t i = 0; i + 16 <= n; i += 16, c += 16 * W) {
    const __m256i g0 = _mm256_cmpgt_epi64(t, dist4<W>(c, q, k.lut, k.low));
    const __m256i g1 = _mm256_cmpgt_epi64(t, dist4<W>(c + 4 * W, q, k.lut, k.low));
    const __m256i g2 = _mm256_cmpgt_epi64(t, dist4<W>(c + 8 * W, q, k.lut, k.low));
    const __m256i g3 = _mm256_cmpgt_epi64(t, dist4<W>(c + 12 * W, q, k.lut, k.low));
    const __m256i any = _mm256_or_si256(_mm256_or_si256(g0, g1), _mm256_or_si256(g2, g3));
    if (__builtin_expect(!_mm256_testz_si256(any, any), 0))
      hits += static_cast<uint64_t>(__builtin_popcount(_mm256_movemask_pd(_mm256_castsi256_pd(any))));
  }
  return hits;
}

template <size_t W>
uint64_t min_w(const uint64_t* c, size_t n, const uint64_t* query, int32_t thr) {
  const Consts k;
  __m256i q[W];
  for (size_t w = 0; w < W; ++w) q[w] = _mm256_set1_epi64x(static_cast<long long>(query[w]));
  const __m256i t = _mm256_set1_epi32(thr + 1);
  uint64_t hits = 0;
  for (size_t i = 0; i + 16 <= n; i += 16, c += 16 * W) {
    // Distances fit the low 32 bits of each lane (the high halves are 0): 32-bit minimum.
    const __m256i a = _mm256_min_epu32(dist4<W>(c, q, k.lut, k.low), dist4<W>(c + 4 * W, q, k.lut, k.low));
    const __m256i b = _mm256_min_epu32(dist4<W>(c + 8 * W, q, k.lut, k.low), dist4<W>(c + 12 * W, q, k.lut, k.low));
    const __m256i g = _mm256_cmpgt_epi32(t, _mm256_min_epu32(a, b));
    if (__builtin_expect(!_mm256_testz_si256(g, g), 0))
      hits += static_cast<uint64_t>(__builtin_popcount(_mm256_movemask_pd(_mm256_castsi256_pd(g))));
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

LevelLoops avx2_loops() { return {"avx2", 4, &cmp_any, &min_any}; }

}  // namespace deephash_bench
