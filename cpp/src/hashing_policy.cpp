// The cost model and adaptive fallback of MultiIndex (hashing_policy.hpp).
#include "deephash/hashing_policy.hpp"

#include <algorithm>

namespace deephash {

namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;
}

HashingPolicy::HashingPolicy(size_t code_size)
    // Guesses: a single query's scan is memory-bound, a batch scan cache-blocked.
    : scan_ps_single_(60 + 16 * code_size), scan_ps_batch_(20 + 10 * code_size) {}

HashingPolicy::HashingPolicy(const HashingPolicy& o) noexcept
    : giveup_streak_(o.giveup_streak_.load(kRelaxed)),
      query_counter_(o.query_counter_.load(kRelaxed)),
      hashed_(o.hashed_.load(kRelaxed)),
      linear_(o.linear_.load(kRelaxed)),
      scan_ps_single_(o.scan_ps_single_.load(kRelaxed)),
      scan_ps_batch_(o.scan_ps_batch_.load(kRelaxed)) {}

double HashingPolicy::linear_cost(size_t n, bool batch, bool split, int threads) const {
  // Picoseconds per code (per thread), times the codes. A batch scan shares cached blocks
  // between queries and costs far less per query than one query alone; a single query's scan is
  // split over the threads.
  const auto& rate = batch ? scan_ps_batch_ : scan_ps_single_;
  double ns = static_cast<double>(n) * static_cast<double>(rate.load(kRelaxed)) * 1e-3;
  if (split) ns /= static_cast<double>(std::max(1, threads));
  return ns;
}

void HashingPolicy::note_scan(bool batch, double seconds, double codes, int threads) {
  if (codes < kMinNotedCodes) return;
  auto& rate = batch ? scan_ps_batch_ : scan_ps_single_;
  const double ps = seconds * 1e12 * static_cast<double>(threads) / codes;
  const double old = static_cast<double>(rate.load(kRelaxed));
  rate.store(static_cast<uint64_t>(std::max(1.0, 0.75 * old + 0.25 * ps)), kRelaxed);
}

double HashingPolicy::budget_ns(bool budgeted, double scan_cost_ns, size_t n) const {
  if (budgeted) return kBudgetFraction * scan_cost_ns;
  return kForcedBudgetFactor * linear_cost(n, false, false, 1) + kForcedBudgetFloorNs;
}

bool HashingPolicy::try_hashing(size_t n, size_t m) {
  // A scan of a small index is cheaper than a few dozen probes.
  if (linear_cost(n, false, false, 1) < kMinProbesNs * static_cast<double>(m)) return false;
  if (giveup_streak_.load(kRelaxed) >= kGiveupStreak) return query_counter_.fetch_add(1, kRelaxed) % kProbeEvery == 0;
  return true;
}

void HashingPolicy::record(bool hashed) {
  if (hashed)
    giveup_streak_.store(0, kRelaxed);
  else
    giveup_streak_.fetch_add(1, kRelaxed);
}

void HashingPolicy::count(uint64_t hashed, uint64_t linear) {
  if (hashed) hashed_.fetch_add(hashed, kRelaxed);
  if (linear) linear_.fetch_add(linear, kRelaxed);
}

}  // namespace deephash
