// Weighted kernels for the AVX2 level: the portable loops compiled with POPCNT/BMI2 (the byte
// tables gain nothing from 256-bit shuffles, whose tables are shared by all byte positions).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bits_util.hpp"
#include "deephash/weighted.hpp"

namespace deephash {
namespace avx2_weighted_isa {
#include "weighted_impl.hpp"
}  // namespace avx2_weighted_isa

extern const WeightedKernels kWeightedAvx2 = {SimdLevel::avx2, avx2_weighted_isa::masked_scan_leq_table,
                                              avx2_weighted_isa::lut_scan_leq_table};

}  // namespace deephash
