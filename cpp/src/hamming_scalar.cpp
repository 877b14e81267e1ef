// Portable kernels (no ISA flags). On aarch64 the compiler turns the popcounts into NEON `cnt`.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bits_util.hpp"
#include "deephash/hamming.hpp"

namespace deephash {
namespace scalar_isa {
#include "hamming_impl.hpp"
}  // namespace scalar_isa

extern const HammingKernels kHammingScalar = {
    SimdLevel::scalar,
    [](const uint8_t* a, const uint8_t* b, size_t nbytes) { return scalar_isa::distance_portable(a, b, nbytes); },
    [](const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t* out) {
      scalar_isa::distances_portable(q, codes, n, nbytes, out);
    },
    [](const uint8_t* q, const uint8_t* codes, size_t n, size_t nbytes, int32_t thr, uint32_t* idx, int32_t* dist) {
      return scalar_isa::scan_leq_portable(q, codes, n, nbytes, thr, idx, dist);
    },
};

}  // namespace deephash
