// Hamming distance kernels on packed binary codes (one row of `nbytes` bytes per code;
// bit j of a code is bit j % 8 of byte j / 8). One table of kernels per SIMD level.
#pragma once
#include <cstddef>
#include <cstdint>

#include "deephash/simd.hpp"

namespace deephash {

struct HammingKernels {
  SimdLevel level;
  // Hamming distance between two codes.
  int32_t (*distance)(const uint8_t* a, const uint8_t* b, size_t nbytes);
  // out[i] = distance(q, codes + i * nbytes) for i in [0, n).
  void (*distances)(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t* out);
  // Finds every i in [0, n) with distance(q, code i) <= thr. Writes their indices (ascending)
  // to idx and distances to dist (both must hold n entries); returns how many were found.
  // n must be below 2^32 (callers scan in blocks).
  size_t (*scan_leq)(const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t thr, uint32_t* idx,
                     int32_t* dist);
};

// Kernels of the level in use (simd_level()); cheap to call, but fetch once outside hot loops.
const HammingKernels& hamming_kernels() noexcept;

// Kernels of a given level; a level above the detected one gives the detected level's kernels.
const HammingKernels& hamming_kernels(SimdLevel level) noexcept;

}  // namespace deephash
