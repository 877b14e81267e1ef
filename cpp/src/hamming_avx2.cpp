// AVX2 kernels: nibble-table popcount (vpshufb) summed per 64-bit lane with vpsadbw.
// Same layout trick as the AVX-512 unit, with 4 codes' distances per 256-bit register.
// Compiled with AVX2/POPCNT flags in this unit only; no vector constants at namespace scope.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bits_util.hpp"
#include "deephash/hamming.hpp"

namespace deephash {
namespace avx2_isa {
#include "hamming_impl.hpp"

// Per-byte popcount of v.
inline __m256i popcnt8(__m256i v) {
  const __m256i lut =
      _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i lo = _mm256_and_si256(v, low);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

inline __m256i bytes_popcnt_xor(const uint8_t* p, __m256i q) {
  return popcnt8(_mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), q));
}

// Per-64-bit-lane popcount of v.
inline __m256i popcnt64(__m256i v) { return _mm256_sad_epu8(popcnt8(v), _mm256_setzero_si256()); }

inline __m256i popcnt_xor(const uint8_t* p, __m256i q) {
  return popcnt64(_mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), q));
}

// [a0+a1, b0+b1, a2+a3, b2+b3] (64-bit lanes; also for byte counts whose sums stay below 256,
// which then never carry into the next byte)
inline __m256i pair_sum(__m256i a, __m256i b) {
  return _mm256_add_epi64(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
}

// Sums of the four lanes of a, b, c, d: [sum a, sum b, sum c, sum d].
inline __m256i sum4x4(__m256i a, __m256i b, __m256i c, __m256i d) {
  __m256i ab = pair_sum(a, b), cd = pair_sum(c, d);
  return _mm256_add_epi64(_mm256_permute2x128_si256(ab, cd, 0x20), _mm256_permute2x128_si256(ab, cd, 0x31));
}

constexpr size_t kMaxChunks = 64;  // 32-byte chunks kept on the stack: codes up to 16384 bits

struct Query {
  __m256i v[kMaxChunks];
  Query(const uint8_t* q, size_t words) {
    if (words < 4) {
      alignas(32) uint64_t lanes[4];
      for (size_t i = 0; i < 4; ++i) lanes[i] = load_u64(q + 8 * (i % words));
      v[0] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
    } else {
      for (size_t t = 0; t < words / 4; ++t) v[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * t));
    }
  }
};

// Distances of the 4 codes at p: W in {1, 2}, or W = 0 meaning 4 * chunks words.
template <size_t W>
inline __m256i dist4(const uint8_t* p, const __m256i* qv, size_t chunks) {
  if constexpr (W == 1) {
    return popcnt_xor(p, qv[0]);
  } else if constexpr (W == 2) {
    // The two words of each code added as bytes (<= 16), then one VPSADBW for 4 codes;
    // pair_sum gives codes in the order 0, 2, 1, 3: permute back.
    const __m256i s = pair_sum(bytes_popcnt_xor(p, qv[0]), bytes_popcnt_xor(p + 32, qv[0]));
    return _mm256_permute4x64_epi64(_mm256_sad_epu8(s, _mm256_setzero_si256()), 0xD8);
  } else if (chunks == 1) {
    // 256-bit codes, one per register: add the four codes' byte popcounts pairwise across
    // registers first (bytes stay <= 32), then one VPSADBW gives the 4 distances, instead of one
    // VPSADBW per code and a reduction of 4 x 4 lanes (VPSADBW and cross-lane permutes share
    // one port).
    const __m256i a = bytes_popcnt_xor(p, qv[0]), b = bytes_popcnt_xor(p + 32, qv[0]);
    const __m256i c = bytes_popcnt_xor(p + 64, qv[0]), d = bytes_popcnt_xor(p + 96, qv[0]);
    const __m256i ab = pair_sum(a, b), cd = pair_sum(c, d);  // [a01, b01 | a23, b23] as bytes
    const __m256i all =
        _mm256_add_epi8(_mm256_permute2x128_si256(ab, cd, 0x20), _mm256_permute2x128_si256(ab, cd, 0x31));
    return _mm256_sad_epu8(all, _mm256_setzero_si256());
  } else {
    const size_t stride = 32 * chunks;
    __m256i acc[4];
    for (size_t j = 0; j < 4; ++j) {
      const uint8_t* c = p + j * stride;
      __m256i a = popcnt_xor(c, qv[0]);
      for (size_t t = 1; t < chunks; ++t) a = _mm256_add_epi64(a, popcnt_xor(c + 32 * t, qv[t]));
      acc[j] = a;
    }
    return sum4x4(acc[0], acc[1], acc[2], acc[3]);
  }
}

template <size_t W>
size_t scan_leq_w(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t thr, uint32_t* idx,
                  int32_t* out) {
  const size_t chunks = nbytes / 32;
  Query qv(q, nbytes / 8);
  const __m256i t = _mm256_set1_epi64x(static_cast<int64_t>(thr) + 1);  // d <= thr <=> thr + 1 > d
  size_t c = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    __m256i d = dist4<W>(codes + i * nbytes, qv.v, chunks);
    int m = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(t, d)));
    if (__builtin_expect(m != 0, 0)) {
      alignas(32) uint64_t lanes[4];
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), d);
      while (m) {
        int j = __builtin_ctz(static_cast<unsigned>(m));
        idx[c] = static_cast<uint32_t>(i + static_cast<size_t>(j));
        out[c] = static_cast<int32_t>(lanes[j]);
        ++c;
        m &= m - 1;
      }
    }
  }
  c += scan_leq_loop(FixedDistance<0>{nbytes}, q, codes, n, nbytes, thr, idx + c, out + c, i);
  return c;
}

template <size_t W>
void distances_w(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t* out) {
  const size_t chunks = nbytes / 32;
  Query qv(q, nbytes / 8);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), dist4<W>(codes + i * nbytes, qv.v, chunks));
    for (size_t j = 0; j < 4; ++j) out[i + j] = static_cast<int32_t>(lanes[j]);
  }
  for (; i < n; ++i) out[i] = distance_any(q, codes + i * nbytes, nbytes);
}

bool vector_width(size_t nbytes) {
  return nbytes == 8 || nbytes == 16 || (nbytes % 32 == 0 && nbytes / 32 <= kMaxChunks);
}

size_t scan_leq(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t thr, uint32_t* idx,
                int32_t* out) {
  if (thr < 0 || n == 0) return 0;
  if (nbytes == 8) return scan_leq_w<1>(q, codes, n, nbytes, thr, idx, out);
  if (nbytes == 16) return scan_leq_w<2>(q, codes, n, nbytes, thr, idx, out);
  if (vector_width(nbytes)) return scan_leq_w<0>(q, codes, n, nbytes, thr, idx, out);
  return scan_leq_portable(q, codes, n, nbytes, thr, idx, out);
}

void distances(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t* out) {
  if (nbytes == 8) return distances_w<1>(q, codes, n, nbytes, out);
  if (nbytes == 16) return distances_w<2>(q, codes, n, nbytes, out);
  if (vector_width(nbytes)) return distances_w<0>(q, codes, n, nbytes, out);
  return distances_portable(q, codes, n, nbytes, out);
}

}  // namespace avx2_isa

extern const HammingKernels kHammingAvx2 = {
    SimdLevel::avx2,
    [](const uint8_t* a, const uint8_t* b, size_t nbytes) { return avx2_isa::distance_portable(a, b, nbytes); },
    &avx2_isa::distances,
    &avx2_isa::scan_leq,
};

}  // namespace deephash
