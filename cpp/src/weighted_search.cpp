// Weighted k-NN and range search over a set of codes (shared by FlatIndex and MultiIndex):
// integer distances from the quantised weights, run by the blocked scan (block_scan.hpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "bits_util.hpp"
#include "block_scan.hpp"
#include "deephash/errors.hpp"
#include "deephash/limits.hpp"
#include "deephash/parallel.hpp"
#include "deephash/weighted.hpp"

namespace deephash {
namespace {

constexpr int32_t kIntMax = std::numeric_limits<int32_t>::max();

// Plans: one shared by every query, or one per query (made before any scan starts).
std::vector<WeightedPlan> make_plans(const float* weights, size_t bits, size_t count) {
  std::vector<WeightedPlan> plans(count);
  for (size_t i = 0; i < count; ++i) plans[i] = make_weighted_plan(quantize_weights(weights + i * bits, bits), bits);
  return plans;
}

// Integer distances of the codes c0 .. c0 + len - 1 within thr in the plan's own units: the
// masked form's popcounts for k-NN (selected by CountingTopK like the unweighted scan), or totals.
size_t scan_units(const WeightedKernels& K, const WeightedPlan& plan, const uint8_t* q, const uint8_t* p, size_t len,
                  int32_t thr, uint32_t* idx, int32_t* dist) {
  if (plan.masked) return K.masked_scan_leq(q, plan.mask.data(), p, len, plan.nbytes, thr, idx, dist);
  return K.lut_scan_leq(plan, q, p, len, thr, idx, dist);
}

// The same in integer totals (popcounts times the unit for the masked form), for range search.
size_t scan_totals(const WeightedKernels& K, const WeightedPlan& plan, const uint8_t* q, const uint8_t* p, size_t len,
                   int32_t thr, uint32_t* idx, int32_t* dist) {
  if (!plan.masked) return K.lut_scan_leq(plan, q, p, len, thr, idx, dist);
  if (plan.unit == 0) {
    // All weights zero: every distance is 0 (the mask is empty, popcounts are 0).
    return K.masked_scan_leq(q, plan.mask.data(), p, len, plan.nbytes, thr >= 0 ? 0 : -1, idx, dist);
  }
  const size_t f = K.masked_scan_leq(q, plan.mask.data(), p, len, plan.nbytes, thr / plan.unit, idx, dist);
  for (size_t i = 0; i < f; ++i) dist[i] *= plan.unit;
  return f;
}

struct KnnJob {
  const uint8_t* codes;
  size_t n, bits, k, stride;
  const uint8_t* queries;
  float* distances;
  int64_t* out_ids;
  block_scan::Options opts;
};

// k-NN of the queries `slots` (all with masked plans, or none) with selector Sel.
template <class Sel>
void knn_with(const KnnJob& job, const std::vector<size_t>& slots, const WeightedPlan* const* plan_of) {
  if (slots.empty()) return;
  const WeightedKernels& K = weighted_kernels();
  const size_t nb = job.bits / 8;
  auto make = [&] {
    if constexpr (std::is_same<Sel, CountingTopK>::value)
      return CountingTopK(job.k, static_cast<int32_t>(job.bits));
    else
      return Sel(job.k);
  };
  auto kern = [&](size_t s, size_t c0, size_t len, int32_t thr, uint32_t* idx, int32_t* dist) {
    const size_t q = slots[s];
    return scan_units(K, *plan_of[q], job.queries + q * nb, job.codes + c0 * nb, len, thr, idx, dist);
  };
  // The row: integer totals (popcounts times the unit for the masked form) scaled to float32.
  auto write = [&](size_t s, Sel& sel) {
    const size_t q = slots[s];
    const WeightedPlan& plan = *plan_of[q];
    float* dist = job.distances + q * job.stride;
    int64_t* ids = job.out_ids + q * job.stride;
    std::vector<int32_t> units(job.k);
    sel.write_sorted(units.data(), ids, kIntMax);
    if (job.opts.by_pos) block_scan::positions_to_ids(ids, job.k, job.opts.ids);
    const int64_t scale = plan.masked ? plan.unit : 1;
    for (size_t j = 0; j < job.k; ++j)
      dist[j] = units[j] == kIntMax ? std::numeric_limits<float>::infinity()
                                    : weighted_distance_value(units[j] * scale, plan.exponent);
  };
  block_scan::knn<Sel>(block_scan::make_plan(slots.size(), job.n, nb), job.n, slots.size(), nb, job.opts, make, kern,
                       write);
}

}  // namespace

void weighted_search(const ScanView& view, const uint8_t* queries, size_t nq, size_t k, const float* weights,
                     bool per_query, float* distances, int64_t* out_ids) {
  const uint8_t* codes = view.codes;
  const int64_t* ids = view.ids;
  const size_t n = view.size, bits = view.bits;
  check_bits(bits);
  if (k == 0) throw InvalidArgument("k must be >= 1");
  if (nq == 0) return;
  // Selection is sized by the k that can be filled; the rest of each row is padding.
  const size_t stride = k;
  k = std::min(k, n);
  pad_rows(distances, out_ids, nq, stride, k, std::numeric_limits<float>::infinity());
  if (k == 0) return;
  const std::vector<WeightedPlan> plans = make_plans(weights, bits, per_query ? nq : 1);
  std::vector<const WeightedPlan*> plan_of(nq);
  // Mask-form weights select on popcounts with the exact CountingTopK (as the unweighted scan),
  // general weights on integer totals with a heap: each kind is one scan of its own queries.
  std::vector<size_t> masked, general;
  for (size_t i = 0; i < nq; ++i) {
    plan_of[i] = &plans[per_query ? i : 0];
    (plan_of[i]->masked ? masked : general).push_back(i);
  }
  // Rank by position when ids increase like positions (and positions fit PosHeapTopK's keys).
  const bool by_pos = view.ids_increasing && n < (uint64_t{1} << 40);
  const KnnJob job{codes, n, bits, k, stride, queries, distances, out_ids, {ids, by_pos, nullptr}};
  knn_with<CountingTopK>(job, masked, plan_of.data());
  if (by_pos)
    knn_with<PosHeapTopK>(job, general, plan_of.data());
  else
    knn_with<HeapTopK>(job, general, plan_of.data());
}

RangeResultT<float> weighted_range_search(const ScanView& view, const uint8_t* queries, size_t nq, float radius,
                                          const float* weights, bool per_query) {
  const uint8_t* codes = view.codes;
  const int64_t* ids = view.ids;
  const size_t n = view.size, bits = view.bits;
  check_bits(bits);
  if (!(radius >= 0.0f)) throw InvalidArgument("radius must be >= 0 and not NaN");
  const size_t nb = bits / 8;
  const WeightedKernels& K = weighted_kernels();
  const std::vector<WeightedPlan> plans = make_plans(weights, bits, per_query ? nq : 1);
  auto plan = [&](size_t q) -> const WeightedPlan& { return plans[per_query ? q : 0]; };
  std::vector<int32_t> thr(plans.size());
  for (size_t i = 0; i < plans.size(); ++i) thr[i] = weighted_threshold(radius, plans[i].exponent);
  const block_scan::Plan work = block_scan::make_plan(nq, n, nb);
  std::vector<block_scan::Hits> hits = block_scan::range_hits(
      work, n, nq, nb, ids, [&](size_t q) { return thr[per_query ? q : 0]; },
      [&](size_t q, size_t c0, size_t len, int32_t t, uint32_t* idx, int32_t* dist) {
        return scan_totals(K, plan(q), queries + q * nb, codes + c0 * nb, len, t, idx, dist);
      });
  return block_scan::assemble_range<float>(hits, nq, work.parts, work.threads, [&](size_t q, int32_t d) {
    return weighted_distance_value(d, plan(q).exponent);
  });
}

}  // namespace deephash
