// When MultiIndex hashes and when it scans: a cost model of the index's own linear scans and an
// adaptive fallback (after a run of queries that gave up on hashing, hashing is skipped except
// for an occasional probe), plus the counters of how queries were answered.
//
// Only speed depends on these decisions, never results. Thread-safe: searches running together
// update it; every member is a relaxed atomic (a lost update only changes a speed estimate).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace deephash {

class HashingPolicy {
 public:
  // Hashing gives up when its time passes this fraction of the expected time of a linear scan:
  // the worst case, hashing hopeless, then costs at most ~1.5x a scan for the first queries, and
  // the adaptive skip brings that close to 1x when hashing keeps failing.
  static constexpr double kBudgetFraction = 0.5;
  // In forced hashing mode (tests, benchmarks) a generous limit still prevents pathological runs.
  static constexpr double kForcedBudgetFactor = 200.0;
  static constexpr double kForcedBudgetFloorNs = 2e7;
  static constexpr uint32_t kGiveupStreak = 8;    // failures in a row before hashing is mostly skipped
  static constexpr uint64_t kProbeEvery = 32;     // ... then one query in this many still tries it
  static constexpr double kMinProbesNs = 2000.0;  // per table: below this a scan beats the probes
  static constexpr double kMinNotedCodes = 1e5;   // smaller scans are too short to time

  // Initial scan rates guessed from the code size (refined by note_scan).
  explicit HashingPolicy(size_t code_size);
  // Copies the learnt state (for moving an index; not synchronised).
  HashingPolicy(const HashingPolicy& o) noexcept;
  HashingPolicy& operator=(const HashingPolicy&) = delete;

  // Expected nanoseconds of a linear scan of n codes for one query: as part of a batch scan
  // (blocks shared between queries) or alone; split: alone, over `threads` threads.
  double linear_cost(size_t n, bool batch, bool split, int threads) const;
  // Records a scan that took `seconds` for `codes` (queries x codes) on `threads` threads.
  void note_scan(bool batch, double seconds, double codes, int threads);

  // Time allowed to one hashing attempt (ns): budgeted, a fraction of the scan it competes with
  // (scan_cost_ns); forced, a generous limit from the single-query scan of n codes.
  double budget_ns(bool budgeted, double scan_cost_ns, size_t n) const;

  // Automatic mode: whether the next query over n codes and m tables should try hashing.
  bool try_hashing(size_t n, size_t m);
  // Automatic mode: the outcome of an attempt (false: it gave up and the query was scanned).
  void record(bool hashed);

  // Queries answered so far by hashing and by the linear scan.
  void count(uint64_t hashed, uint64_t linear);
  uint64_t hashed_queries() const { return hashed_.load(std::memory_order_relaxed); }
  uint64_t linear_queries() const { return linear_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t> giveup_streak_{0};
  std::atomic<uint64_t> query_counter_{0};
  std::atomic<uint64_t> hashed_{0};
  std::atomic<uint64_t> linear_{0};
  // Measured cost of the index's linear scans, picoseconds per code and thread, for single
  // queries and for batches.
  std::atomic<uint64_t> scan_ps_single_;
  std::atomic<uint64_t> scan_ps_batch_;
};

}  // namespace deephash
