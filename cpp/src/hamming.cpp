// Kernel tables per SIMD level; the per-ISA tables live in hamming_<isa>.cpp.
#include "deephash/hamming.hpp"

namespace deephash {

extern const HammingKernels kHammingScalar;
#if defined(DEEPHASH_HAVE_X86_KERNELS)
extern const HammingKernels kHammingAvx2;
extern const HammingKernels kHammingAvx512;
#endif

const HammingKernels& hamming_kernels(SimdLevel level) noexcept {
  if (level > detected_simd_level()) level = detected_simd_level();
#if defined(DEEPHASH_HAVE_X86_KERNELS)
  if (level == SimdLevel::avx512) return kHammingAvx512;
  if (level == SimdLevel::avx2) return kHammingAvx2;
#endif
  return kHammingScalar;
}

const HammingKernels& hamming_kernels() noexcept { return hamming_kernels(simd_level()); }

}  // namespace deephash
