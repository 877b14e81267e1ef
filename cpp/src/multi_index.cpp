// MultiIndex: table maintenance, the multi-index hashing searches, and the linear fallback.
#include "deephash/multi_index.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "bits_util.hpp"
#include "block_scan.hpp"
#include "deephash/errors.hpp"
#include "deephash/hamming.hpp"
#include "deephash/index_io.hpp"
#include "deephash/limits.hpp"
#include "deephash/parallel.hpp"

namespace deephash {
namespace {

constexpr int32_t kInfDist = std::numeric_limits<int32_t>::max();

constexpr size_t kProbeBatch = 32;  // bucket probes issued together (their misses overlap)

using Clock = std::chrono::steady_clock;

void check_m(size_t bits, size_t m) {
  if (m == 0) return;
  if (m > bits || ceil_div(bits, m) > 32)
    throw InvalidArgument("m (substrings) must be in [" + std::to_string(ceil_div(bits, 32)) + ", " +
                          std::to_string(bits) + "] for " + std::to_string(bits) + "-bit codes, got " +
                          std::to_string(m));
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

MultiIndex::MultiIndex(size_t bits, size_t m) : bits_(bits), fixed_m_(m), store_(bits / 8), policy_(bits / 8) {
  check_bits(bits);
  check_m(bits, m);
}

MultiIndex::MultiIndex(MultiIndex&& o) noexcept
    : bits_(o.bits_),
      fixed_m_(o.fixed_m_),
      store_(std::move(o.store_)),
      subs_(std::move(o.subs_)),
      tables_(std::move(o.tables_)),
      indexed_(o.indexed_),
      strategy_(o.strategy_),
      policy_(o.policy_) {
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

ScanView MultiIndex::scan_view() const { return store_.view(ReadLock(mu_)); }

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
  if (store_.size() == 0 || (fixed_m_ == 0 && auto_m(bits_, store_.size()) != tables_.size())) rebuild_locked();
  return removed;
}

double MultiIndex::linear_cost(bool batch, bool split) const {
  return policy_.linear_cost(store_.size(), batch, split, get_num_threads());
}

bool MultiIndex::use_hashing_now() const {
  if (tables_.empty() || strategy_ == Strategy::linear) return false;
  if (strategy_ == Strategy::hashing) return true;
  return policy_.try_hashing(store_.size(), tables_.size());
}

void MultiIndex::record(bool hashed) const {
  if (strategy_ == Strategy::automatic) policy_.record(hashed);
}

// The kernel of this index's codes for queries given by query_of(slot).
template <class QueryOf>
static auto kernel_of(const CodeStore& store, size_t cs, QueryOf query_of) {
  return block_scan::hamming_kernel(hamming_kernels(), store.codes(), cs, query_of);
}

void MultiIndex::scan_tail(const uint8_t* q, CountingTopK& top) const {
  // The hashed candidates enter the same selector afterwards, ranked by their ids: rank by id here
  // too (and so no tie skipping).
  const block_scan::Options o{store_.ids(), false, nullptr};
  const size_t block = block_scan::block_codes(code_size());
  block_scan::Scratch s(block);
  block_scan::scan_group(kernel_of(store_, code_size(), [q](size_t) { return q; }), &top, 0, 1, indexed_, store_.size(),
                         block, o, s);
}

void MultiIndex::scan_range(const uint8_t* q, size_t begin, size_t end, int32_t radius,
                            std::vector<Neighbor<int32_t>>& out) const {
  const size_t block = block_scan::block_codes(code_size());
  block_scan::Scratch s(block);
  block_scan::scan_range(kernel_of(store_, code_size(), [q](size_t) { return q; }), 0, begin, end, radius, block,
                         store_.ids(), out, s);
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
int32_t MultiIndex::substring_total(const uint8_t* c, size_t j, int32_t r, int32_t bound, const QueryState& st) const {
  int32_t total = r;
  for (size_t i = 0; i < subs_.size(); ++i) {
    if (i == j) continue;
    const int32_t di = popcount64_swar(substring(c, subs_[i]) ^ st.qsub[i]);
    if ((i < j && di <= r) || (i > j && di < r)) return -1;
    total += di;
    if (total > bound) return -1;
  }
  return total;
}

// Splits the query into its substrings and sets the deadline of the hashing attempt: a fraction
// of scan_cost_ns, the measured cost of the linear scan it competes with (budgeted), or a
// generous one when hashing is forced.
void MultiIndex::start_probe(const uint8_t* q, QueryState& st, bool budgeted, double scan_cost_ns) const {
  st.qsub.resize(tables_.size());
  for (size_t i = 0; i < tables_.size(); ++i) st.qsub[i] = substring(q, subs_[i]);
  const double budget_ns = policy_.budget_ns(budgeted, scan_cost_ns, store_.size());
  st.deadline = Clock::now() + std::chrono::nanoseconds(static_cast<int64_t>(budget_ns));
}

bool MultiIndex::knn_hashing(const uint8_t* q, CountingTopK& top, QueryState& st, bool budgeted, bool batch) const {
  const size_t m = tables_.size();
  const size_t cs = code_size();
  const uint8_t* codes = store_.codes();
  const int64_t* ids = store_.ids();
  start_probe(q, st, budgeted, linear_cost(batch, !batch));
  if (indexed_ < store_.size()) scan_tail(q, top);
  const bool word = cs == 8;  // 64-bit codes: one XOR, then a masked popcount per substring
  const uint64_t qword = word ? load_u64(q) : 0;
  for (unsigned r = 0;; ++r) {
    for (size_t j = 0; j < m; ++j) {
      const Substring& sj = subs_[j];
      const int32_t rr = static_cast<int32_t>(r);
      // Full distance as the sum of substring distances. A code is checked once: at the first
      // (radius, table) probe that reaches it; if an earlier probe reached it (a table i < j
      // within r, or i > j within r - 1) it is a duplicate.
      const bool ok = word ? probe(j, r, st, true,
                                   [&](uint32_t pos) {
                                     const uint64_t x = load_u64(codes + static_cast<size_t>(pos) * 8) ^ qword;
                                     const int32_t thr = top.threshold();
                                     int32_t total = rr;
                                     for (size_t i = 0; i < m; ++i) {
                                       if (i == j) continue;
                                       const int32_t di = popcount64_swar(x & subs_[i].word_mask);
                                       if ((i < j && di <= rr) || (i > j && di < rr)) return;
                                       total += di;
                                       if (total > thr) return;
                                     }
                                     top.push(total, ids[pos], pos);
                                   })
                           : probe(j, r, st, true, [&](uint32_t pos) {
                               const int32_t total =
                                   substring_total(codes + static_cast<size_t>(pos) * cs, j, rr, top.threshold(), st);
                               if (total >= 0) top.push(total, ids[pos], pos);
                             });
      if (!ok) return false;
      // Every code with distance <= m * r + j has been found now; if the table was searched to
      // its full length, every code has.
      if (r >= sj.len) return true;
      if (top.threshold() != kInfDist &&
          static_cast<int64_t>(top.threshold()) <= static_cast<int64_t>(m) * r + static_cast<int64_t>(j))
        return true;
    }
  }
}

bool MultiIndex::range_hashing(const uint8_t* q, int32_t radius, std::vector<Neighbor<int32_t>>& out, QueryState& st,
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
        const int32_t total = substring_total(codes + static_cast<size_t>(pos) * cs, j, rr, radius, st);
        if (total < 0) return;
        out.push_back({total, ids[pos], pos});
      });
      if (!ok) return false;
      if (r >= sj.len) return true;
      if (static_cast<int64_t>(radius) <= static_cast<int64_t>(m) * r + static_cast<int64_t>(j)) return true;
    }
  }
}

