// MultiIndex: table maintenance, the multi-index hashing searches, and the linear fallback.
#include "deephash/multi_index.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "deephash/errors.hpp"
#include "deephash/hamming.hpp"
#include "deephash/index_io.hpp"
#include "deephash/parallel.hpp"

namespace deephash {
namespace {

constexpr int32_t kInfDist = std::numeric_limits<int32_t>::max();
constexpr size_t kScanBlock = 4096;

// Cost model of one query, in nanoseconds on a current x86 core. It only decides between
// hashing and the linear scan, so it changes speed, never results.
constexpr double kCostLookup = 6.0;      // one bucket probe (a likely cache miss in the offsets)
constexpr double kCostCandidate = 7.0;   // one candidate check (a likely miss in the codes)
constexpr double kCostScanBase = 0.06;   // linear scan, per code ...
constexpr double kCostScanByte = 0.016;  // ... plus per byte of code
// Hashing gives up when its work passes this fraction of a linear scan: the worst case
// (hashing hopeless) then costs at most ~1.2x the scan, and the adaptive skip below removes
// even that when hashing keeps failing.
constexpr double kBudgetFraction = 0.2;
// In forced hashing mode (tests), a generous hard limit still prevents pathological runs.
constexpr double kForcedBudgetFactor = 256.0;
constexpr uint32_t kGiveupStreak = 8;  // failures in a row before hashing is mostly skipped
constexpr uint64_t kProbeEvery = 32;   // ... then one query in this many still tries it

size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

void check_m(size_t bits, size_t m) {
  if (m == 0) return;
  if (m > bits || ceil_div(bits, m) > 32)
    throw InvalidArgument("m (substrings) must be in [" + std::to_string(ceil_div(bits, 32)) +
                          ", " + std::to_string(bits) + "] for " + std::to_string(bits) +
                          "-bit codes, got " + std::to_string(m));
}

// Next integer with the same number of set bits (Gosper's hack); x != 0.
inline uint64_t next_combination(uint64_t x) {
  uint64_t c = x & (0 - x);
  uint64_t r = x + c;
  return (((r ^ x) >> 2) / c) | r;
}

}  // namespace

struct MultiIndex::QueryState {
  std::vector<uint32_t> qsub;  // the query's substrings
  double work = 0;             // cost-model nanoseconds spent so far
  double budget = 0;
};

MultiIndex::MultiIndex(size_t bits, size_t m) : bits_(bits), fixed_m_(m), store_(bits / 8) {
  if (bits == 0 || bits % 8 != 0)
    throw InvalidArgument("bits must be a positive multiple of 8, got " + std::to_string(bits));
  check_m(bits, m);
}

MultiIndex::MultiIndex(MultiIndex&& o) noexcept
    : bits_(o.bits_),
      fixed_m_(o.fixed_m_),
      store_(std::move(o.store_)),
      subs_(std::move(o.subs_)),
      tables_(std::move(o.tables_)),
      indexed_(o.indexed_),
      strategy_(o.strategy_) {
  o.indexed_ = 0;
}

size_t MultiIndex::auto_m(size_t bits, size_t n) {
  // The paper's choice m ~ b / log2(n): substrings about log2(n) bits long, so a bucket holds
  // about one code. Small indexes are treated as 1024 codes (they are scanned anyway).
  double lg = std::log2(static_cast<double>(std::max<size_t>(n, 1024)));
  size_t m = static_cast<size_t>(std::lround(static_cast<double>(bits) / lg));
  m = std::max<size_t>(m, ceil_div(bits, 32));
  m = std::max<size_t>(m, 1);
  return std::min(m, bits);
}

size_t MultiIndex::memory_bytes() const {
  size_t total = store_.memory_bytes();
  for (const auto& t : tables_) total += t.memory_bytes();
  return total;
}

uint32_t MultiIndex::substring(const uint8_t* code, const Substring& s) const {
  // Little-endian load: bit t of v is bit t % 8 of byte s.byte + t / 8, i.e. code bit
  // 8 * s.byte + t, so the substring is a shift and a mask away.
  uint64_t v = 0;
  if (s.wide_load)
    std::memcpy(&v, code + s.byte, 8);
  else
    std::memcpy(&v, code + s.byte, code_size() - s.byte);
  return static_cast<uint32_t>((v >> s.shift) & s.mask);
}

void MultiIndex::build_tables(size_t m) {
  const size_t n = store_.size();
  tables_.clear();
  subs_.clear();
  indexed_ = 0;
  if (n == 0 || n >= SubstringTable::kRemoved) return;  // empty, or past 32-bit positions: scan
  subs_.resize(m);
  const size_t base = bits_ / m, extra = bits_ % m;
  unsigned start = 0;
  for (size_t i = 0; i < m; ++i) {
    Substring& s = subs_[i];
    s.start = start;
    s.len = static_cast<unsigned>(base + (i < extra ? 1 : 0));
    s.byte = start / 8;
    s.shift = start % 8;
    s.mask = (s.len == 64) ? ~0ull : ((uint64_t{1} << s.len) - 1);
    s.wide_load = s.byte + 8 <= code_size();
    start += s.len;
  }
  tables_.resize(m);
  const uint8_t* codes = store_.codes();
  const size_t cs = code_size();
  // Tables are independent: build them on all threads (each needs n keys of scratch).
  parallel_for(m, get_num_threads(), [&](size_t i) {
    std::vector<uint32_t> keys(n);
    for (size_t p = 0; p < n; ++p) keys[p] = substring(codes + p * cs, subs_[i]);
    tables_[i].build(keys.data(), n, subs_[i].len);
  });
  indexed_ = n;
}

void MultiIndex::rebuild() { build_tables(fixed_m_ ? fixed_m_ : auto_m(bits_, store_.size())); }

void MultiIndex::maybe_rebuild() {
  const size_t n = store_.size();
  const size_t tail = n - indexed_;
  if (tables_.empty() || tail > 256 + indexed_ / 16) rebuild();
}

void MultiIndex::add(const uint8_t* codes, size_t n, const int64_t* ids) {
  if (n == 0) return;
  if (ids)
    store_.append(codes, ids, n);
  else
    store_.append_consecutive(codes, static_cast<int64_t>(store_.size()), n);
  maybe_rebuild();
}

size_t MultiIndex::remove(const int64_t* ids, size_t n) {
  if (n == 0 || store_.size() == 0) return 0;
  const size_t old_n = store_.size();
  // New position of every old position (kRemoved for dropped ones), computed with the same
  // rule as the store's removal: drop every entry whose id is listed, keep the order.
  std::vector<uint32_t> new_pos;
  if (!tables_.empty()) {
    std::unordered_set<int64_t> drop(ids, ids + n);
    new_pos.resize(old_n);
    uint32_t w = 0;
    const int64_t* sid = store_.ids();
    for (size_t p = 0; p < old_n; ++p) new_pos[p] = drop.count(sid[p]) ? SubstringTable::kRemoved : w++;
  }
  const size_t removed = store_.remove(ids, n);
  if (removed == 0 || tables_.empty()) return removed;
  size_t kept_indexed = 0;
  for (size_t p = 0; p < indexed_; ++p) kept_indexed += new_pos[p] != SubstringTable::kRemoved;
  parallel_for(tables_.size(), get_num_threads(), [&](size_t i) { tables_[i].remap(new_pos.data()); });
  indexed_ = kept_indexed;
  if (store_.size() == 0 || (fixed_m_ == 0 && auto_m(bits_, store_.size()) != m())) rebuild();
  return removed;
}

double MultiIndex::linear_cost() const {
  return static_cast<double>(store_.size()) *
         (kCostScanBase + kCostScanByte * static_cast<double>(code_size()));
}

bool MultiIndex::use_hashing_now() const {
  if (tables_.empty() || strategy_ == Strategy::linear) return false;
  if (strategy_ == Strategy::hashing) return true;
  // A scan of a small index is cheaper than even a few probes.
  if (linear_cost() < 20.0 * kCostLookup * static_cast<double>(tables_.size())) return false;
  if (giveup_streak_.load(std::memory_order_relaxed) >= kGiveupStreak)
    return query_counter_.fetch_add(1, std::memory_order_relaxed) % kProbeEvery == 0;
  return true;
}

void MultiIndex::record(bool hashed) const {
  if (strategy_ != Strategy::automatic) return;
  if (hashed)
    giveup_streak_.store(0, std::memory_order_relaxed);
  else
    giveup_streak_.fetch_add(1, std::memory_order_relaxed);
}

void MultiIndex::scan_knn(const uint8_t* q, size_t begin, size_t end, CountingTopK& top,
                          int32_t cap, bool ascending_fresh) const {
  const HammingKernels& K = hamming_kernels();
  const size_t cs = code_size();
  const uint8_t* codes = store_.codes();
  const int64_t* ids = store_.ids();
  // A scan in position order into a heap that saw no later position, with ids increasing in
  // position order, meets ties in id order: a code that only ties the k-th best cannot enter.
  const int32_t tie_skip = ascending_fresh && store_.ids_increasing() ? 1 : 0;
  uint32_t idx[kScanBlock];
  int32_t dist[kScanBlock];
  for (size_t b = begin; b < end; b += kScanBlock) {
    const size_t cnt = std::min(kScanBlock, end - b);
    const int32_t thr = top.threshold();
    const int32_t kthr = std::min(thr == kInfDist ? thr : thr - tie_skip, cap);
    const size_t f = K.scan_leq(q, codes + b * cs, cnt, cs, kthr, idx, dist);
    for (size_t i = 0; i < f; ++i) top.push(dist[i], ids[b + idx[i]], b + idx[i]);
  }
}

void MultiIndex::scan_knn_group(const uint8_t* const* qs, size_t gq, size_t begin, size_t end,
                                CountingTopK* tops, const int32_t* caps) const {
  // Blocks of the database stay in cache while every query of the group passes over them.
  const HammingKernels& K = hamming_kernels();
  const size_t cs = code_size();
  const uint8_t* codes = store_.codes();
  const int64_t* ids = store_.ids();
  const int32_t tie_skip = store_.ids_increasing() ? 1 : 0;
  const size_t block = std::max<size_t>(1024, (64 * 1024) / cs);
  std::vector<uint32_t> idx(block);
  std::vector<int32_t> dist(block);
  for (size_t b = begin; b < end; b += block) {
    const size_t cnt = std::min(block, end - b);
    for (size_t g = 0; g < gq; ++g) {
      const int32_t thr = tops[g].threshold();
      const int32_t kthr = std::min(thr == kInfDist ? thr : thr - tie_skip, caps[g]);
      const size_t f = K.scan_leq(qs[g], codes + b * cs, cnt, cs, kthr, idx.data(), dist.data());
      for (size_t i = 0; i < f; ++i) tops[g].push(dist[i], ids[b + idx[i]], b + idx[i]);
    }
  }
}

void MultiIndex::scan_range(const uint8_t* q, size_t begin, size_t end, int32_t radius,
                            std::vector<Neighbor<int32_t>>& out) const {
  const HammingKernels& K = hamming_kernels();
  const size_t cs = code_size();
  const uint8_t* codes = store_.codes();
  const int64_t* ids = store_.ids();
  uint32_t idx[kScanBlock];
  int32_t dist[kScanBlock];
  for (size_t b = begin; b < end; b += kScanBlock) {
    const size_t cnt = std::min(kScanBlock, end - b);
    const size_t f = K.scan_leq(q, codes + b * cs, cnt, cs, radius, idx, dist);
    for (size_t i = 0; i < f; ++i) out.push_back({dist[i], ids[b + idx[i]], b + idx[i]});
  }
}

// Enumerates, for table j and substring radius exactly r, every bucket key and calls
// visit(begin, end) on its entries. Returns false if the budget ran out.
#define DEEPHASH_FOR_EACH_BUCKET(table, qkey, len, r, st, BODY)                           \
  do {                                                                                    \
    const uint64_t limit_ = (len) >= 64 ? ~0ull : (uint64_t{1} << (len));                \
    uint64_t flip_ = (r) == 0 ? 0 : ((uint64_t{1} << (r)) - 1);                           \
    uint32_t since_check_ = 0;                                                            \
    for (;;) {                                                                            \
      const uint32_t key_ = (qkey) ^ static_cast<uint32_t>(flip_);                        \
      const uint32_t *bb_, *be_;                                                          \
      (table).lookup(key_, &bb_, &be_);                                                   \
      st.work += kCostLookup + kCostCandidate * static_cast<double>(be_ - bb_);           \
      BODY                                                                                \
      if (++since_check_ == 64) {                                                         \
        since_check_ = 0;                                                                 \
        if (st.work > st.budget) return false;                                            \
      }                                                                                   \
      if (flip_ == 0) break;                                                              \
      flip_ = next_combination(flip_);                                                    \
      if (flip_ >= limit_) break;                                                         \
    }                                                                                     \
    if (st.work > st.budget) return false;                                                \
  } while (0)

bool MultiIndex::knn_hashing(const uint8_t* q, CountingTopK& top, QueryState& st,
                             bool budgeted) const {
  const size_t m = tables_.size();
  const size_t cs = code_size();
  const uint8_t* codes = store_.codes();
  const int64_t* ids = store_.ids();
  st.qsub.resize(m);
  for (size_t i = 0; i < m; ++i) st.qsub[i] = substring(q, subs_[i]);
  st.work = 0;
  st.budget = linear_cost() * (budgeted ? kBudgetFraction : kForcedBudgetFactor) + 
              (budgeted ? 0.0 : 1e6);
  if (indexed_ < store_.size()) scan_knn(q, indexed_, store_.size(), top, kInfDist, false);
  for (unsigned r = 0;; ++r) {
    for (size_t j = 0; j < m; ++j) {
      const Substring& sj = subs_[j];
      const int32_t rr = static_cast<int32_t>(r);
      DEEPHASH_FOR_EACH_BUCKET(tables_[j], st.qsub[j], sj.len, r, st, {
        for (const uint32_t* e = bb_; e != be_; ++e) {
          const uint32_t pos = *e;
          const uint8_t* c = codes + pos * cs;
          const int32_t thr = top.threshold();
          int32_t total = rr;
          bool skip = false;
          // Full distance as the sum of substring distances. A code is checked once: here, at
          // the first (radius, table) probe that reaches it; if an earlier probe reached it
          // (some table i < j within r, or i > j within r - 1) it is a duplicate.
          for (size_t i = 0; i < m; ++i) {
            if (i == j) continue;
            const int32_t di = __builtin_popcount(substring(c, subs_[i]) ^ st.qsub[i]);
            if ((i < j && di <= rr) || (i > j && di < rr)) { skip = true; break; }
            total += di;
            if (total > thr) { skip = true; break; }
          }
          if (!skip) top.push(total, ids[pos], pos);
        }
      });
      // Every code with distance <= m * r + j has been found now; if the table was searched to
      // its full length, every code has.
      if (r >= sj.len) return true;
      if (top.threshold() != kInfDist && static_cast<int64_t>(top.threshold()) <=
                            static_cast<int64_t>(m) * r + static_cast<int64_t>(j))
        return true;
    }
  }
}

bool MultiIndex::range_hashing(const uint8_t* q, int32_t radius,
                               std::vector<Neighbor<int32_t>>& out, QueryState& st,
                               bool budgeted) const {
  const size_t m = tables_.size();
  const size_t cs = code_size();
  const uint8_t* codes = store_.codes();
  const int64_t* ids = store_.ids();
  st.qsub.resize(m);
  for (size_t i = 0; i < m; ++i) st.qsub[i] = substring(q, subs_[i]);
  st.work = 0;
  st.budget = linear_cost() * (budgeted ? kBudgetFraction : kForcedBudgetFactor) +
              (budgeted ? 0.0 : 1e6);
  if (indexed_ < store_.size()) scan_range(q, indexed_, store_.size(), radius, out);
  for (unsigned r = 0;; ++r) {
    for (size_t j = 0; j < m; ++j) {
      const Substring& sj = subs_[j];
      const int32_t rr = static_cast<int32_t>(r);
      DEEPHASH_FOR_EACH_BUCKET(tables_[j], st.qsub[j], sj.len, r, st, {
        for (const uint32_t* e = bb_; e != be_; ++e) {
          const uint32_t pos = *e;
          const uint8_t* c = codes + pos * cs;
          int32_t total = rr;
          bool skip = false;
          for (size_t i = 0; i < m; ++i) {
            if (i == j) continue;
            const int32_t di = __builtin_popcount(substring(c, subs_[i]) ^ st.qsub[i]);
            if ((i < j && di <= rr) || (i > j && di < rr)) { skip = true; break; }
            total += di;
            if (total > radius) { skip = true; break; }
          }
          if (!skip) out.push_back({total, ids[pos], pos});
        }
      });
      if (r >= sj.len) return true;
      if (static_cast<int64_t>(radius) <= static_cast<int64_t>(m) * r + static_cast<int64_t>(j))
        return true;
    }
  }
}

#undef DEEPHASH_FOR_EACH_BUCKET

void MultiIndex::search(const uint8_t* queries, size_t nq, size_t k, int32_t* distances,
                        int64_t* ids) const {
  if (k == 0) throw InvalidArgument("k must be >= 1");
  if (nq == 0) return;
  const size_t cs = code_size();
  const size_t n = store_.size();
  const int32_t maxd = static_cast<int32_t>(bits_);
  const int nthreads = get_num_threads();
  // Phase 1: hashing, query by query. A query that gives up keeps its k-th best distance so far
  // as a cap for the scan (the answer cannot be farther).
  std::vector<int32_t> caps(nq, kInfDist);
  std::vector<uint8_t> done(nq, 0);
  // With k >= n the heap never fills before every code is seen: a scan is always better.
  if (k < n && !tables_.empty() && strategy_ != Strategy::linear) {
    auto hash_one = [&](size_t i) {
      if (!use_hashing_now()) return;
      CountingTopK top(k, maxd);
      QueryState st;
      const bool ok = knn_hashing(queries + i * cs, top, st, strategy_ == Strategy::automatic);
      record(ok);
      if (ok) {
        top.write_sorted(distances + i * k, ids + i * k, kMissingDistance);
        done[i] = 1;
      } else {
        caps[i] = top.threshold();
      }
    };
    const size_t per = std::max<size_t>(1, nq / (static_cast<size_t>(nthreads) * 8));
    parallel_for(ceil_div(nq, per), nq == 1 ? 1 : nthreads, [&](size_t t) {
      for (size_t i = t * per; i < std::min(nq, (t + 1) * per); ++i) hash_one(i);
    });
  }
  std::vector<size_t> rest;
  for (size_t i = 0; i < nq; ++i)
    if (!done[i]) rest.push_back(i);
  stat_hashed_.fetch_add(nq - rest.size(), std::memory_order_relaxed);
  stat_linear_.fetch_add(rest.size(), std::memory_order_relaxed);
  if (rest.empty()) return;
  // Phase 2: linear scan of the rest (as FlatIndex: query groups share cached blocks; few
  // queries over a large index split the database over threads and merge the parts).
  const size_t nr = rest.size();
  if (nr >= static_cast<size_t>(nthreads) * 2 || nthreads <= 1 || n < 16 * kScanBlock) {
    const size_t group = std::clamp<size_t>(ceil_div(nr, static_cast<size_t>(nthreads)), 1, 64);
    const bool small = static_cast<double>(nr) * static_cast<double>(n) * static_cast<double>(cs) < 4e6;
    parallel_for(ceil_div(nr, group), small ? 1 : nthreads, [&](size_t g) {
      const size_t r0 = g * group, gq = std::min(group, nr - r0);
      std::vector<CountingTopK> tops(gq, CountingTopK(k, maxd));
      std::vector<const uint8_t*> qs(gq);
      std::vector<int32_t> gcaps(gq);
      for (size_t j = 0; j < gq; ++j) {
        qs[j] = queries + rest[r0 + j] * cs;
        gcaps[j] = caps[rest[r0 + j]];
      }
      scan_knn_group(qs.data(), gq, 0, n, tops.data(), gcaps.data());
      for (size_t j = 0; j < gq; ++j) {
        const size_t i = rest[r0 + j];
        tops[j].write_sorted(distances + i * k, ids + i * k, kMissingDistance);
      }
    });
    return;
  }
  const size_t parts = static_cast<size_t>(nthreads);
  const size_t chunk = ceil_div(n, parts);
  for (size_t i : rest) {
    std::vector<CountingTopK> tops(parts, CountingTopK(k, maxd));
    const uint8_t* q = queries + i * cs;
    parallel_for(parts, nthreads, [&](size_t t) {
      const size_t b = t * chunk, e = std::min(n, b + chunk);
      if (b < e) scan_knn(q, b, e, tops[t], caps[i], true);
    });
    for (size_t t = 1; t < parts; ++t) tops[0].merge(tops[t]);
    tops[0].write_sorted(distances + i * k, ids + i * k, kMissingDistance);
  }
}

RangeResult MultiIndex::range_search(const uint8_t* queries, size_t nq, int32_t radius) const {
  if (radius < 0) throw InvalidArgument("radius must be >= 0");
  const size_t cs = code_size();
  std::vector<std::vector<Neighbor<int32_t>>> per_query(nq);
  auto one = [&](size_t i) {
    auto& out = per_query[i];
    const uint8_t* q = queries + i * cs;
    bool ok = false;
    if (static_cast<size_t>(radius) < bits_ && use_hashing_now()) {
      QueryState st;
      ok = range_hashing(q, radius, out, st, strategy_ == Strategy::automatic);
      record(ok);
      if (!ok) out.clear();
    }
    (ok ? stat_hashed_ : stat_linear_).fetch_add(1, std::memory_order_relaxed);
    if (!ok) scan_range(q, 0, store_.size(), radius, out);
    std::sort(out.begin(), out.end());
  };
  parallel_for(nq, get_num_threads(), one);
  RangeResult res;
  res.lims.resize(nq + 1);
  res.lims[0] = 0;
  for (size_t i = 0; i < nq; ++i) res.lims[i + 1] = res.lims[i] + static_cast<int64_t>(per_query[i].size());
  res.distances.resize(static_cast<size_t>(res.lims[nq]));
  res.ids.resize(static_cast<size_t>(res.lims[nq]));
  for (size_t i = 0; i < nq; ++i) {
    size_t o = static_cast<size_t>(res.lims[i]);
    for (const auto& nb : per_query[i]) {
      res.distances[o] = nb.dist;
      res.ids[o] = nb.id;
      ++o;
    }
    std::vector<Neighbor<int32_t>>().swap(per_query[i]);
  }
  return res;
}

void MultiIndex::save(const std::string& path) const {
  IndexFileInfo info;
  info.kind = IndexKind::multi_index;
  info.bits = bits_;
  info.count = store_.size();
  info.param = fixed_m_;
  write_index_file(path, info, store_.codes(), store_.ids());
}

MultiIndex MultiIndex::load(const std::string& path, bool mmap, bool verify) {
  CodeStore store;
  IndexFileInfo info = read_index_file(path, mmap, verify, &store);
  if (info.kind != IndexKind::multi_index)
    throw FormatError("'" + path + "' does not hold a multi-index");
  const size_t bits = static_cast<size_t>(info.bits);
  const size_t m = static_cast<size_t>(info.param);
  if (m != 0 && (m > bits || ceil_div(bits, m) > 32))
    throw FormatError("'" + path + "' holds an invalid number of substrings (" +
                      std::to_string(m) + ")");
  MultiIndex index(bits, m);
  index.store_ = std::move(store);
  index.rebuild();
  return index;
}

}  // namespace deephash
