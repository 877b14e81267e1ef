// C++ test of HashingPolicy (hashing_policy.hpp), MultiIndex's cost model and adaptive fallback,
// on its own: no index, no timing. Every failed check is reported; the exit status is non-zero
// when any failed.
#include <cmath>
#include <cstdio>

#include "check.hpp"
#include "deephash/hashing_policy.hpp"

using deephash::HashingPolicy;

static bool near(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::fabs(b); }

static void test_cost_model() {
  HashingPolicy p(8);  // initial guesses: 188 ps/code single, 100 ps/code batch
  CHECK(near(p.linear_cost(1000000, false, false, 4), 1000000 * 188e-3));
  CHECK(near(p.linear_cost(1000000, true, false, 4), 1000000 * 100e-3));
  // Split over threads: the single-query scan divided by the threads (0 threads count as 1).
  CHECK(near(p.linear_cost(1000000, false, true, 4), 1000000 * 188e-3 / 4));
  CHECK(near(p.linear_cost(1000000, false, true, 0), 1000000 * 188e-3));
  CHECK(p.linear_cost(0, false, false, 1) == 0.0);
  // Wider codes start with a higher guess.
  CHECK(HashingPolicy(32).linear_cost(1000, false, false, 1) > p.linear_cost(1000, false, false, 1));

  // Scans too short to time are ignored.
  p.note_scan(false, 1.0, 1e4, 1);
  CHECK(near(p.linear_cost(1000, false, false, 1), 1000 * 188e-3));
  // A measured rate moves the estimate a quarter of the way, per thread: 1e6 codes in 1 ms on
  // 2 threads is 2000 ps per code and thread -> 0.75 * 188 + 0.25 * 2000 = 641.
  p.note_scan(false, 1e-3, 1e6, 2);
  CHECK(near(p.linear_cost(1000, false, false, 1), 1000 * 641e-3));
  CHECK(near(p.linear_cost(1000, true, false, 1), 1000 * 100e-3));  // the batch rate is separate
  // Repeated measurements converge to the measured rate.
  for (int i = 0; i < 100; ++i) p.note_scan(true, 5e-5, 1e6, 1);  // 50 ps per code
  CHECK(std::fabs(p.linear_cost(1000, true, false, 1) - 50.0) < 1.0);
  // The rate never drops to zero (at least 1 ps per code).
  for (int i = 0; i < 100; ++i) p.note_scan(true, 0.0, 1e6, 1);
  CHECK(p.linear_cost(1000, true, false, 1) >= 1.0);

  // A copy carries the learnt rates.
  HashingPolicy c(p);
  CHECK(c.linear_cost(1000, true, false, 1) == p.linear_cost(1000, true, false, 1));
  CHECK(c.linear_cost(1000, false, false, 1) == p.linear_cost(1000, false, false, 1));
}

static void test_budget() {
  HashingPolicy p(8);
  CHECK(near(p.budget_ns(true, 1000.0, 1000000), HashingPolicy::kBudgetFraction * 1000.0));
  // Forced hashing: generous, from the single-query scan of the index, with a floor.
  const double forced = p.budget_ns(false, 1000.0, 1000000);
  CHECK(near(forced, HashingPolicy::kForcedBudgetFactor * 1000000 * 188e-3 + HashingPolicy::kForcedBudgetFloorNs));
  CHECK(p.budget_ns(false, 0.0, 0) == HashingPolicy::kForcedBudgetFloorNs);
}

static void test_fallback() {
  HashingPolicy p(8);
  const size_t big = 10000000, m = 3;
  // A small index: a scan is cheaper than the probes.
  CHECK(!p.try_hashing(10, m));
  CHECK(p.try_hashing(big, m));
  // Failures below the streak keep hashing on; the streak then makes it rare.
  for (uint32_t i = 0; i + 1 < HashingPolicy::kGiveupStreak; ++i) p.record(false);
  CHECK(p.try_hashing(big, m));
  p.record(false);
  int tried = 0;
  for (uint64_t i = 0; i < 10 * HashingPolicy::kProbeEvery; ++i) tried += p.try_hashing(big, m) ? 1 : 0;
  CHECK(tried == 10);
  // One success resets the streak.
  p.record(true);
  for (int i = 0; i < 5; ++i) CHECK(p.try_hashing(big, m));
}

static void test_counters() {
  HashingPolicy p(8);
  CHECK(p.hashed_queries() == 0 && p.linear_queries() == 0);
  p.count(3, 0);
  p.count(0, 2);
  p.count(1, 1);
  CHECK(p.hashed_queries() == 4);
  CHECK(p.linear_queries() == 3);
  HashingPolicy c(p);
  CHECK(c.hashed_queries() == 4 && c.linear_queries() == 3);
}

int main() {
  test_cost_model();
  test_budget();
  test_fallback();
  test_counters();
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("hashing policy tests passed\n");
  return 0;
}
