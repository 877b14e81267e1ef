// Weighted Hamming distance: the sum of w[j] over the bits j where query and code differ
// (bit-scalable / query-adaptive ranking, e.g. DRSCH). Weights are float32, >= 0, finite.
//
// Determinism: weights are quantised once to integers and every kernel sums integers, so
// results are identical at every SIMD level and thread count. Quantisation: with
// P = 22 - ceil(log2(bits)) and 2^(E-1) <= max(w) < 2^E, the unit is 2^e with e = E - P
// (e >= -149, the float32 subnormal step); unit_j = round-half-even(w[j] / 2^e) <= 2^P. The
// integer total is at most bits * 2^P <= 2^22, so the reported float32 distance total * 2^e
// is exact and ordering by the integer equals ordering by the reported value. Each weight is
// rounded to within half a unit, i.e. within 2^-P of the largest weight (2^-16 for 64-bit
// codes, 2^-12 for 1024-bit codes).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "deephash/scan_view.hpp"
#include "deephash/simd.hpp"
#include "deephash/topk.hpp"

namespace deephash {

// Integer form of one weight vector.
struct QuantizedWeights {
  int exponent = 0;            // distance = integer total * 2^exponent
  std::vector<int32_t> units;  // one per bit
};

// Quantises `bits` weights. Throws InvalidArgument for a negative, NaN or infinite weight, or
// weights so large that the float32 distance could overflow (e > 105, i.e. max(w) >= 2^(105+P)).
QuantizedWeights quantize_weights(const float* w, size_t bits);

// Reported float32 distance of an integer total.
float weighted_distance_value(int64_t total, int exponent);

// Largest integer total whose reported distance total * 2^exponent is <= radius (a float32
// radius >= 0; +inf selects every total). Every backend (SIMD levels, GPU) uses it.
int32_t weighted_threshold(float radius, int exponent);

// Query-independent tables for one weight vector (the query enters only through XOR).
struct WeightedPlan {
  size_t nbytes = 0;
  int exponent = 0;
  // Mask form (all non-zero units equal): distance = unit * popcount((q ^ c) & mask). Runs at
  // the speed of the unweighted scan.
  bool masked = false;
  int32_t unit = 0;
  std::vector<uint8_t> mask;  // nbytes
  // General form. lut[p * 256 + v]: total units of the set bits of v at byte p.
  std::vector<int32_t> lut;
  // Nibble tables for the vector kernel (nbytes % 8 == 0): for 8-byte group g, nibble half h
  // (0 = low nibbles), byte plane t: 128 bytes at ((g * 2 + h) * nplanes + t) * 128, entry
  // (byte_in_group << 4 | nibble) = byte t of that nibble's total units.
  int nplanes = 0;
  std::vector<uint8_t> planes;
  // Coarse nibble tables (same layout, one plane per half): nibble total >> coarse_shift, at
  // most 127, so a code's coarse sum << coarse_shift is a lower bound of its total that the
  // vector kernel uses to reject most codes with a third of the work.
  int coarse_shift = 0;
  std::vector<uint8_t> coarse;
};

WeightedPlan make_weighted_plan(const QuantizedWeights& qw, size_t bits);

struct WeightedKernels {
  SimdLevel level;
  // Finds every i in [0, n) with popcount((q ^ code_i) & mask) <= thr; writes indices
  // (ascending) and those popcounts; returns the count (n < 2^32).
  size_t (*masked_scan_leq)(const uint8_t* q, const uint8_t* mask, const uint8_t* codes, size_t n, size_t nbytes,
                            int32_t thr, uint32_t* idx, int32_t* dist);
  // Finds every i with weighted integer distance <= thr (plan.masked == false).
  size_t (*lut_scan_leq)(const WeightedPlan& plan, const uint8_t* q, const uint8_t* codes, size_t n, int32_t thr,
                         uint32_t* idx, int32_t* dist);
};

const WeightedKernels& weighted_kernels() noexcept;
const WeightedKernels& weighted_kernels(SimdLevel level) noexcept;

// Weighted k-NN over the codes of an index's scan view (index.scan_view(): the index's read
// lock is held while the view lives, so the scan sees one state). weights: view.bits floats
// shared by all queries, or nq * bits (per_query). Rows sorted by (distance, id, position);
// padding: distance +inf, id -1. When the view's ids increase with position the scan skips
// codes that only tie a threshold.
void weighted_search(const ScanView& view, const uint8_t* queries, size_t nq, size_t k, const float* weights,
                     bool per_query, float* distances, int64_t* out_ids);

// Every code of the view with weighted distance <= radius (inclusive; radius >= 0, may be +inf).
RangeResultT<float> weighted_range_search(const ScanView& view, const uint8_t* queries, size_t nq, float radius,
                                          const float* weights, bool per_query);

}  // namespace deephash
