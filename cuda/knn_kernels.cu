// Fused k-NN kernels: popcount (or weighted) distances and per-query top-k in one pass, without
// materialising the queries x database distance matrix.
//
// Pass 1 (knn_scan_kernel): block (x = tile of up to QT queries, y = slice of the database) scans
// its slice once; each thread holds one code per round and computes its distance to every query
// of the tile (query words in shared memory), then offers the key (distance << 32 | position) to
// the tile's BlockTopK with a single compare. The slice's top-k per query goes to a workspace of
// nq x slices x k keys. Each block also publishes its k-th distance per query (atomicMin), which
// every other block of that query uses as an inclusive bound: the global top-k all lie within it.
// Pass 2 (knn_merge_kernel): one block per query streams its slices' keys through a BlockTopK and
// writes distances and ids.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "block_topk.cuh"
#include "gpu_common.cuh"
#include "kernels.hpp"

namespace deephash {
namespace gpu {
namespace detail {

namespace {

constexpr int kScanCap = 512;       // pass-1 buffer slots per query (2 rounds of one key per thread)
constexpr int kMergePerThread = 4;  // pass-2 keys per thread per round
constexpr int kMergeCap = 2048;     // pass-2 buffer slots (2 rounds)
constexpr int kRefreshRounds = 32;  // pass 1 re-reads the global bounds every this many rounds

template <int NW, int QT, bool kWeighted>
__global__ void __launch_bounds__(kBlock) knn_scan_kernel(ScanArgs a) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int q0 = blockIdx.x * a.tile;
  const int qt = min(a.tile, static_cast<int>(a.nq) - q0);
  const int nw = NW > 0 ? NW : a.nw;
  BlockTopK sel;
  sel.init(smem, qt, a.k, kScanCap, kBlock);
  uint32_t* sq = reinterpret_cast<uint32_t*>(smem + BlockTopK::smem_bytes(qt, a.k, kScanCap));
  load_query_words(a.queries + static_cast<size_t>(q0) * a.code_size, a.code_size, nw, qt, sq);
  const uint32_t* tabs = kWeighted ? a.tabs + static_cast<size_t>(q0) * a.tab_stride : nullptr;

  uint32_t begin, end;
  slice_bounds(blockIdx.y, a.slice_len, a.n, &begin, &end);
  if (a.gbound != nullptr) {
    for (int q = 0; q < qt; ++q) sel.tighten(q, bound_for_dist(*(volatile uint32_t*)(a.gbound + q0 + q)));
  } else {
    __syncthreads();  // query words visible
  }

