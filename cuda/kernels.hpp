// Launchers of the GPU kernels (internal to cuda/; host code, CUDA runtime types only).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace deephash {
namespace gpu {
namespace detail {

// Pass 1 of k-NN: per (query tile, database slice) top-k keys.
struct ScanArgs {
  const uint32_t* codes;  // n x nw words (padded rows)
  uint32_t n;
  int nw;
  const uint8_t* queries;  // nq x code_size bytes (device)
  size_t code_size;
  size_t nq;
  int k;
  int tile;            // queries per block (<= scan_tile_queries(k))
  uint32_t slice_len;  // codes per slice (multiple of the block size)
  int nslices;
  const uint32_t* tabs;  // weighted: nibble tables (nw * 128 words per row), else null
  size_t tab_stride;     // words between queries' tables (0: one table shared)
  uint32_t* gbound;      // nq inclusive distance bounds (atomicMin), may be null
  uint64_t* out;         // nq x nslices x k keys
};

// Pass 2 of k-NN: merge of each query's nkeys keys into distances and ids.
struct MergeArgs {
  const uint64_t* keys;  // nq x nkeys
  size_t nkeys;
  size_t nq;
  int k;
  const uint32_t* gbound;  // may be null
  const int64_t* ids;      // stored ids (by position)
  int32_t* dist;           // unweighted output (nq x k) or null
  float* fdist;            // weighted output (nq x k) or null
  const double* scales;    // weighted: per-query (scale_stride 1) or shared (0) scales
  int scale_stride;
  int64_t* out_ids;  // nq x k
};

// Most queries per pass-1 block for a given k (the compiled tile size).
int scan_tile_queries(size_t k);
// Largest k the kernels accept given the device's opt-in shared memory per block.
size_t knn_max_k(size_t smem_optin);
// Dynamic shared memory of a pass-1 block with `slots` queries, and of a pass-2 block.
size_t scan_smem_bytes(int slots, size_t k, int nw);
size_t merge_smem_bytes(size_t k);
// a.tile queries per block (a.tile <= scan_tile_queries(a.k)).
void run_scan(const ScanArgs& a, bool weighted, cudaStream_t stream);
void run_merge(const MergeArgs& a, cudaStream_t stream);

// Range search: count (fill == false) or write (fill == true) the keys within radius[q].
struct RangeArgs {
  const uint32_t* codes;
  uint32_t n;
  int nw;
  const uint8_t* queries;
  size_t code_size;
  size_t nq;
  const uint32_t* radius;  // nq entries
  uint32_t slice_len;
  int nslices;
  const uint32_t* tabs;
  size_t tab_stride;
  uint32_t* counts;        // count: nq x nslices
  const int64_t* offsets;  // fill: nq x nslices start offsets into keys
  uint64_t* keys;          // fill: output keys
};
constexpr int kRangeTile = 8;  // queries per range block
void run_range(const RangeArgs& a, bool weighted, bool fill, cudaStream_t stream);
// Sorts each query's keys (segments lims[q]..lims[q+1]) and converts them to distances and ids.
void sort_range_keys(uint64_t* keys, uint64_t* tmp_keys, size_t total, const int64_t* lims_dev, size_t nq, int device,
                     cudaStream_t stream);
void keys_to_results(const uint64_t* keys, size_t total, const int64_t* lims, size_t nq, const int64_t* ids,
                     int32_t* dist, float* fdist, const double* scales, int scale_stride, int64_t* out_ids,
                     cudaStream_t stream);

// Storage maintenance.
// dst row i (nw words) = src row (perm ? perm[i] : i); src rows are nw words too.
void gather_rows(const uint32_t* src, const uint32_t* perm, uint32_t* dst, size_t n, int nw, cudaStream_t stream);
// Merges sorted (old) and sorted (new) entries into dst, old before new on equal ids.
void merge_sorted(const uint32_t* old_codes, const int64_t* old_ids, size_t n_old, const uint32_t* new_codes,
                  const int64_t* new_ids, size_t n_new, int nw, uint32_t* dst_codes, int64_t* dst_ids,
                  cudaStream_t stream);
// For each of r sorted ids, the range [lo, hi) of stored positions holding it.
void find_id_ranges(const int64_t* ids, size_t n, const int64_t* query_ids, size_t r, uint32_t* lo, uint32_t* hi,
                    cudaStream_t stream);
// Copies every stored entry outside the removed ranges (sorted, disjoint; cum[i] = entries removed
// by ranges before i) to dst, keeping the order.
void compact_ranges(const uint32_t* codes, const int64_t* ids, size_t n, int nw, const uint32_t* lo, const uint32_t* hi,
                    const uint64_t* cum, size_t nranges, uint32_t* dst_codes, int64_t* dst_ids, cudaStream_t stream);
// Pads n rows of code_size bytes (src, any alignment) into rows of nw words.
void pad_rows(const uint8_t* src, size_t n, size_t code_size, int nw, uint32_t* dst, cudaStream_t stream);

}  // namespace detail
}  // namespace gpu
}  // namespace deephash
