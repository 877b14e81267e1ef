#pragma once
#include <algorithm>
#include <cstdint>
namespace cub {
struct DeviceSegmentedSort {
  template <typename K, typename B, typename E>
  static cudaError_t SortKeys(void* temp, size_t& bytes, const K* in, K* out, int64_t n, int64_t nseg, B begin, E end,
                              cudaStream_t = nullptr) {
    if (!temp) { bytes = 16; return 0; }
    for (int64_t s = 0; s < nseg; ++s) {
      std::copy(in + begin[s], in + end[s], out + begin[s]);
      std::sort(out + begin[s], out + end[s]);
    }
    (void)n;
    return 0;
  }
};
}  // namespace cub
