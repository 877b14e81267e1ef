// Weighted kernels for the AVX2 level: the portable loops compiled with POPCNT/BMI2 (the byte
// tables gain nothing from 256-bit shuffles, whose tables are shared by all byte positions).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "deephash/weighted.hpp"
#include "bits_util.hpp"

namespace deephash {
namespace avx2_weighted_isa {
#include "weighted_impl.hpp"

size_t masked_scan_leq(const uint8_t* q, const uint8_t* mask, const uint8_t* codes, size_t n,
                       size_t nbytes, int32_t thr, uint32_t* idx, int32_t* dist) {
  return masked_scan_leq_portable(q, mask, codes, n, nbytes, thr, idx, dist);
}
size_t lut_scan_leq(const WeightedPlan& plan, const uint8_t* q, const uint8_t* codes, size_t n,
                    int32_t thr, uint32_t* idx, int32_t* dist) {
  return lut_scan_leq_portable(plan, q, codes, n, thr, idx, dist);
}
}  // namespace avx2_weighted_isa

extern const WeightedKernels kWeightedAvx2 = {SimdLevel::avx2, avx2_weighted_isa::masked_scan_leq,
                                              avx2_weighted_isa::lut_scan_leq};

}  // namespace deephash
