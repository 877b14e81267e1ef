// Exact range search with no cap on the number of results: a counting pass sizes the output, a
// second pass writes each (query, slice) block's keys at its offset, then each query's keys are
// sorted (CUB segmented sort; keys are unique) and turned into distances and ids.
#include <cuda_runtime.h>

#include <cub/device/device_segmented_sort.cuh>

#include "gpu_common.cuh"
#include "kernels.hpp"

namespace deephash {
namespace gpu {
namespace detail {

namespace {

template <bool kWeighted>
__global__ void __launch_bounds__(kBlock) range_kernel(RangeArgs a, bool fill) {
  __shared__ uint32_t cnt[kRangeTile];
  __shared__ uint32_t rad[kRangeTile];
  extern __shared__ __align__(16) unsigned char smem[];
  uint32_t* sq = reinterpret_cast<uint32_t*>(smem);
  const int q0 = blockIdx.x * kRangeTile;
  const int qt = min(kRangeTile, static_cast<int>(a.nq) - q0);
  load_query_words(a.queries + static_cast<size_t>(q0) * a.code_size, a.code_size, a.nw, qt, sq);
  if (threadIdx.x < kRangeTile) {
    cnt[threadIdx.x] = 0;
    rad[threadIdx.x] = threadIdx.x < qt ? a.radius[q0 + threadIdx.x] : 0;
  }
  __syncthreads();
  const uint32_t* tabs = kWeighted ? a.tabs + static_cast<size_t>(q0) * a.tab_stride : nullptr;
  uint32_t begin, end;
  slice_bounds(blockIdx.y, a.slice_len, a.n, &begin, &end);
  uint32_t local[kRangeTile] = {};
  for (uint32_t pos = begin + threadIdx.x; pos < end; pos += kBlock) {
    uint32_t d[kRangeTile];
    code_distances<0, kRangeTile, kWeighted>(a.codes + static_cast<size_t>(pos) * a.nw, a.nw, sq, qt, tabs,
                                             a.tab_stride, d);
#pragma unroll
    for (int q = 0; q < kRangeTile; ++q) {
      if (q < qt && d[q] <= rad[q]) {
        if (fill) {
          const uint32_t i = atomicAdd(&cnt[q], 1u);
          a.keys[a.offsets[static_cast<size_t>(q0 + q) * a.nslices + blockIdx.y] + i] = make_key(d[q], pos);
        } else {
          ++local[q];
        }
      }
    }
  }
  if (!fill) {
#pragma unroll
    for (int q = 0; q < kRangeTile; ++q) {
      uint32_t v = local[q];
      for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
      if ((threadIdx.x & 31) == 0 && v) atomicAdd(&cnt[q], v);
    }
    __syncthreads();
    if (threadIdx.x < qt) a.counts[static_cast<size_t>(q0 + threadIdx.x) * a.nslices + blockIdx.y] = cnt[threadIdx.x];
  }
}

__global__ void keys_to_results_kernel(const uint64_t* keys, size_t total, const int64_t* lims, size_t nq,
                                       const int64_t* ids, int32_t* dist, float* fdist, const double* scales,
                                       int scale_stride, int64_t* out_ids) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const uint64_t key = keys[i];
    const uint32_t d = static_cast<uint32_t>(key >> 32);
    out_ids[i] = ids[static_cast<uint32_t>(key)];
    if (fdist != nullptr) {
      size_t q = 0;
      if (scale_stride) {
        // Query of entry i: last q with lims[q] <= i.
        size_t lo = 0, hi = nq;
        while (hi - lo > 1) {
          const size_t mid = (lo + hi) / 2;
          if (static_cast<size_t>(lims[mid]) <= i)
            lo = mid;
          else
            hi = mid;
        }
        q = lo;
      }
      fdist[i] = static_cast<float>(static_cast<double>(d) * scales[q]);
    } else {
      dist[i] = static_cast<int32_t>(d);
    }
  }
}

unsigned grid_for(size_t n) {
  const size_t blocks = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(blocks < 65535 ? (blocks ? blocks : 1) : 65535);
}

}  // namespace

void run_range(const RangeArgs& a, bool weighted, bool fill, cudaStream_t stream) {
  dim3 grid(static_cast<unsigned>((a.nq + kRangeTile - 1) / kRangeTile), a.nslices);
  const size_t smem = static_cast<size_t>(kRangeTile) * a.nw * 4;
  if (weighted) {
    if (smem > 48 * 1024)
      DH_CUDA(cudaFuncSetAttribute(range_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   static_cast<int>(smem)));
    range_kernel<true><<<grid, kBlock, smem, stream>>>(a, fill);
  } else {
    if (smem > 48 * 1024)
      DH_CUDA(cudaFuncSetAttribute(range_kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   static_cast<int>(smem)));
    range_kernel<false><<<grid, kBlock, smem, stream>>>(a, fill);
  }
  DH_CUDA(cudaGetLastError());
}

void sort_range_keys(uint64_t* keys, uint64_t* tmp_keys, size_t total, const int64_t* lims_dev, size_t nq, int device,
                     cudaStream_t stream) {
  size_t temp_bytes = 0;
  DH_CUDA(cub::DeviceSegmentedSort::SortKeys(nullptr, temp_bytes, keys, tmp_keys, static_cast<int64_t>(total),
                                             static_cast<int64_t>(nq), lims_dev, lims_dev + 1, stream));
  void* temp = alloc_device(temp_bytes ? temp_bytes : 1, device);
  cudaError_t err = cub::DeviceSegmentedSort::SortKeys(temp, temp_bytes, keys, tmp_keys, static_cast<int64_t>(total),
                                                       static_cast<int64_t>(nq), lims_dev, lims_dev + 1, stream);
  if (err == cudaSuccess) err = cudaMemcpyAsync(keys, tmp_keys, total * 8, cudaMemcpyDeviceToDevice, stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
  free_device(temp, device);
  DH_CUDA(err);
}

void keys_to_results(const uint64_t* keys, size_t total, const int64_t* lims, size_t nq, const int64_t* ids,
                     int32_t* dist, float* fdist, const double* scales, int scale_stride, int64_t* out_ids,
                     cudaStream_t stream) {
  if (total == 0) return;
  keys_to_results_kernel<<<grid_for(total), kBlock, 0, stream>>>(keys, total, lims, nq, ids, dist, fdist, scales,
                                                                 scale_stride, out_ids);
  DH_CUDA(cudaGetLastError());
}

}  // namespace detail
}  // namespace gpu
}  // namespace deephash