void MultiIndex::search(const uint8_t* queries, size_t nq, size_t k, int32_t* distances, int64_t* ids) const {
  if (k == 0) throw InvalidArgument("k must be >= 1");
  if (nq == 0) return;
  ReadLock lock(mu_);
  // Selection is sized by the k that can be filled; the rest of each row is padding.
  const size_t kk = std::min(k, store_.size());
  if (kk > 0) search_rows(queries, nq, k, kk, distances, ids);
  pad_rows(distances, ids, nq, k, kk);
}

// The first k (<= size()) columns of each row of `stride` columns. Caller holds the read lock.
void MultiIndex::search_rows(const uint8_t* queries, size_t nq, size_t stride, size_t k, int32_t* distances,
                             int64_t* ids) const {
  std::vector<int32_t> caps(nq, kInfDist);
  const std::vector<size_t> rest = hash_phase(queries, nq, stride, k, distances, ids, caps.data());
  policy_.count(nq - rest.size(), rest.size());
  if (!rest.empty()) scan_phase(queries, rest, caps.data(), stride, k, distances, ids);
}

// Phase 1: hashing, query by query; writes the rows of the queries it answers and returns the
// others. A query that gives up keeps its k-th best distance so far in caps[i], a cap for the
// scan (the answer cannot be farther).
std::vector<size_t> MultiIndex::hash_phase(const uint8_t* queries, size_t nq, size_t stride, size_t k,
                                           int32_t* distances, int64_t* ids, int32_t* caps) const {
  const size_t cs = code_size();
  const int nthreads = get_num_threads();
  std::vector<uint8_t> done(nq, 0);
  // Many queries: the fallback is a batch scan (cheap per query); few queries: a single-query
  // scan split over the threads. Hashing must beat whichever applies.
  const bool batch = nq >= 2 && (nthreads <= 1 || nq >= static_cast<size_t>(nthreads) * 2);
  // With k >= n the heap never fills before every code is seen: a scan is always better.
  if (k < store_.size() && !tables_.empty() && strategy_ != Strategy::linear) {
    auto hash_one = [&](size_t i) {
      if (!use_hashing_now()) return;
      CountingTopK top(k, static_cast<int32_t>(bits_));
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
  return rest;
}

// Phase 2: the blocked scan of the queries hashing did not answer, capped by what it found; the
// time it takes refines the cost model.
void MultiIndex::scan_phase(const uint8_t* queries, const std::vector<size_t>& rest, const int32_t* caps, size_t stride,
                            size_t k, int32_t* distances, int64_t* ids) const {
  const size_t cs = code_size(), n = store_.size(), nr = rest.size();
  std::vector<int32_t> rest_caps(nr);
  for (size_t j = 0; j < nr; ++j) rest_caps[j] = caps[rest[j]];
  // Fresh selectors scanned in position order: with increasing ids they may rank by position.
  const block_scan::Options o{store_.ids(), store_.ids_increasing(), rest_caps.data()};
  const block_scan::Plan plan = block_scan::make_plan(nr, n, cs);
  const auto t0 = Clock::now();
  block_scan::knn<CountingTopK>(
      plan, n, nr, cs, o, [&] { return CountingTopK(k, static_cast<int32_t>(bits_)); },
      kernel_of(store_, cs, [&](size_t j) { return queries + rest[j] * cs; }),
      [&](size_t j, CountingTopK& top) {
        const size_t i = rest[j];
        top.write_sorted(distances + i * stride, ids + i * stride, kMissingDistance);
        if (o.by_pos) block_scan::positions_to_ids(ids + i * stride, k, o.ids);
      });
  const int used = static_cast<int>(std::min<size_t>(static_cast<size_t>(plan.threads), plan.groups * plan.parts));
  policy_.note_scan(nr >= 2, std::chrono::duration<double>(Clock::now() - t0).count(),
                    static_cast<double>(nr) * static_cast<double>(n), used);
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
    policy_.count(ok ? 1 : 0, ok ? 0 : 1);
    if (!ok) scan_range(q, 0, store_.size(), radius, out);
  };
  // Small jobs (and a few hashing queries, each short) are not worth starting threads for.
  const int threads = nq < 4 ? 1 : block_scan::job_threads(nq, store_.size(), cs);
  parallel_for(nq, threads, one);
  return block_scan::assemble_range<int32_t>(per_query, nq, 1, threads, [](size_t, int32_t d) { return d; });
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
  if (info.kind != IndexKind::multi_index) throw FormatError("'" + path + "' does not hold a multi-index");
  const size_t bits = static_cast<size_t>(info.bits);
  const size_t m = static_cast<size_t>(info.param);
  if (m != 0 && (m > bits || ceil_div(bits, m) > 32))
    throw FormatError("'" + path + "' holds an invalid number of substrings (" + std::to_string(m) + ")");
  MultiIndex index(bits, m);
  index.store_ = std::move(store);
  index.rebuild_locked();  // not shared yet
  return index;
}

}  // namespace deephash
