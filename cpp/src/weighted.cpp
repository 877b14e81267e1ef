// Weighted Hamming: quantisation of the weights, the query-independent tables, the scalar
// kernels and the per-SIMD-level kernel tables.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bits_util.hpp"
#include "deephash/weighted.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "deephash/errors.hpp"

namespace deephash {

namespace scalar_weighted_isa {
#include "weighted_impl.hpp"
}  // namespace scalar_weighted_isa

const WeightedKernels kWeightedScalar = {SimdLevel::scalar, scalar_weighted_isa::masked_scan_leq_table,
                                         scalar_weighted_isa::lut_scan_leq_table};
#if defined(DEEPHASH_HAVE_X86_KERNELS)
extern const WeightedKernels kWeightedAvx2;
const WeightedKernels& weighted_avx512_kernels() noexcept;  // scalar LUT without AVX-512 VBMI
#endif

const WeightedKernels& weighted_kernels(SimdLevel level) noexcept {
  if (level > detected_simd_level()) level = detected_simd_level();
#if defined(DEEPHASH_HAVE_X86_KERNELS)
  if (level == SimdLevel::avx512) return weighted_avx512_kernels();
  if (level == SimdLevel::avx2) return kWeightedAvx2;
#endif
  return kWeightedScalar;
}

const WeightedKernels& weighted_kernels() noexcept { return weighted_kernels(simd_level()); }

QuantizedWeights quantize_weights(const float* w, size_t bits) {
  float mx = 0.0f;
  for (size_t j = 0; j < bits; ++j) {
    const float v = w[j];
    if (!std::isfinite(v))
      throw InvalidArgument("weights must be finite, got " + std::to_string(v) + " at bit " + std::to_string(j));
    if (v < 0.0f)
      throw InvalidArgument("weights must be >= 0, got " + std::to_string(v) + " at bit " + std::to_string(j));
    if (v > mx) mx = v;
  }
  QuantizedWeights qw;
  qw.units.assign(bits, 0);
  if (mx == 0.0f) return qw;  // all zero: every distance is 0
  const int P = 22 - ceil_log2(bits);
  int E = 0;
  std::frexp(static_cast<double>(mx), &E);  // 2^(E-1) <= mx < 2^E
  int e = E - P;
  if (e < -149) e = -149;
  if (e > 105)
    throw InvalidArgument("weights too large: the largest (" + std::to_string(mx) +
                          ") would overflow float32 distances; rescale them");
  qw.exponent = e;
  for (size_t j = 0; j < bits; ++j)
    qw.units[j] = static_cast<int32_t>(std::nearbyint(std::ldexp(static_cast<double>(w[j]), -e)));
  return qw;
}

float weighted_distance_value(int64_t total, int exponent) {
  return static_cast<float>(std::ldexp(static_cast<double>(total), exponent));
}

int32_t weighted_threshold(float radius, int exponent) {
  constexpr int32_t kMax = std::numeric_limits<int32_t>::max();
  if (std::isinf(radius)) return kMax;
  const double t = std::floor(std::ldexp(static_cast<double>(radius), -exponent));
  return t >= static_cast<double>(kMax) ? kMax : static_cast<int32_t>(t);
}

WeightedPlan make_weighted_plan(const QuantizedWeights& qw, size_t bits) {
  WeightedPlan plan;
  const size_t nbytes = bits / 8;
  plan.nbytes = nbytes;
  plan.exponent = qw.exponent;
  int32_t unit = 0;
  bool masked = true;
  for (int32_t u : qw.units) {
    if (u == 0) continue;
    if (unit == 0) unit = u;
    if (u != unit) {
      masked = false;
      break;
    }
  }
  if (masked) {
    plan.masked = true;
    plan.unit = unit;
    plan.mask.assign(nbytes, 0);
    for (size_t j = 0; j < bits; ++j)
      if (qw.units[j] != 0) plan.mask[j / 8] = static_cast<uint8_t>(plan.mask[j / 8] | (1u << (j % 8)));
    return plan;
  }
  plan.lut.assign(nbytes * 256, 0);
  for (size_t p = 0; p < nbytes; ++p) {
    int32_t* t = plan.lut.data() + p * 256;
    for (unsigned v = 1; v < 256; ++v) {
      const unsigned low = static_cast<unsigned>(__builtin_ctz(v));
      t[v] = t[v & (v - 1)] + qw.units[8 * p + low];
    }
  }
  if (nbytes % 8 == 0) {
    // Byte planes of every nibble's total: enough planes for the largest one.
    int32_t max_nib = 0;
    for (size_t p = 0; p < nbytes; ++p)
      for (unsigned v = 0; v < 16; ++v)
        max_nib = std::max({max_nib, plan.lut[p * 256 + v], plan.lut[p * 256 + (v << 4)]});
    plan.nplanes = max_nib < (1 << 8) ? 1 : max_nib < (1 << 16) ? 2 : 3;
    while ((max_nib >> plan.coarse_shift) > 127) ++plan.coarse_shift;
    const size_t groups = nbytes / 8;
    plan.planes.assign(groups * 2 * static_cast<size_t>(plan.nplanes) * 128, 0);
    for (size_t g = 0; g < groups; ++g)
      for (int h = 0; h < 2; ++h)
        for (int t = 0; t < plan.nplanes; ++t) {
          uint8_t* tab = plan.planes.data() + ((g * 2 + h) * plan.nplanes + t) * 128;
          for (unsigned b = 0; b < 8; ++b)
            for (unsigned v = 0; v < 16; ++v) {
              const int32_t tot = plan.lut[(g * 8 + b) * 256 + (h ? (v << 4) : v)];
              tab[(b << 4) | v] = static_cast<uint8_t>((tot >> (8 * t)) & 0xFF);
            }
        }
    plan.coarse.assign(groups * 2 * 128, 0);
    for (size_t g = 0; g < groups; ++g)
      for (int h = 0; h < 2; ++h) {
        uint8_t* tab = plan.coarse.data() + (g * 2 + h) * 128;
        for (unsigned b = 0; b < 8; ++b)
          for (unsigned v = 0; v < 16; ++v) {
            const int32_t tot = plan.lut[(g * 8 + b) * 256 + (h ? (v << 4) : v)];
            tab[(b << 4) | v] = static_cast<uint8_t>(tot >> plan.coarse_shift);
          }
      }
  }
  return plan;
}

}  // namespace deephash
