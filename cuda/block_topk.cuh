// Block-wide top-k selection in shared memory, for several queries at once.
//
// Each query slot owns a sorted list of its best keys (at most k) and a candidate buffer. Threads
// offer keys with one compare against the slot's bound (the k-th key once the list is full) and
// append the rare survivors to the buffer with a shared atomic; between rounds the block checks
// the counters and, when a buffer could overflow in the next round, sorts it (bitonic) and merges
// it into the list in place. Keys are unique (they carry the storage position), so the result is
// exactly the k smallest keys offered, whatever the order threads offered them in.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "gpu_common.cuh"

namespace deephash {
namespace gpu {
namespace detail {

// Upper limit on buffer slots per thread (buffer capacity / block size) for the merge step.
constexpr int kMaxBufPerThread = 8;

struct BlockTopK {
  uint64_t* list;   // [slots][k], sorted ascending, first nlist[s] valid
  uint64_t* buf;    // [slots][cap]
  int* cnt;         // [slots] keys in buf
  int* nlist;       // [slots]
  uint64_t* bound;  // [slots] exclusive bound for offers
  int k;
  int cap;        // buffer capacity (a power of two, <= kMaxBufPerThread * blockDim.x)
  int round_max;  // most keys one round can append per slot; flush when cnt > cap - round_max

  // Shared-memory bytes for `slots` slots.
  static __host__ __device__ size_t smem_bytes(int slots, int k, int cap) {
    return static_cast<size_t>(slots) * ((static_cast<size_t>(k) + cap) * 8 + 8 + 8);
  }

  // Carves the arrays out of `smem` (8-byte aligned) and initialises them. Ends with a barrier.
  __device__ void init(unsigned char* smem, int slots, int k_, int cap_, int round_max_) {
    k = k_;
    cap = cap_;
    round_max = round_max_;
    list = reinterpret_cast<uint64_t*>(smem);
    buf = list + static_cast<size_t>(slots) * k;
    bound = buf + static_cast<size_t>(slots) * cap;
    cnt = reinterpret_cast<int*>(bound + slots);
    nlist = cnt + slots;
    for (int s = threadIdx.x; s < slots; s += blockDim.x) {
      cnt[s] = 0;
      nlist[s] = 0;
      bound[s] = kEmptyKey;
    }
    __syncthreads();
  }

  __device__ __forceinline__ void offer(int slot, uint64_t key) {
    if (key < bound[slot]) {
      const int i = atomicAdd(&cnt[slot], 1);
      buf[static_cast<size_t>(slot) * cap + i] = key;
    }
  }

  // Offer during a scan in ascending positions (pass 1): every key already in the list, and the
  // position part of any bound, is below `pos`, so key < bound reduces to dist < the bound's
  // distance part, one 32-bit compare; the key is only built for the rare survivor.
  // Returns true when the buffer now holds more than cap - round_max keys (flush it).
  __device__ __forceinline__ bool offer_scan(int slot, uint32_t dist, uint32_t pos) {
    if (dist < static_cast<uint32_t>(bound[slot] >> 32)) {
      const int i = atomicAdd(&cnt[slot], 1);
      buf[static_cast<size_t>(slot) * cap + i] = make_key(dist, pos);
      return i + 1 > cap - round_max;
    }
    return false;
  }

  // Lowers a slot's bound (thread-uniform call sites only; ends with a barrier).
  __device__ void tighten(int slot, uint64_t b) {
    __syncthreads();
    if (threadIdx.x == 0 && b < bound[slot]) bound[slot] = b;
    __syncthreads();
  }

  // Number of keys < v in the sorted array a[0, n).
  static __device__ __forceinline__ int lower_bound(const uint64_t* a, int n, uint64_t v) {
    int lo = 0, hi = n;
    while (lo < hi) {
      const int mid = (lo + hi) >> 1;
      if (a[mid] < v)
        lo = mid + 1;
      else
        hi = mid;
    }
    return lo;
  }

  // Sorts the slot's buffer and merges it into its list; n = cnt[slot] as read by every thread
  // after a barrier. Must be called by all threads with the same arguments. Returns the new
  // list length (k-th key in list[k-1] when it equals k).
  __device__ int flush(int slot, int n) {
    uint64_t* b = buf + static_cast<size_t>(slot) * cap;
    uint64_t* l = list + static_cast<size_t>(slot) * k;
    const int m = nlist[slot];
    int p2 = 1;
    while (p2 < n) p2 <<= 1;
    for (int i = n + threadIdx.x; i < p2; i += blockDim.x) b[i] = kEmptyKey;
    __syncthreads();
    // Bitonic sort of b[0, p2).
    for (int size = 2; size <= p2; size <<= 1) {
      for (int stride = size >> 1; stride > 0; stride >>= 1) {
        for (int t = threadIdx.x; t < (p2 >> 1); t += blockDim.x) {
          const int i = (t / stride) * stride * 2 + (t % stride);
          const int j = i + stride;
          const uint64_t x = b[i], y = b[j];
          const bool asc = (i & size) == 0;
          if ((x > y) == asc) {
            b[i] = y;
            b[j] = x;
          }
        }
        __syncthreads();
      }
    }
    // Final positions of buffer keys in the merged order (computed before the list changes).
    uint64_t bv[kMaxBufPerThread];
    int bp[kMaxBufPerThread];
#pragma unroll
    for (int r = 0; r < kMaxBufPerThread; ++r) {
      const int j = threadIdx.x + r * blockDim.x;
      bp[r] = k;
      if (j < n) {
        bv[r] = b[j];
        bp[r] = j + lower_bound(l, m, bv[r]);
      }
    }
    __syncthreads();
    // List keys only move towards the end: moving chunks from the last one down never
    // overwrites a key that has not been read yet.
    for (int c = (m + blockDim.x - 1) / blockDim.x - 1; c >= 0; --c) {
      const int i = c * blockDim.x + threadIdx.x;
      uint64_t v = 0;
      int p = k;
      if (i < m) {
        v = l[i];
        p = i + lower_bound(b, n, v);
      }
      __syncthreads();
      if (p < k) l[p] = v;
      __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < kMaxBufPerThread; ++r)
      if (bp[r] < k) l[bp[r]] = bv[r];
    const int nm = m + n < k ? m + n : k;
    __syncthreads();
    if (threadIdx.x == 0) {
      nlist[slot] = nm;
      cnt[slot] = 0;
      if (nm == k && l[k - 1] < bound[slot]) bound[slot] = l[k - 1];
    }
    __syncthreads();
    return nm;
  }
};

}  // namespace detail
}  // namespace gpu
}  // namespace deephash
