// Device helpers shared by the GPU kernels: error checks, candidate keys, distance evaluation.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "gpu_flat_index.hpp"

namespace deephash {
namespace gpu {
namespace detail {

constexpr int kBlock = 256;            // threads per block of every scan kernel
constexpr uint64_t kEmptyKey = ~0ull;  // padding key: larger than every real candidate

// Throws CudaError / DeviceOutOfMemory for a failed CUDA call.
void check(cudaError_t err, const char* what);
#define DH_CUDA(call) ::deephash::gpu::detail::check((call), #call)

inline cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

// A candidate: distance in the high 32 bits, storage position in the low 32 bits. Positions are
// in (id, insertion) order, so comparing keys compares (distance, id, insertion position).
__host__ __device__ __forceinline__ uint64_t make_key(uint32_t dist, uint32_t pos) {
  return (static_cast<uint64_t>(dist) << 32) | pos;
}

// Exclusive key bound admitting every distance <= g (g from another slice's k-th distance).
__host__ __device__ __forceinline__ uint64_t bound_for_dist(uint32_t g) {
  return g == 0xFFFFFFFFu ? kEmptyKey : (static_cast<uint64_t>(g) + 1) << 32;
}

// Positions [begin, end) of database slice `s` of `len` codes among n.
__device__ __forceinline__ void slice_bounds(uint32_t s, uint32_t len, uint32_t n, uint32_t* begin, uint32_t* end) {
  const uint64_t b = static_cast<uint64_t>(s) * len;
  const uint64_t e = b + len;
  *begin = static_cast<uint32_t>(b < n ? b : n);
  *end = static_cast<uint32_t>(e < n ? e : n);
}

// Loads `qt` query rows (code_size bytes each, unpadded, any alignment) into shared memory as
// `nw` zero-padded 32-bit little-endian words each.
__device__ __forceinline__ void load_query_words(const uint8_t* queries, size_t code_size, int nw, int qt,
                                                 uint32_t* sq) {
  for (int i = threadIdx.x; i < qt * nw; i += blockDim.x) {
    const int qi = i / nw, w = i % nw;
    uint32_t v = 0;
    for (int b = 0; b < 4; ++b) {
      const size_t byte = static_cast<size_t>(w) * 4 + b;
      if (byte < code_size) v |= static_cast<uint32_t>(queries[qi * code_size + byte]) << (8 * b);
    }
    sq[i] = v;
  }
}

// Weighted contribution of one differing word x (nibble tables: 8 nibbles x 16 entries per word).
__device__ __forceinline__ uint32_t weighted_word(const uint32_t* __restrict__ tab, uint32_t x) {
  uint32_t s = 0;
#pragma unroll
  for (int n = 0; n < 8; ++n) s += __ldg(tab + n * 16 + ((x >> (4 * n)) & 15u));
  return s;
}

// Distances of one stored code (pointer to its nw words) to QT queries held in shared memory
// (sq: qt rows of nw words). NW > 0: compile-time word count (fast paths); NW == 0: runtime nw.
// Weighted: tabs + q * tab_stride is query q's nibble table (tab_stride 0 = shared weights).
template <int NW, int QT, bool kWeighted>
__device__ __forceinline__ void code_distances(const uint32_t* __restrict__ code, int nw, const uint32_t* sq, int qt,
                                               const uint32_t* __restrict__ tabs, size_t tab_stride,
                                               uint32_t (&d)[QT]) {
#pragma unroll
  for (int q = 0; q < QT; ++q) d[q] = 0;
  if constexpr (NW > 0 && !kWeighted) {
    uint32_t c[NW];
    if constexpr (NW % 4 == 0) {
#pragma unroll
      for (int w = 0; w < NW; w += 4) {
        const uint4 v = __ldg(reinterpret_cast<const uint4*>(code) + w / 4);
        c[w] = v.x;
        c[w + 1] = v.y;
        c[w + 2] = v.z;
        c[w + 3] = v.w;
      }
    } else if constexpr (NW == 2) {
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(code));
      c[0] = v.x;
      c[1] = v.y;
    } else {
#pragma unroll
      for (int w = 0; w < NW; ++w) c[w] = __ldg(code + w);
    }
#pragma unroll
    for (int q = 0; q < QT; ++q) {
      if (q < qt) {
        uint32_t s = 0;
#pragma unroll
        for (int w = 0; w < NW; ++w) s += __popc(c[w] ^ sq[q * NW + w]);
        d[q] = s;
      }
    }
  } else {
    for (int w = 0; w < nw; ++w) {
      const uint32_t cw = __ldg(code + w);
#pragma unroll
      for (int q = 0; q < QT; ++q) {
        if (q < qt) {
          const uint32_t x = cw ^ sq[q * nw + w];
          if constexpr (kWeighted) {
            d[q] += weighted_word(tabs + q * tab_stride + static_cast<size_t>(w) * 128, x);
          } else {
            d[q] += __popc(x);
          }
        }
      }
    }
  }
}

}  // namespace detail
}  // namespace gpu
}  // namespace deephash
