// Weighted k-NN and range search over a set of codes (shared by FlatIndex and MultiIndex):
// integer distances from the quantised weights, scanned in cached blocks by query groups like
// the unweighted scan.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "deephash/errors.hpp"
#include "deephash/limits.hpp"
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

}  // namespace

namespace {

// The k best (distance, id, position) with an exact threshold: a binary max-heap. The kernel
// filter lets few candidates through (about k * ln(n / k) per query), so the threshold's
// exactness matters more than the cost of a push.
class HeapTopK {
 public:
  explicit HeapTopK(size_t k) : k_(k) { heap_.reserve(k); }
  // Largest distance that can still enter (inclusive).
  int32_t threshold() const { return heap_.size() < k_ ? kIntMax : heap_.front().dist; }
  void push(int32_t dist, int64_t id, uint64_t pos) {
    const Neighbor<int32_t> n{dist, id, pos};
    if (heap_.size() < k_) {
      heap_.push_back(n);
      std::push_heap(heap_.begin(), heap_.end());
    } else if (n < heap_.front()) {
      std::pop_heap(heap_.begin(), heap_.end());
      heap_.back() = n;
      std::push_heap(heap_.begin(), heap_.end());
    }
  }
  void merge(const HeapTopK& o) {
    for (const auto& n : o.heap_) push(n.dist, n.id, n.pos);
  }
  void write_sorted(int32_t* dist, int64_t* ids, int32_t missing) {
    write_best(heap_, k_, dist, ids, missing);
    heap_.clear();
  }

 private:
  size_t k_;
  std::vector<Neighbor<int32_t>> heap_;
};

// The same for ranking by position (ids increasing like positions): one 64-bit key
// (distance << 40 | position) per candidate makes every comparison a single integer compare.
class PosHeapTopK {
 public:
  explicit PosHeapTopK(size_t k) : k_(k) { heap_.reserve(k); }
  int32_t threshold() const {
    return heap_.size() < k_ ? kIntMax : static_cast<int32_t>(heap_.front() >> 40);
  }
  void push(int32_t dist, uint64_t pos) {
    const uint64_t key = (static_cast<uint64_t>(dist) << 40) | pos;
    if (heap_.size() < k_) {
      heap_.push_back(key);
      std::push_heap(heap_.begin(), heap_.end());
    } else if (key < heap_.front()) {
      std::pop_heap(heap_.begin(), heap_.end());
      heap_.back() = key;
      std::push_heap(heap_.begin(), heap_.end());
    }
  }
  void merge(const PosHeapTopK& o) {
    for (uint64_t key : o.heap_) push(static_cast<int32_t>(key >> 40), key & kPosMask);
  }
  // Writes positions as ids (the caller maps them).
  void write_sorted(int32_t* dist, int64_t* ids, int32_t missing) {
    std::sort_heap(heap_.begin(), heap_.end());
    size_t i = 0;
    for (; i < heap_.size(); ++i) {
      dist[i] = static_cast<int32_t>(heap_[i] >> 40);
      ids[i] = static_cast<int64_t>(heap_[i] & kPosMask);
    }
    for (; i < k_; ++i) {
      dist[i] = missing;
      ids[i] = kMissingId;
    }
    heap_.clear();
  }
  static constexpr uint64_t kPosMask = (uint64_t{1} << 40) - 1;

 private:
  size_t k_;
  std::vector<uint64_t> heap_;
};

// Selection state of one query. Mask-form weights select on popcounts with the exact
// CountingTopK (as the unweighted scan); general weights on integer totals with HeapTopK.
struct QuerySel {
  const uint8_t* q;
  const WeightedPlan* plan;
  std::unique_ptr<CountingTopK> counting;
  std::unique_ptr<HeapTopK> totals;
  std::unique_ptr<PosHeapTopK> pos_totals;
  size_t step = 0;

