// Quantisation of per-bit float weights for the GPU weighted search.
//
// This is, formula for formula, the CPU quantisation of the weighted search (deephash/weighted.hpp,
// quantize_weights / weighted_distance_value / the radius threshold in weighted_search.cpp, branch
// `mih`), so that GPU and CPU weighted results are bit-for-bit identical:
//   P = 22 - ceil(log2(bits)); 2^(E-1) <= max(w) < 2^E; e = max(E - P, -149)
//   unit[j] = round-half-even(w[j] * 2^-e)          (integers, sum <= 2^22)
//   reported distance = float32(total * 2^e)         (exact)
//   radius r (float32) selects total <= floor(r * 2^-e)  (all, for r = inf)
// Once the CPU weighted search is on main, this header should go and the bindings should call
// deephash::quantize_weights (linking deephash::core) so that there is one definition.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "deephash/errors.hpp"

namespace deephash {
namespace gpu {

// Quantises one weight vector (finite, >= 0) into units; returns the exponent e.
inline int quantize_weight_units(const float* w, size_t bits, uint32_t* units) {
  float mx = 0.0f;
  for (size_t j = 0; j < bits; ++j) {
    const float v = w[j];
    if (!std::isfinite(v) || v < 0.0f)
      throw InvalidArgument("weights must be finite and >= 0, got " + std::to_string(v) + " at bit " +
                            std::to_string(j));
    if (v > mx) mx = v;
  }
  for (size_t j = 0; j < bits; ++j) units[j] = 0;
  if (mx == 0.0f) return 0;
  int lg = 0;
  while ((size_t{1} << lg) < bits) ++lg;
  const int P = 22 - lg;
  int E = 0;
  std::frexp(static_cast<double>(mx), &E);
  int e = E - P;
  if (e < -149) e = -149;
  if (e > 105)
    throw InvalidArgument("weights too large: the largest (" + std::to_string(mx) +
                          ") would overflow float32 distances; rescale them");
  for (size_t j = 0; j < bits; ++j)
    units[j] = static_cast<uint32_t>(std::nearbyint(std::ldexp(static_cast<double>(w[j]), -e)));
  return e;
}

// Largest integer total whose distance total * 2^e is <= radius (radius >= 0, float32).
inline int32_t weighted_threshold(float radius, int e) {
  const int32_t kMax = 2147483647;
  if (std::isinf(radius)) return kMax;
  const double t = std::floor(std::ldexp(static_cast<double>(radius), -e));
  return t >= static_cast<double>(kMax) ? kMax : static_cast<int32_t>(t);
}

}  // namespace gpu
}  // namespace deephash
