// Weighted Hamming distance: quantisation of per-bit float weights to fixed-point integers.
//
// The weighted distance between a query and a code is the sum of w[j] over the bits j where they
// differ. To make results exact and identical on every backend (SIMD levels, thread counts, the
// GPU), weights are quantised once per weight vector to non-negative integers and the engine sums
// integers; the float distance reported is that integer sum times a per-vector scale.
//
// Quantisation of one weight vector w (bits entries, each finite and >= 0):
//   w_max  = max_j w[j]
//   Q      = min(2^24, floor((2^31 - 1) / bits))      (so any sum fits in int32; 2^24 = float precision)
//   q[j]   = floor(double(w[j]) * Q / double(w_max) + 0.5)    (0 when w_max == 0)
//   scale  = double(w_max) / Q                         (0 when w_max == 0)
//   reported distance = float(double(sum of q[j]) * scale)
// Each q[j] is within 0.5 / Q of w[j] / w_max, so a distance is within bits * w_max / (2 Q) of the
// exact float64 sum. Rows are sorted by the integer sum, then by id; the reported float is
// monotone in the integer sum, so the order agrees with the reported distances.
// A float radius r selects the codes whose reported distance is <= r (quantized_radius).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace deephash {

// Largest quantised weight for a given code length.
inline uint32_t weight_quant_max(size_t bits) {
  const uint64_t by_sum = bits ? (uint64_t{2147483647} / bits) : 0;
  const uint64_t q = by_sum < (uint64_t{1} << 24) ? by_sum : (uint64_t{1} << 24);
  return static_cast<uint32_t>(q < 1 ? 1 : q);
}

// Quantises one weight vector (bits floats, finite and >= 0: callers validate) into q (bits
// entries); returns the scale that turns an integer sum back into a distance.
inline double quantize_weights(const float* w, size_t bits, uint32_t* q) {
  double w_max = 0.0;
  for (size_t j = 0; j < bits; ++j) w_max = static_cast<double>(w[j]) > w_max ? w[j] : w_max;
  const double qmax = static_cast<double>(weight_quant_max(bits));
  if (!(w_max > 0.0)) {
    for (size_t j = 0; j < bits; ++j) q[j] = 0;
    return 0.0;
  }
  for (size_t j = 0; j < bits; ++j) {
    const double x = static_cast<double>(w[j]) * qmax / w_max + 0.5;
    q[j] = static_cast<uint32_t>(std::floor(x));
  }
  return w_max / qmax;
}

// Float distance reported for an integer sum.
inline float weighted_distance(int64_t sum, double scale) {
  return static_cast<float>(static_cast<double>(sum) * scale);
}

// Largest integer sum whose reported distance is <= radius (radius >= 0); INT32_MAX when every
// sum qualifies (scale 0: all weights zero).
inline int32_t quantized_radius(double radius, double scale) {
  const int64_t kMax = 2147483647;
  if (!(scale > 0.0)) return static_cast<int32_t>(kMax);
  double est = std::floor(radius / scale);
  int64_t s = est >= static_cast<double>(kMax) ? kMax : (est < 0 ? 0 : static_cast<int64_t>(est));
  // The estimate can be off by a few units around float rounding: walk to the exact boundary.
  while (s > 0 && static_cast<double>(weighted_distance(s, scale)) > radius) --s;
  while (s < kMax && static_cast<double>(weighted_distance(s + 1, scale)) <= radius) ++s;
  return static_cast<int32_t>(s);
}

}  // namespace deephash
