// MultiIndex: table maintenance, the multi-index hashing searches, and the linear fallback.
#include "deephash/multi_index.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "deephash/errors.hpp"
#include "deephash/hamming.hpp"
#include "deephash/index_io.hpp"
#include "deephash/limits.hpp"
#include "deephash/parallel.hpp"

namespace deephash {
namespace {

constexpr int32_t kInfDist = std::numeric_limits<int32_t>::max();
constexpr size_t kScanBlock = 4096;
constexpr size_t kFirstStep = 256;  // first kernel call per query and block, in codes

// Hashing gives up when its time passes this fraction of the expected time of a linear scan
// (measured on this index's own scans): the worst case, hashing hopeless, then costs at most
// ~1.5x a scan for the first queries, and the adaptive skip below brings that close to 1x
// when hashing keeps failing (one query in kProbeEvery still tries).
// Only speed depends on these decisions, never results.
constexpr double kBudgetFraction = 0.5;
// In forced hashing mode (tests, benchmarks) a generous limit still prevents pathological runs.
constexpr double kForcedBudgetFactor = 200.0;
constexpr double kForcedBudgetFloorNs = 2e7;
constexpr uint32_t kGiveupStreak = 8;  // failures in a row before hashing is mostly skipped
constexpr uint64_t kProbeEvery = 32;   // ... then one query in this many still tries it
constexpr size_t kProbeBatch = 32;     // bucket probes issued together (their misses overlap)

using Clock = std::chrono::steady_clock;

size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

void check_m(size_t bits, size_t m) {
  if (m == 0) return;
  if (m > bits || ceil_div(bits, m) > 32)
    throw InvalidArgument("m (substrings) must be in [" + std::to_string(ceil_div(bits, 32)) +
                          ", " + std::to_string(bits) + "] for " + std::to_string(bits) +
                          "-bit codes, got " + std::to_string(m));
}

// Popcount without relying on -mpopcnt (this unit is compiled for the baseline ISA, where
// __builtin_popcount becomes a library call): a few ALU operations.
inline int popcount64(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return static_cast<int>((x * 0x0101010101010101ull) >> 56);
}

inline uint64_t load_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
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
  std::vector<uint32_t> cand;  // candidate positions of one probe batch
  Clock::time_point deadline;
};

MultiIndex::MultiIndex(size_t bits, size_t m) : bits_(bits), fixed_m_(m), store_(bits / 8) {
  check_bits(bits);
  check_m(bits, m);
  scan_ps_single_.store(60 + 16 * code_size(), std::memory_order_relaxed);
  scan_ps_batch_.store(20 + 10 * code_size(), std::memory_order_relaxed);
}

MultiIndex::MultiIndex(MultiIndex&& o) noexcept
    : bits_(o.bits_),
      fixed_m_(o.fixed_m_),
      store_(std::move(o.store_)),
      subs_(std::move(o.subs_)),
      tables_(std::move(o.tables_)),
      indexed_(o.indexed_),
      strategy_(o.strategy_) {
  scan_ps_single_.store(o.scan_ps_single_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  scan_ps_batch_.store(o.scan_ps_batch_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  o.indexed_ = 0;
}

namespace {

// Bytes of one table over n codes for substrings of len bits (entries plus direct offsets or
// hash slots).
double table_bytes(unsigned len, size_t n) {
  double total = 4.0 * static_cast<double>(n);  // entries
  if (SubstringTable::use_direct(len, n)) {
    total += 4.0 * std::ldexp(1.0, static_cast<int>(len));
  } else {
    const double distinct = std::min(static_cast<double>(n), std::ldexp(1.0, static_cast<int>(len)));
    total += 4.0 * distinct + 8.0 * std::exp2(std::ceil(std::log2(1.5 * distinct + 16)));
  }
  return total;
}

// Bytes of m tables over n codes of `bits` bits: substrings have only two lengths (base and
// base + 1), so this is O(1) and choosing m stays linear in bits.
double tables_bytes(size_t bits, size_t n, size_t m) {
  const size_t base = bits / m, extra = bits % m;
  double total = static_cast<double>(m - extra) * table_bytes(static_cast<unsigned>(base), n);
  if (extra > 0) total += static_cast<double>(extra) * table_bytes(static_cast<unsigned>(base + 1), n);
  return total;
}

}  // namespace

size_t MultiIndex::auto_m(size_t bits, size_t n) {
  // The paper's choice m ~ b / log2(n): substrings about log2(n) bits long, so a bucket holds
  // about one code. If the tables would take more than twice the memory of the codes and ids,
  // the next larger m (shorter substrings, fewer offsets) up to 2x are tried: the first that
  // fits, else the one with the smallest tables. Small indexes are treated as 1024 codes.
  const size_t nn = std::max<size_t>(n, 1024);
  const double lg = std::log2(static_cast<double>(nn));
  size_t m0 = static_cast<size_t>(std::lround(static_cast<double>(bits) / lg));
  m0 = std::min(std::max(std::max<size_t>(m0, ceil_div(bits, 32)), size_t{1}), bits);
  const double budget = 2.0 * static_cast<double>(nn) * static_cast<double>(bits / 8 + 8);
  size_t best = m0;
  double best_bytes = tables_bytes(bits, nn, m0);
  for (size_t m = m0; m <= std::min(bits, 2 * m0); ++m) {
    const double bytes = tables_bytes(bits, nn, m);
    if (bytes <= budget) return m;
    if (bytes < best_bytes) {
      best = m;
      best_bytes = bytes;
    }
  }
  return best;
}

size_t MultiIndex::size() const {
  ReadLock lock(mu_);
  return store_.size();
}

size_t MultiIndex::m() const {
  ReadLock lock(mu_);
  return tables_.size();
}

size_t MultiIndex::indexed() const {
  ReadLock lock(mu_);
  return indexed_;
}

MultiIndex::Strategy MultiIndex::strategy() const {
  ReadLock lock(mu_);
  return strategy_;
}

void MultiIndex::set_strategy(Strategy s) {
  WriteLock lock(mu_);
  strategy_ = s;
}

CodeStore::Snapshot MultiIndex::snapshot() const {
  ReadLock lock(mu_);
  return store_.snapshot();
}

void MultiIndex::reserve(size_t n) {
  WriteLock lock(mu_);
  store_.reserve(n);
}

size_t MultiIndex::memory_bytes() const {
  ReadLock lock(mu_);
  size_t total = store_.memory_bytes();
  for (const auto& t : tables_) total += t.memory_bytes();
  return total;
}

inline uint32_t MultiIndex::substring(const uint8_t* code, const Substring& s) const {
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
    // Used for 64-bit codes only (where start < 64); a shift by 64 or more is undefined.
    s.word_mask = start < 64 ? s.mask << start : 0;
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

void MultiIndex::rebuild() {
  WriteLock lock(mu_);
  rebuild_locked();
}

void MultiIndex::rebuild_locked() { build_tables(fixed_m_ ? fixed_m_ : auto_m(bits_, store_.size())); }

void MultiIndex::maybe_rebuild() {
  const size_t n = store_.size();
  const size_t tail = n - indexed_;
  if (tables_.empty() || tail > 256 + indexed_ / 16) rebuild_locked();
}

void MultiIndex::add(const uint8_t* codes, size_t n, const int64_t* ids) {
  if (n == 0) return;
  WriteLock lock(mu_);
  if (ids)
    store_.append(codes, ids, n);
  else
    store_.append_consecutive(codes, static_cast<int64_t>(store_.size()), n);
  maybe_rebuild();
}

size_t MultiIndex::remove(const int64_t* ids, size_t n) {
  WriteLock lock(mu_);
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
  if (store_.size() == 0 || (fixed_m_ == 0 && auto_m(bits_, store_.size()) != tables_.size()))
    rebuild_locked();
  return removed;
}

double MultiIndex::linear_cost(bool batch, bool split) const {
  // Picoseconds per code of this index's scans (per thread), times the codes. A batch scan
  // shares cached blocks between queries and costs far less per query than one query alone;
  // a single query's scan is split over the threads.
  const auto& rate = batch ? scan_ps_batch_ : scan_ps_single_;
  double ns = static_cast<double>(store_.size()) *
              static_cast<double>(rate.load(std::memory_order_relaxed)) * 1e-3;
  if (split) ns /= static_cast<double>(std::max(1, get_num_threads()));
  return ns;
}

void MultiIndex::note_scan(bool batch, double seconds, double codes, int threads) const {
  if (codes < 1e5) return;
  auto& rate = batch ? scan_ps_batch_ : scan_ps_single_;
  const double ps = seconds * 1e12 * static_cast<double>(threads) / codes;
  const double old = static_cast<double>(rate.load(std::memory_order_relaxed));
  rate.store(static_cast<uint64_t>(std::max(1.0, 0.75 * old + 0.25 * ps)), std::memory_order_relaxed);
}

bool MultiIndex::use_hashing_now() const {
  if (tables_.empty() || strategy_ == Strategy::linear) return false;
  if (strategy_ == Strategy::hashing) return true;
  // A scan of a small index is cheaper than a few dozen probes.
  if (linear_cost(false, false) < 2000.0 * static_cast<double>(tables_.size())) return false;
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
  const uint8_t* qs[1] = {q};
  scan_knn_group(qs, 1, begin, end, &top, &cap, ascending_fresh);
}

void MultiIndex::scan_knn_group(const uint8_t* const* qs, size_t gq, size_t begin, size_t end,
                                CountingTopK* tops, const int32_t* caps, bool ascending_fresh) const {
  // Blocks of the database stay in cache while every query of the group passes over them.
  // Within a block, kernel calls start short while a query's threshold is loose (few codes
  // reach the heap) and grow once it is tight.
  const HammingKernels& K = hamming_kernels();
  const size_t cs = code_size();
  const uint8_t* codes = store_.codes();
  const int64_t* ids = store_.ids();
  // A scan in position order into heaps that saw no later position, with ids increasing in
  // position order, meets ties in id order: a code that only ties the k-th best cannot enter.
  const bool by_pos = ascending_fresh && store_.ids_increasing();
  const int32_t tie_skip = by_pos ? 1 : 0;
  const size_t block = std::clamp<size_t>((24 * 1024) / cs, 256, size_t{1} << 20);  // L1-sized
  std::vector<uint32_t> idx(block);
  std::vector<int32_t> dist(block);
  std::vector<size_t> step(gq, kFirstStep);
  for (size_t b = begin; b < end; b += block) {
    const size_t bend = std::min(end, b + block);
    for (size_t g = 0; g < gq; ++g) {
      CountingTopK& top = tops[g];
      for (size_t c0 = b; c0 < bend;) {
        const size_t len = std::min(step[g], bend - c0);
        const int32_t thr = top.threshold();
        const int32_t kthr = std::min(thr == kInfDist ? thr : thr - tie_skip, caps[g]);
        const size_t f = K.scan_leq(qs[g], codes + c0 * cs, len, cs, kthr, idx.data(), dist.data());
        for (size_t i = 0; i < f; ++i) {
          if (dist[i] > top.threshold()) continue;
          const size_t pos = c0 + idx[i];
          // Ids increasing like positions: rank by position (the same order) and let the caller
          // look the ids up at the end (see ids_from_positions) instead of a miss per candidate.
          top.push(dist[i], by_pos ? static_cast<int64_t>(pos) : ids[pos], pos);
        }
        step[g] = f * 8 > len ? kFirstStep : std::min(block, step[g] * 2);
        c0 += len;
      }
    }
  }
}

void MultiIndex::ids_from_positions(int64_t* row, size_t k) const {
  if (!store_.ids_increasing()) return;  // the scans ranked by the ids themselves
  const int64_t* ids = store_.ids();
  for (size_t j = 0; j < k; ++j)
    if (row[j] != kMissingId) row[j] = ids[static_cast<size_t>(row[j])];
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

// Probes table j at substring radius exactly r: every key at Hamming distance r from the
// query's substring j, in batches whose memory accesses are issued together (bucket heads, then
// entries, then the candidates' codes), and calls visit(pos) on each candidate. Returns false
// when the deadline passed.
template <class Visit>
bool MultiIndex::probe(size_t j, unsigned r, QueryState& st, bool timed, Visit&& visit) const {
  const SubstringTable& T = tables_[j];
  const unsigned len = subs_[j].len;
  const uint32_t qkey = st.qsub[j];
  const uint64_t limit = uint64_t{1} << len;
  const size_t cs = code_size();
  const uint8_t* codes = store_.codes();
  uint64_t flip = r == 0 ? 0 : ((uint64_t{1} << r) - 1);
  bool more = true;
  uint32_t keys[kProbeBatch];
  const uint32_t* bb[kProbeBatch];
  const uint32_t* be[kProbeBatch];
  while (more) {
    size_t nk = 0;
    while (nk < kProbeBatch && more) {
      keys[nk++] = qkey ^ static_cast<uint32_t>(flip);
      if (flip == 0) {
        more = false;
      } else {
        flip = next_combination(flip);
        if (flip >= limit) more = false;
      }
    }
    for (size_t i = 0; i < nk; ++i) T.prefetch(keys[i]);
    for (size_t i = 0; i < nk; ++i) {
      T.lookup(keys[i], &bb[i], &be[i]);
      if (bb[i] != be[i]) __builtin_prefetch(bb[i]);
    }
    st.cand.clear();
    for (size_t i = 0; i < nk; ++i)
      for (const uint32_t* e = bb[i]; e != be[i]; ++e) {
        __builtin_prefetch(codes + static_cast<size_t>(*e) * cs);
        st.cand.push_back(*e);
      }
    for (uint32_t pos : st.cand) visit(pos);
    if (timed && Clock::now() > st.deadline) return false;
  }
  return true;
}

// Full distance of code c, reached in table j at substring radius r, as the sum of its substring
// distances; -1 when an earlier probe reached it (a table i < j within r, or i > j within r - 1:
// a duplicate) or when the sum exceeds bound.
int32_t MultiIndex::substring_total(const uint8_t* c, size_t j, int32_t r, int32_t bound,
                                    const QueryState& st) const {
  int32_t total = r;
  for (size_t i = 0; i < subs_.size(); ++i) {
    if (i == j) continue;
    const int32_t di = popcount64(substring(c, subs_[i]) ^ st.qsub[i]);
    if ((i < j && di <= r) || (i > j && di < r)) return -1;
    total += di;
    if (total > bound) return -1;
  }
  return total;
}

// Splits the query into its substrings and sets the deadline of the hashing attempt: a fraction
// of scan_cost_ns, the measured cost of the linear scan it competes with (budgeted), or a
// generous one when hashing is forced.
void MultiIndex::start_probe(const uint8_t* q, QueryState& st, bool budgeted,
                             double scan_cost_ns) const {
  st.qsub.resize(tables_.size());
  for (size_t i = 0; i < tables_.size(); ++i) st.qsub[i] = substring(q, subs_[i]);
  const double budget_ns = budgeted ? kBudgetFraction * scan_cost_ns
                                    : kForcedBudgetFactor * linear_cost(false, false) + kForcedBudgetFloorNs;
  st.deadline = Clock::now() + std::chrono::nanoseconds(static_cast<int64_t>(budget_ns));
}

bool MultiIndex::knn_hashing(const uint8_t* q, CountingTopK& top, QueryState& st, bool budgeted,
                             bool batch) const {
  const size_t m = tables_.size();
  const size_t cs = code_size();
  const uint8_t* codes = store_.codes();
  const int64_t* ids = store_.ids();
  start_probe(q, st, budgeted, linear_cost(batch, !batch));
  if (indexed_ < store_.size()) scan_knn(q, indexed_, store_.size(), top, kInfDist, false);
  const bool word = cs == 8;  // 64-bit codes: one XOR, then a masked popcount per substring
  const uint64_t qword = word ? load_u64(q) : 0;
  for (unsigned r = 0;; ++r) {
    for (size_t j = 0; j < m; ++j) {
      const Substring& sj = subs_[j];
      const int32_t rr = static_cast<int32_t>(r);
      // Full distance as the sum of substring distances. A code is checked once: at the first
      // (radius, table) probe that reaches it; if an earlier probe reached it (a table i < j
      // within r, or i > j within r - 1) it is a duplicate.
      const bool ok = word ? probe(j, r, st, true, [&](uint32_t pos) {
        const uint64_t x = load_u64(codes + static_cast<size_t>(pos) * 8) ^ qword;
        const int32_t thr = top.threshold();
        int32_t total = rr;
        for (size_t i = 0; i < m; ++i) {
          if (i == j) continue;
          const int32_t di = popcount64(x & subs_[i].word_mask);
          if ((i < j && di <= rr) || (i > j && di < rr)) return;
          total += di;
          if (total > thr) return;
        }
        top.push(total, ids[pos], pos);
      }) : probe(j, r, st, true, [&](uint32_t pos) {
        const int32_t total =
            substring_total(codes + static_cast<size_t>(pos) * cs, j, rr, top.threshold(), st);
        if (total >= 0) top.push(total, ids[pos], pos);
      });
      if (!ok) return false;
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
  start_probe(q, st, budgeted, linear_cost(false, false));
  if (indexed_ < store_.size()) scan_range(q, indexed_, store_.size(), radius, out);
  for (unsigned r = 0;; ++r) {
    for (size_t j = 0; j < m; ++j) {
      const Substring& sj = subs_[j];
      const int32_t rr = static_cast<int32_t>(r);
      const bool ok = probe(j, r, st, true, [&](uint32_t pos) {
        const int32_t total =
            substring_total(codes + static_cast<size_t>(pos) * cs, j, rr, radius, st);
        if (total < 0) return;
        out.push_back({total, ids[pos], pos});
      });
      if (!ok) return false;
      if (r >= sj.len) return true;
      if (static_cast<int64_t>(radius) <= static_cast<int64_t>(m) * r + static_cast<int64_t>(j))
        return true;
    }
  }
}

void MultiIndex::search(const uint8_t* queries, size_t nq, size_t k, int32_t* distances,
                        int64_t* ids) const {
  if (k == 0) throw InvalidArgument("k must be >= 1");
  if (nq == 0) return;
  ReadLock lock(mu_);
  // Selection is sized by the k that can be filled; the rest of each row is padding.
  const size_t kk = std::min(k, store_.size());
  if (kk > 0) search_rows(queries, nq, k, kk, distances, ids);
  pad_rows(distances, ids, nq, k, kk);
}

// The first kk (<= size()) columns of each row of k columns. Caller holds the read lock.
void MultiIndex::search_rows(const uint8_t* queries, size_t nq, size_t stride, size_t k,
                             int32_t* distances, int64_t* ids) const {
  const size_t cs = code_size();
  const size_t n = store_.size();
  const int32_t maxd = static_cast<int32_t>(bits_);
  const int nthreads = get_num_threads();
  // Phase 1: hashing, query by query. A query that gives up keeps its k-th best distance so far
  // as a cap for the scan (the answer cannot be farther).
  std::vector<int32_t> caps(nq, kInfDist);
  std::vector<uint8_t> done(nq, 0);
  // With k >= n the heap never fills before every code is seen: a scan is always better.
  // Many queries: the fallback is a batch scan (cheap per query); few queries: a single-query
  // scan split over the threads. Hashing must beat whichever applies.
  const bool batch = nq >= 2 && (nthreads <= 1 || nq >= static_cast<size_t>(nthreads) * 2);
  if (k < n && !tables_.empty() && strategy_ != Strategy::linear) {
    auto hash_one = [&](size_t i) {
      if (!use_hashing_now()) return;
      CountingTopK top(k, maxd);
      QueryState st;
      const bool ok = knn_hashing(queries + i * cs, top, st, strategy_ == Strategy::automatic, batch);
      record(ok);
      if (ok) {
        top.write_sorted(distances + i * stride, ids + i * stride, kMissingDistance);
        done[i] = 1;
      } else {
        caps[i] = top.threshold();
      }
    };
    const size_t per = std::max<size_t>(1, nq / (static_cast<size_t>(nthreads) * 8));
    // Threads only pay off for a few queries or more (each hashing query is short).
    parallel_for(ceil_div(nq, per), nq < 4 ? 1 : nthreads, [&](size_t t) {
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
  const auto t0 = Clock::now();
  if (nr >= static_cast<size_t>(nthreads) * 2 || nthreads <= 1 || n < 16 * kScanBlock) {
    const size_t group = std::clamp<size_t>(ceil_div(nr, static_cast<size_t>(nthreads)), 1, 64);
    const bool small = static_cast<double>(nr) * static_cast<double>(n) * static_cast<double>(cs) < 4e6;
    const int used = small ? 1 : static_cast<int>(std::min<size_t>(nthreads, ceil_div(nr, group)));
    parallel_for(ceil_div(nr, group), used, [&](size_t g) {
      const size_t r0 = g * group, gq = std::min(group, nr - r0);
      std::vector<CountingTopK> tops(gq, CountingTopK(k, maxd));
      std::vector<const uint8_t*> qs(gq);
      std::vector<int32_t> gcaps(gq);
      for (size_t j = 0; j < gq; ++j) {
        qs[j] = queries + rest[r0 + j] * cs;
        gcaps[j] = caps[rest[r0 + j]];
      }
      scan_knn_group(qs.data(), gq, 0, n, tops.data(), gcaps.data(), true);
      for (size_t j = 0; j < gq; ++j) {
        const size_t i = rest[r0 + j];
        tops[j].write_sorted(distances + i * stride, ids + i * stride, kMissingDistance);
        ids_from_positions(ids + i * stride, k);
      }
    });
    note_scan(nr >= 2, std::chrono::duration<double>(Clock::now() - t0).count(),
              static_cast<double>(nr) * static_cast<double>(n), used);
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
    tops[0].write_sorted(distances + i * stride, ids + i * stride, kMissingDistance);
    ids_from_positions(ids + i * stride, k);
  }
  note_scan(false, std::chrono::duration<double>(Clock::now() - t0).count(),
            static_cast<double>(nr) * static_cast<double>(n), nthreads);
}

RangeResult MultiIndex::range_search(const uint8_t* queries, size_t nq, int32_t radius) const {
  if (radius < 0) throw InvalidArgument("radius must be >= 0");
  ReadLock lock(mu_);
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
  // Small jobs are not worth starting threads for.
  const bool small = static_cast<double>(nq) * static_cast<double>(store_.size()) *
                         static_cast<double>(cs) < 4e6 || nq < 4;
  parallel_for(nq, small ? 1 : get_num_threads(), one);
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
  ReadLock lock(mu_);
  IndexFileInfo info;
  info.kind = IndexKind::multi_index;
  info.bits = bits_;
  info.count = store_.size();
  info.param = fixed_m_;
  write_index_file(path, info, store_.codes(), store_.ids());
}

MultiIndex MultiIndex::load(const std::string& path, bool mmap, bool verify) {
  return load(IndexFile::open(path), mmap, verify);
}

MultiIndex MultiIndex::load(const IndexFile& file, bool mmap, bool verify) {
  const std::string& path = file.path();
  CodeStore store;
  file.read_into(mmap, verify, &store);
  const IndexFileInfo& info = file.info();
  if (info.kind != IndexKind::multi_index)
    throw FormatError("'" + path + "' does not hold a multi-index");
  const size_t bits = static_cast<size_t>(info.bits);
  const size_t m = static_cast<size_t>(info.param);
  if (m != 0 && (m > bits || ceil_div(bits, m) > 32))
    throw FormatError("'" + path + "' holds an invalid number of substrings (" +
                      std::to_string(m) + ")");
  MultiIndex index(bits, m);
  index.store_ = std::move(store);
  index.rebuild_locked();  // not shared yet
  return index;
}

}  // namespace deephash