  QuerySel(const uint8_t* query, const WeightedPlan* p, size_t k, size_t bits, bool by_pos)
      : q(query), plan(p) {
    if (p->masked)
      counting.reset(new CountingTopK(k, static_cast<int32_t>(bits)));
    else if (by_pos)
      pos_totals.reset(new PosHeapTopK(k));
    else
      totals.reset(new HeapTopK(k));
  }
  int32_t threshold() const {
    return counting ? counting->threshold() : pos_totals ? pos_totals->threshold() : totals->threshold();
  }
  void push(int32_t dist, int64_t rank, uint64_t pos) {
    if (counting) counting->push(dist, rank, pos);
    else if (pos_totals) pos_totals->push(dist, pos);
    else totals->push(dist, rank, pos);
  }
  void merge(const QuerySel& o) {
    if (counting) counting->merge(*o.counting);
    else if (pos_totals) pos_totals->merge(*o.pos_totals);
    else totals->merge(*o.totals);
  }
  // Writes the row: integer totals (or popcounts times the unit) scaled to float32. by_pos:
  // the scan ranked by position (ids increasing like positions); store_ids maps them back.
  void write(size_t k, float* dist, int64_t* ids, const int64_t* store_ids, bool by_pos) {
    std::vector<int32_t> tmp(k);
    if (counting) counting->write_sorted(tmp.data(), ids, kIntMax);
    else if (pos_totals) pos_totals->write_sorted(tmp.data(), ids, kIntMax);
    else totals->write_sorted(tmp.data(), ids, kIntMax);
    if (by_pos)
      for (size_t j = 0; j < k; ++j)
        if (ids[j] != kMissingId) ids[j] = store_ids[static_cast<size_t>(ids[j])];
    for (size_t j = 0; j < k; ++j) {
      if (tmp[j] == kIntMax) {
        dist[j] = std::numeric_limits<float>::infinity();
        continue;
      }
      const int64_t total = counting ? static_cast<int64_t>(tmp[j]) * plan->unit : tmp[j];
      dist[j] = weighted_distance_value(total, plan->exponent);
    }
  }
};

constexpr size_t kFirstStep = 256;
constexpr size_t kMaxGroup = 64;
constexpr size_t kMinPart = size_t{1} << 16;

// Offers codes [begin, end) to the queries of a group, block by block (a block stays in cache
// while the group passes over it); kernel calls start short while a threshold is loose.
void scan_group(const WeightedKernels& K, const uint8_t* codes, const int64_t* ids, size_t nbytes,
                QuerySel* sel, size_t gq, size_t begin, size_t end, bool ids_increasing) {
  const size_t block = std::clamp<size_t>((24 * 1024) / nbytes, 256, kBlock * 16);
  // With ids increasing in position order, a code that only ties a query's threshold comes
  // after the candidates it ties and has a larger id: it cannot enter (the threshold is exact
  // or an over-estimate), so the kernel may skip it.
  const int32_t tie_skip = ids_increasing ? 1 : 0;
  // ...and candidates can be ranked by position (the same order), saving a cache miss on the
  // id array per candidate; write() maps positions to ids.
  auto rank = [&](size_t pos) { return ids_increasing ? static_cast<int64_t>(pos) : ids[pos]; };
  std::vector<uint32_t> idx(block);
  std::vector<int32_t> dist(block);
  for (size_t g = 0; g < gq; ++g) sel[g].step = kFirstStep;
  for (size_t b = begin; b < end; b += block) {
    const size_t bend = std::min(end, b + block);
    for (size_t g = 0; g < gq; ++g) {
      QuerySel& s = sel[g];
      const WeightedPlan& plan = *s.plan;
      for (size_t c0 = b; c0 < bend;) {
        const size_t len = std::min(s.step, bend - c0);
        const uint8_t* p = codes + c0 * nbytes;
        size_t f;
        const int32_t t0 = s.threshold();
        const int32_t thr = t0 == kIntMax ? t0 : t0 - tie_skip;
        if (s.counting)
          f = K.masked_scan_leq(s.q, plan.mask.data(), p, len, nbytes, thr, idx.data(), dist.data());
        else
          f = K.lut_scan_leq(plan, s.q, p, len, thr, idx.data(), dist.data());
        for (size_t i = 0; i < f; ++i) {
          if (dist[i] > s.threshold()) continue;
          s.push(dist[i], rank(c0 + idx[i]), c0 + idx[i]);
        }
        s.step = f * 8 > len ? kFirstStep : std::min(block, s.step * 2);
        c0 += len;
      }
    }
  }
}

}  // namespace

