// Kernels that maintain the device storage: padding rows to whole words, permuting rows, merging
// sorted runs on add and compacting on remove. Rows stay sorted by (id, insertion order).
#include <cuda_runtime.h>

#include "gpu_common.cuh"
#include "kernels.hpp"

namespace deephash {
namespace gpu {
namespace detail {

namespace {

unsigned grid_for(size_t n) {
  const size_t blocks = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(blocks < 65535 ? (blocks ? blocks : 1) : 65535);
}

#define DH_GRID_STRIDE(i, n)                                                           \
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<size_t>(gridDim.x) * blockDim.x)

__global__ void pad_rows_kernel(const uint8_t* src, size_t n, size_t code_size, int nw, uint32_t* dst) {
  DH_GRID_STRIDE(t, n * nw) {
    const size_t row = t / nw, w = t % nw;
    uint32_t v = 0;
    for (int b = 0; b < 4; ++b) {
      const size_t byte = w * 4 + b;
      if (byte < code_size) v |= static_cast<uint32_t>(src[row * code_size + byte]) << (8 * b);
    }
    dst[t] = v;
  }
}

__global__ void gather_rows_kernel(const uint32_t* src, const uint32_t* perm, uint32_t* dst, size_t n, int nw) {
  DH_GRID_STRIDE(t, n * nw) {
    const size_t row = t / nw, w = t % nw;
    const size_t from = perm ? perm[row] : row;
    dst[t] = src[from * nw + w];
  }
}

// Number of entries of a[0, n) below v (strict) or at most v.
__device__ size_t count_before(const int64_t* a, size_t n, int64_t v, bool inclusive) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (a[mid] < v || (inclusive && a[mid] == v))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

__global__ void merge_sorted_kernel(const uint32_t* old_codes, const int64_t* old_ids, size_t n_old,
                                    const uint32_t* new_codes, const int64_t* new_ids, size_t n_new, int nw,
                                    uint32_t* dst_codes, int64_t* dst_ids) {
  DH_GRID_STRIDE(t, n_old + n_new) {
    size_t to;
    const uint32_t* src;
    int64_t id;
    if (t < n_old) {
      id = old_ids[t];
      to = t + count_before(new_ids, n_new, id, false);  // older entries first on equal ids
      src = old_codes + t * nw;
    } else {
      const size_t j = t - n_old;
      id = new_ids[j];
      to = j + count_before(old_ids, n_old, id, true);
      src = new_codes + j * nw;
    }
    dst_ids[to] = id;
    for (int w = 0; w < nw; ++w) dst_codes[to * nw + w] = src[w];
  }
}

__global__ void find_id_ranges_kernel(const int64_t* ids, size_t n, const int64_t* query_ids, size_t r, uint32_t* lo,
                                      uint32_t* hi) {
  DH_GRID_STRIDE(i, r) {
    lo[i] = static_cast<uint32_t>(count_before(ids, n, query_ids[i], false));
    hi[i] = static_cast<uint32_t>(count_before(ids, n, query_ids[i], true));
  }
}

__global__ void compact_ranges_kernel(const uint32_t* codes, const int64_t* ids, size_t n, int nw, const uint32_t* lo,
                                      const uint32_t* hi, const uint64_t* cum, size_t nranges, uint32_t* dst_codes,
                                      int64_t* dst_ids) {
  DH_GRID_STRIDE(i, n) {
    // Last range starting at or before i.
    size_t a = 0, b = nranges;
    while (a < b) {
      const size_t mid = (a + b) / 2;
      if (lo[mid] <= i)
        a = mid + 1;
      else
        b = mid;
    }
    size_t removed_before = 0;
    if (a > 0) {
      const size_t r = a - 1;
      if (i < hi[r]) continue;  // removed
      removed_before = cum[r] + (hi[r] - lo[r]);
    }
    const size_t to = i - removed_before;
    dst_ids[to] = ids[i];
    for (int w = 0; w < nw; ++w) dst_codes[to * nw + w] = codes[i * nw + w];
  }
}

}  // namespace

void pad_rows(const uint8_t* src, size_t n, size_t code_size, int nw, uint32_t* dst, cudaStream_t stream) {
  if (n == 0) return;
  pad_rows_kernel<<<grid_for(n * nw), kBlock, 0, stream>>>(src, n, code_size, nw, dst);
  DH_CUDA(cudaGetLastError());
}

void gather_rows(const uint32_t* src, const uint32_t* perm, uint32_t* dst, size_t n, int nw, cudaStream_t stream) {
  if (n == 0) return;
  gather_rows_kernel<<<grid_for(n * nw), kBlock, 0, stream>>>(src, perm, dst, n, nw);
  DH_CUDA(cudaGetLastError());
}

void merge_sorted(const uint32_t* old_codes, const int64_t* old_ids, size_t n_old, const uint32_t* new_codes,
                  const int64_t* new_ids, size_t n_new, int nw, uint32_t* dst_codes, int64_t* dst_ids,
                  cudaStream_t stream) {
  if (n_old + n_new == 0) return;
  merge_sorted_kernel<<<grid_for(n_old + n_new), kBlock, 0, stream>>>(old_codes, old_ids, n_old, new_codes, new_ids,
                                                                      n_new, nw, dst_codes, dst_ids);
  DH_CUDA(cudaGetLastError());
}

void find_id_ranges(const int64_t* ids, size_t n, const int64_t* query_ids, size_t r, uint32_t* lo, uint32_t* hi,
                    cudaStream_t stream) {
  if (r == 0) return;
  find_id_ranges_kernel<<<grid_for(r), kBlock, 0, stream>>>(ids, n, query_ids, r, lo, hi);
  DH_CUDA(cudaGetLastError());
}

void compact_ranges(const uint32_t* codes, const int64_t* ids, size_t n, int nw, const uint32_t* lo, const uint32_t* hi,
                    const uint64_t* cum, size_t nranges, uint32_t* dst_codes, int64_t* dst_ids, cudaStream_t stream) {
  if (n == 0) return;
  compact_ranges_kernel<<<grid_for(n), kBlock, 0, stream>>>(codes, ids, n, nw, lo, hi, cum, nranges, dst_codes,
                                                            dst_ids);
  DH_CUDA(cudaGetLastError());
}

}  // namespace detail
}  // namespace gpu
}  // namespace deephash
