// MultiIndex: exact k-NN and range search in Hamming space by multi-index hashing
// (Norouzi, Punjani & Fleet, "Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012).
//
// Each code of b bits is cut into m disjoint substrings of consecutive bits (lengths differ by at
// most one bit); table i groups the codes by the value of substring i. By the pigeonhole
// principle a code at distance d from the query has some substring within distance floor(d / m)
// of the query's substring, so probing every table within substring radius r finds every code
// at distance <= m * r + m - 1. k-NN search grows the radius one table at a time until the k-th
// best distance found is inside the guaranteed bound; every candidate is checked with its full
// distance. Results equal FlatIndex's exactly: same ids, same order, ties by (distance, id,
// position in the index).
//
// When hashing cannot beat a linear scan (uniformly random codes, large k or radius, small
// indexes) the search falls back to the SIMD scan; this changes speed only, never results.
//
// Dynamic: codes added after the last table build form a tail that is scanned linearly; the
// tables are rebuilt (and m re-tuned, unless fixed) when the tail grows past 1/16 of the
// indexed codes. Removal renumbers table entries in place.
//
// Thread safety: as FlatIndex (flat_index.hpp): searches, saves and snapshots share a
// reader-writer lock; add, remove, reserve, rebuild and set_strategy take it exclusively, so
// every search sees the tables and codes of one state. The adaptive state that searches update
// (cost model, fallback streak, counters) is atomic and affects speed only, never results.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "deephash/code_store.hpp"
#include "deephash/hashing_policy.hpp"
#include "deephash/rw_lock.hpp"
#include "deephash/scan_view.hpp"
#include "deephash/substring_table.hpp"
#include "deephash/topk.hpp"

namespace deephash {

class IndexFile;  // index_io.hpp

class MultiIndex {
 public:
  // How searches choose between hashing and the linear scan (results are the same).
  enum class Strategy : int { automatic = 0, hashing = 1, linear = 2 };

  // bits: a positive multiple of 8 up to kMaxBits (limits.hpp). m: number of substrings,
  // 0 = chosen from the data size (about bits / log2(n)); otherwise ceil(bits / 32) <= m <= bits.
  explicit MultiIndex(size_t bits, size_t m = 0);

  MultiIndex(const MultiIndex&) = delete;
  MultiIndex& operator=(const MultiIndex&) = delete;
  // Moving is not synchronised: no other thread may use either index meanwhile.
  MultiIndex(MultiIndex&& o) noexcept;
  MultiIndex& operator=(MultiIndex&&) = delete;

  size_t bits() const { return bits_; }
  size_t code_size() const { return bits_ / 8; }
  size_t size() const;
  // The stored codes and ids now, valid as long as the snapshot lives (see code_store.hpp).
  CodeStore::Snapshot snapshot() const;
  // The stored codes under this index's read lock, for a scan run outside it (scan_view.hpp).
  ScanView scan_view() const;
  // Substrings in use (0 while no table is built), and the fixed m given (0 = automatic).
  size_t m() const;
  size_t fixed_m() const { return fixed_m_; }
  // Codes covered by the tables (the rest, the tail, is scanned linearly).
  size_t indexed() const;
  // Bytes held by codes, ids and tables.
  size_t memory_bytes() const;

  Strategy strategy() const;
  void set_strategy(Strategy s);

  void add(const uint8_t* codes, size_t n, const int64_t* ids);
  size_t remove(const int64_t* ids, size_t n);
  void reserve(size_t n);
  // Rebuilds every table now (re-tuning m unless fixed).
  void rebuild();

  // Same contract as FlatIndex::search / range_search.
  void search(const uint8_t* queries, size_t nq, size_t k, int32_t* distances, int64_t* ids) const;
  RangeResult range_search(const uint8_t* queries, size_t nq, int32_t radius) const;

  void save(const std::string& path) const;
  static MultiIndex load(const std::string& path, bool mmap = false, bool verify = true);
  // From a file already opened: deephash.load() reads the kind and the content from one open.
  static MultiIndex load(const IndexFile& file, bool mmap = false, bool verify = true);

  // m chosen for n codes of `bits` bits (time linear in bits).
  static size_t auto_m(size_t bits, size_t n);

  // Counters of the searches run so far (for benchmarks and tests): queries answered by
  // hashing, and by the linear scan.
  uint64_t hashed_queries() const { return policy_.hashed_queries(); }
  uint64_t linear_queries() const { return policy_.linear_queries(); }

 private:
  struct Substring {
    unsigned start;      // first bit
    unsigned len;        // bits (1..32)
    unsigned byte;       // start / 8
    unsigned shift;      // start % 8
    uint64_t mask;       // (1 << len) - 1
    bool wide_load;      // an 8-byte load at `byte` stays inside the code
    uint64_t word_mask;  // mask << start (64-bit codes: the substring's bits in the code word)
  };
  struct QueryState;

  void build_tables(size_t m);
  void rebuild_locked();
  void maybe_rebuild();
  void search_rows(const uint8_t* queries, size_t nq, size_t stride, size_t k, int32_t* distances, int64_t* ids) const;
  std::vector<size_t> hash_phase(const uint8_t* queries, size_t nq, size_t stride, size_t k, int32_t* distances,
                                 int64_t* ids, int32_t* caps) const;
  void scan_phase(const uint8_t* queries, const std::vector<size_t>& rest, const int32_t* caps, size_t stride, size_t k,
                  int32_t* distances, int64_t* ids) const;
  uint32_t substring(const uint8_t* code, const Substring& s) const;

  // Full distance of code c reached in table j at substring radius r, or -1 when an earlier
  // probe reached it or the distance exceeds bound (see multi_index.cpp).
  int32_t substring_total(const uint8_t* c, size_t j, int32_t r, int32_t bound, const QueryState& st) const;
  void start_probe(const uint8_t* q, QueryState& st, bool budgeted, double scan_cost_ns) const;
  // k-NN of one query by hashing. Returns false when it gave up (the deadline passed); `top` then
  // holds what was found so far, whose threshold caps the scan that follows.
  bool knn_hashing(const uint8_t* q, CountingTopK& top, QueryState& st, bool budgeted, bool batch) const;
  template <class Visit>
  bool probe(size_t j, unsigned r, QueryState& st, bool timed, Visit&& visit) const;
  bool range_hashing(const uint8_t* q, int32_t radius, std::vector<Neighbor<int32_t>>& out, QueryState& st,
                     bool budgeted) const;
  // Offers the tail (codes added after the last table build) to top.
  void scan_tail(const uint8_t* q, CountingTopK& top) const;
  // Appends every code of positions [begin, end) within radius to out.
  void scan_range(const uint8_t* q, size_t begin, size_t end, int32_t radius,
                  std::vector<Neighbor<int32_t>>& out) const;
  // The policy (hashing_policy.hpp) under this index's strategy and size.
  bool use_hashing_now() const;
  void record(bool hashed) const;
  // Expected nanoseconds of a linear scan for one query (batch: as part of a batch scan;
  // split: a single-query scan over all threads).
  double linear_cost(bool batch, bool split) const;

  size_t bits_;
  size_t fixed_m_;
  CodeStore store_;
  std::vector<Substring> subs_;
  std::vector<SubstringTable> tables_;
  size_t indexed_ = 0;
  Strategy strategy_ = Strategy::automatic;
  // When to hash and when to scan (cost model, adaptive fallback, counters); searches update it.
  mutable HashingPolicy policy_;
  // searches, save, snapshot: shared; add, remove, reserve, rebuild, set_strategy: exclusive
  mutable RwLock mu_;
};

}  // namespace deephash