void weighted_search(const uint8_t* codes, const int64_t* ids, size_t n, size_t bits,
                     const uint8_t* queries, size_t nq, size_t k, const float* weights,
                     bool per_query, float* distances, int64_t* out_ids, bool ids_increasing) {
  check_bits(bits);
  if (k == 0) throw InvalidArgument("k must be >= 1");
  if (nq == 0) return;
  const size_t nb = bits / 8;
  // Selection is sized by the k that can be filled; the rest of each row is padding.
  const size_t stride = k;
  k = std::min(k, n);
  pad_rows(distances, out_ids, nq, stride, k, std::numeric_limits<float>::infinity());
  if (k == 0) return;
  const WeightedKernels& K = weighted_kernels();
  // Plans: one shared, or one per query (validated here, before any scan starts).
  std::vector<WeightedPlan> plans(per_query ? nq : 1);
  for (size_t i = 0; i < plans.size(); ++i)
    plans[i] = make_weighted_plan(quantize_weights(weights + i * bits, bits), bits);
  auto plan_of = [&](size_t i) { return &plans[per_query ? i : 0]; };

  int threads = get_num_threads();
  if (static_cast<double>(nq) * static_cast<double>(n) * static_cast<double>(nb) < 4e6) threads = 1;
  const size_t t = static_cast<size_t>(threads);
  const size_t group = std::clamp<size_t>(ceil_div(nq, t), 1, kMaxGroup);
  const size_t groups = ceil_div(nq, group);
  size_t parts = 1;
  if (groups < t) parts = std::clamp<size_t>(n / kMinPart, 1, ceil_div(t, groups));
  const size_t part = parts > 1 ? ceil_div(n, parts) : n;

  // Rank by position when ids increase like positions (and positions fit the 40-bit keys).
  const bool by_pos = ids_increasing && n < (uint64_t{1} << 40);
  // One selection state per (query, part); parts of a query are merged into part 0.
  std::vector<std::vector<QuerySel>> sels(groups * parts);
  parallel_for(groups * parts, threads, [&](size_t task) {
    const size_t g = task / parts, p = task % parts;
    const size_t q0 = g * group, gq = std::min(group, nq - q0);
    auto& mine = sels[task];
    mine.reserve(gq);
    for (size_t j = 0; j < gq; ++j)
      mine.emplace_back(queries + (q0 + j) * nb, plan_of(q0 + j), k, bits, by_pos);
    const size_t b = p * part, e = std::min(n, b + part);
    if (b < e) scan_group(K, codes, ids, nb, mine.data(), gq, b, e, by_pos);
    if (parts == 1)
      for (size_t j = 0; j < gq; ++j)
        mine[j].write(k, distances + (q0 + j) * stride, out_ids + (q0 + j) * stride, ids, by_pos);
  });
  if (parts == 1) return;
  for (size_t g = 0; g < groups; ++g) {
    const size_t q0 = g * group;
    auto& first = sels[g * parts];
    for (size_t j = 0; j < first.size(); ++j) {
      for (size_t p = 1; p < parts; ++p) first[j].merge(sels[g * parts + p][j]);
      first[j].write(k, distances + (q0 + j) * stride, out_ids + (q0 + j) * stride, ids, by_pos);
    }
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
    sc.range(queries + i * nb, 0, n, weighted_threshold(radius, plan.exponent), per[i]);
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