  int round = 0;
  for (uint32_t base = begin; base < end; base += kBlock, ++round) {
    const uint32_t pos = base + threadIdx.x;
    bool over = false;  // this thread filled some buffer past cap - kBlock: flush before the next round
    if (pos < end) {
      uint32_t d[QT];
      code_distances<NW, QT, kWeighted>(a.codes + static_cast<size_t>(pos) * nw, nw, sq, qt, tabs, a.tab_stride, d);
#pragma unroll
      for (int q = 0; q < QT; ++q)
        if (q < qt) over |= sel.offer_scan(q, d[q], pos);
    }
    const bool last = base + kBlock >= end;
    // One barrier per round: it also tells every thread whether any buffer needs a flush. Nobody
    // appends again before the flushes, so the counters read below are the same for all threads.
    if (__syncthreads_or(over) || last) {
      int need[QT];
#pragma unroll
      for (int q = 0; q < QT; ++q) need[q] = q < qt ? sel.cnt[q] : 0;
#pragma unroll
      for (int q = 0; q < QT; ++q) {
        if (need[q] > 0 && (last || need[q] > kScanCap - kBlock)) {
          const int nm = sel.flush(q, need[q]);
          if (nm == a.k && a.gbound != nullptr && threadIdx.x == 0)
            atomicMin(a.gbound + q0 + q, static_cast<uint32_t>(sel.list[static_cast<size_t>(q) * a.k + a.k - 1] >> 32));
        }
      }
    }
    if (a.gbound != nullptr && round % kRefreshRounds == kRefreshRounds - 1) {
      for (int q = 0; q < qt; ++q) sel.tighten(q, bound_for_dist(*(volatile uint32_t*)(a.gbound + q0 + q)));
    }
  }
  __syncthreads();
  for (int q = 0; q < qt; ++q) {
    uint64_t* out = a.out + (static_cast<size_t>(q0 + q) * a.nslices + blockIdx.y) * a.k;
    const uint64_t* l = sel.list + static_cast<size_t>(q) * a.k;
    const int nl = sel.nlist[q];
    for (int i = threadIdx.x; i < a.k; i += kBlock) out[i] = i < nl ? l[i] : kEmptyKey;
  }
}

__global__ void __launch_bounds__(kBlock) knn_merge_kernel(MergeArgs a) {
  extern __shared__ __align__(16) unsigned char smem[];
  const size_t q = blockIdx.x;
  BlockTopK sel;
  sel.init(smem, 1, a.k, kMergeCap, kBlock * kMergePerThread);
  if (a.gbound != nullptr) sel.tighten(0, bound_for_dist(a.gbound[q]));
  const uint64_t* keys = a.keys + q * a.nkeys;
  for (size_t base = 0; base < a.nkeys; base += kBlock * kMergePerThread) {
#pragma unroll
    for (int r = 0; r < kMergePerThread; ++r) {
      const size_t i = base + r * kBlock + threadIdx.x;
      if (i < a.nkeys) sel.offer(0, keys[i]);
    }
    __syncthreads();
    const int need = sel.cnt[0];
    __syncthreads();
    const bool last = base + kBlock * kMergePerThread >= a.nkeys;
    if (need > 0 && (last || need > kMergeCap - kBlock * kMergePerThread)) sel.flush(0, need);
  }
  __syncthreads();
  const int nl = sel.nlist[0];
  for (int i = threadIdx.x; i < a.k; i += kBlock) {
    const size_t o = q * a.k + i;
    if (i < nl) {
      const uint64_t key = sel.list[i];
      const uint32_t dist = static_cast<uint32_t>(key >> 32);
      const int64_t id = a.ids[static_cast<uint32_t>(key)];
      if (a.fdist != nullptr) {
        a.fdist[o] = static_cast<float>(static_cast<double>(dist) * a.scales[a.scale_stride ? q : 0]);
      } else {
        a.dist[o] = static_cast<int32_t>(dist);
      }
      a.out_ids[o] = id;
    } else {
      if (a.fdist != nullptr)
        a.fdist[o] = __int_as_float(0x7f800000);  // +inf
      else
        a.dist[o] = 2147483647;
      a.out_ids[o] = -1;
    }
  }
}

template <int NW, int QT, bool kWeighted>
void launch_scan(const ScanArgs& a, int qtiles, size_t smem, cudaStream_t stream) {
  auto kernel = knn_scan_kernel<NW, QT, kWeighted>;
  if (smem > 48 * 1024)
    DH_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  dim3 grid(qtiles, a.nslices);
  kernel<<<grid, kBlock, smem, stream>>>(a);
  DH_CUDA(cudaGetLastError());
}

template <int QT>
void dispatch_scan(const ScanArgs& a, bool weighted, int qtiles, size_t smem, cudaStream_t stream) {
  if (weighted) return launch_scan<0, QT, true>(a, qtiles, smem, stream);
  switch (a.nw) {
    case 1: return launch_scan<1, QT, false>(a, qtiles, smem, stream);
    case 2: return launch_scan<2, QT, false>(a, qtiles, smem, stream);
    case 4: return launch_scan<4, QT, false>(a, qtiles, smem, stream);
    case 8: return launch_scan<8, QT, false>(a, qtiles, smem, stream);
    case 16: return launch_scan<16, QT, false>(a, qtiles, smem, stream);
    default: return launch_scan<0, QT, false>(a, qtiles, smem, stream);
  }
}

}  // namespace

int scan_tile_queries(size_t k) { return k <= 128 ? 8 : 2; }

size_t scan_smem_bytes(int slots, size_t k, int nw) {
  return BlockTopK::smem_bytes(slots, static_cast<int>(k), kScanCap) + static_cast<size_t>(slots) * nw * 4;
}

size_t merge_smem_bytes(size_t k) { return BlockTopK::smem_bytes(1, static_cast<int>(k), kMergeCap); }

size_t knn_max_k(size_t smem_optin) {
  // The merge block (one query, kMergeCap buffer) is the largest; keep 16 KiB for query words.
  const size_t reserve = static_cast<size_t>(kMergeCap) * 8 + 16 + 16 * 1024;
  if (smem_optin <= reserve + 8 * 1024) return 1024;
  return ((smem_optin - reserve) / 8) / 1024 * 1024;
}

void run_scan(const ScanArgs& a, bool weighted, cudaStream_t stream) {
  const int slots = static_cast<int>(std::min<size_t>(a.tile, a.nq));
  const size_t smem = scan_smem_bytes(slots, a.k, a.nw);
  const int qtiles = static_cast<int>((a.nq + a.tile - 1) / a.tile);
  if (scan_tile_queries(a.k) == 8)
    dispatch_scan<8>(a, weighted, qtiles, smem, stream);
  else
    dispatch_scan<2>(a, weighted, qtiles, smem, stream);
}

void run_merge(const MergeArgs& a, cudaStream_t stream) {
  const size_t smem = merge_smem_bytes(a.k);
  if (smem > 48 * 1024)
    DH_CUDA(
        cudaFuncSetAttribute(knn_merge_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  knn_merge_kernel<<<static_cast<unsigned>(a.nq), kBlock, smem, stream>>>(a);
  DH_CUDA(cudaGetLastError());
}

}  // namespace detail
}  // namespace gpu
}  // namespace deephash
