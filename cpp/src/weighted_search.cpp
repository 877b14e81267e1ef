// Weighted k-NN and range search over a set of codes (shared by FlatIndex and MultiIndex):
// integer distances from the quantised weights, selected with TopK like the unweighted scan.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "deephash/errors.hpp"
#include "deephash/parallel.hpp"
#include "deephash/weighted.hpp"

namespace deephash {
namespace {

constexpr size_t kBlock = 4096;
constexpr int32_t kIntMax = std::numeric_limits<int32_t>::max();

size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

struct Scanner {
  const WeightedKernels& K;
  const WeightedPlan& plan;
  const uint8_t* codes;
  const int64_t* ids;
  size_t bits;

  // Indices (relative to b) and integer distances of codes b..b+cnt within thr.
  size_t scan(const uint8_t* q, size_t b, size_t cnt, int32_t thr, uint32_t* idx, int32_t* dist) const {
    const size_t nb = plan.nbytes;
    const uint8_t* p = codes + b * nb;
    if (!plan.masked) return K.lut_scan_leq(plan, q, p, cnt, thr, idx, dist);
    if (plan.unit == 0) {
      // All weights zero: every distance is 0 (the mask is empty, popcounts are 0).
      return K.masked_scan_leq(q, plan.mask.data(), p, cnt, nb, thr >= 0 ? 0 : -1, idx, dist);
    }
    const size_t f = K.masked_scan_leq(q, plan.mask.data(), p, cnt, nb, thr / plan.unit, idx, dist);
    for (size_t i = 0; i < f; ++i) dist[i] *= plan.unit;
    return f;
  }

  void knn(const uint8_t* q, size_t b, size_t e, TopK<int32_t>& top) const {
    std::unique_ptr<uint32_t[]> idx(new uint32_t[kBlock]);
    std::unique_ptr<int32_t[]> dist(new int32_t[kBlock]);
    for (size_t s = b; s < e; s += kBlock) {
      const size_t cnt = std::min(kBlock, e - s);
      const size_t f = scan(q, s, cnt, top.threshold(), idx.get(), dist.get());
      for (size_t i = 0; i < f; ++i) top.push(dist[i], ids[s + idx[i]], s + idx[i]);
    }
  }

  void range(const uint8_t* q, size_t b, size_t e, int32_t thr,
             std::vector<Neighbor<int32_t>>& out) const {
    std::unique_ptr<uint32_t[]> idx(new uint32_t[kBlock]);
    std::unique_ptr<int32_t[]> dist(new int32_t[kBlock]);
    for (size_t s = b; s < e; s += kBlock) {
      const size_t cnt = std::min(kBlock, e - s);
      const size_t f = scan(q, s, cnt, thr, idx.get(), dist.get());
      for (size_t i = 0; i < f; ++i) out.push_back({dist[i], ids[s + idx[i]], s + idx[i]});
    }
  }
};

// Integer threshold equivalent to a float radius: total * 2^e <= radius.
int32_t int_threshold(float radius, int exponent) {
  if (std::isinf(radius)) return kIntMax;
  const double t = std::floor(std::ldexp(static_cast<double>(radius), -exponent));
  return t >= static_cast<double>(kIntMax) ? kIntMax : static_cast<int32_t>(t);
}

void check_bits(size_t bits) {
  if (bits == 0 || bits % 8 != 0)
    throw InvalidArgument("bits must be a positive multiple of 8, got " + std::to_string(bits));
}

}  // namespace

void weighted_search(const uint8_t* codes, const int64_t* ids, size_t n, size_t bits,
                     const uint8_t* queries, size_t nq, size_t k, const float* weights,
                     bool per_query, float* distances, int64_t* out_ids) {
  check_bits(bits);
  if (k == 0) throw InvalidArgument("k must be >= 1");
  const size_t nb = bits / 8;
  const WeightedKernels& K = weighted_kernels();
  WeightedPlan shared;
  if (!per_query) shared = make_weighted_plan(quantize_weights(weights, bits), bits);
  const int nthreads = get_num_threads();
  const bool split_db = nq < static_cast<size_t>(nthreads) * 2 && nthreads > 1 && n >= 4 * kBlock;

  auto one = [&](size_t i) {
    WeightedPlan own;
    if (per_query) own = make_weighted_plan(quantize_weights(weights + i * bits, bits), bits);
    const WeightedPlan& plan = per_query ? own : shared;
    const Scanner sc{K, plan, codes, ids, bits};
    const uint8_t* q = queries + i * nb;
    TopK<int32_t> top(k);
    if (!split_db) {
      sc.knn(q, 0, n, top);
    } else {
      const size_t ntasks = static_cast<size_t>(nthreads) * 4;
      const size_t chunk = ceil_div(n, ntasks);
      std::vector<TopK<int32_t>> parts(ntasks, TopK<int32_t>(k));
      parallel_for(ntasks, nthreads, [&](size_t t) {
        const size_t b = t * chunk, e = std::min(n, b + chunk);
        if (b < e) sc.knn(q, b, e, parts[t]);
      });
      for (auto& p : parts) top.merge(p);
    }
    std::vector<int32_t> tmp(k);
    top.write_sorted(tmp.data(), out_ids + i * k, kIntMax);
    float* drow = distances + i * k;
    for (size_t j = 0; j < k; ++j)
      drow[j] = out_ids[i * k + j] == kMissingId && tmp[j] == kIntMax
                    ? std::numeric_limits<float>::infinity()
                    : weighted_distance_value(tmp[j], plan.exponent);
  };
  if (split_db) {
    for (size_t i = 0; i < nq; ++i) one(i);
  } else {
    parallel_for(nq, nthreads, one);
  }
}

RangeResultT<float> weighted_range_search(const uint8_t* codes, const int64_t* ids, size_t n,
                                          size_t bits, const uint8_t* queries, size_t nq,
                                          float radius, const float* weights, bool per_query) {
  check_bits(bits);
  if (!(radius >= 0.0f)) throw InvalidArgument("radius must be >= 0 and not NaN");
  const size_t nb = bits / 8;
  const WeightedKernels& K = weighted_kernels();
  WeightedPlan shared;
  if (!per_query) shared = make_weighted_plan(quantize_weights(weights, bits), bits);
  std::vector<std::vector<Neighbor<int32_t>>> per(nq);
  std::vector<int> expo(nq, 0);
  parallel_for(nq, get_num_threads(), [&](size_t i) {
    WeightedPlan own;
    if (per_query) own = make_weighted_plan(quantize_weights(weights + i * bits, bits), bits);
    const WeightedPlan& plan = per_query ? own : shared;
    const Scanner sc{K, plan, codes, ids, bits};
    sc.range(queries + i * nb, 0, n, int_threshold(radius, plan.exponent), per[i]);
    std::sort(per[i].begin(), per[i].end());
    expo[i] = plan.exponent;
  });
  RangeResultT<float> res;
  res.lims.assign(nq + 1, 0);
  for (size_t i = 0; i < nq; ++i) res.lims[i + 1] = res.lims[i] + static_cast<int64_t>(per[i].size());
  res.distances.resize(static_cast<size_t>(res.lims[nq]));
  res.ids.resize(static_cast<size_t>(res.lims[nq]));
  for (size_t i = 0; i < nq; ++i) {
    size_t o = static_cast<size_t>(res.lims[i]);
    for (const auto& nbr : per[i]) {
      res.distances[o] = weighted_distance_value(nbr.dist, expo[i]);
      res.ids[o] = nbr.id;
      ++o;
    }
    std::vector<Neighbor<int32_t>>().swap(per[i]);
  }
  return res;
}

}  // namespace deephash
