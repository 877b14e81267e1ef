// C++ test of MultiIndex and the weighted kernels without Python: MultiIndex (forced hashing
// and automatic) against FlatIndex, after adds and removes; weighted kernels of every SIMD
// level against a direct sum of the quantised weights. Every failed check is reported
// (check.hpp); the exit status is non-zero when any failed.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "check.hpp"
#include "deephash/deephash.hpp"

using namespace deephash;

// n codes near a few random centres (each bit flipped with probability 1/8).
static std::vector<uint8_t> clustered(std::mt19937_64& rng, size_t n, size_t nbytes) {
  std::vector<uint8_t> centres(8 * nbytes), out(n * nbytes);
  for (auto& c : centres) c = static_cast<uint8_t>(rng());
  for (size_t i = 0; i < n; ++i) {
    const size_t c = rng() % 8;
    for (size_t b = 0; b < nbytes; ++b) {
      uint8_t flip = 0;
      for (int j = 0; j < 8; ++j) flip = static_cast<uint8_t>(flip | ((rng() % 8 == 0) << j));
      out[i * nbytes + b] = centres[c * nbytes + b] ^ flip;
    }
  }
  return out;
}

static void compare(const FlatIndex& flat, const MultiIndex& mi, const std::vector<uint8_t>& q, size_t nq, size_t k,
                    int32_t radius) {
  std::vector<int32_t> d1(nq * k), d2(nq * k);
  std::vector<int64_t> i1(nq * k), i2(nq * k);
  flat.search(q.data(), nq, k, d1.data(), i1.data());
  mi.search(q.data(), nq, k, d2.data(), i2.data());
  CHECK(d1 == d2);
  CHECK(i1 == i2);
  RangeResult r1 = flat.range_search(q.data(), nq, radius);
  RangeResult r2 = mi.range_search(q.data(), nq, radius);
  CHECK(r1.lims == r2.lims);
  CHECK(r1.distances == r2.distances);
  CHECK(r1.ids == r2.ids);
}

static void test_multi_index(size_t bits, MultiIndex::Strategy strategy) {
  std::mt19937_64 rng(bits);
  const size_t nb = bits / 8, n = 3000, nq = 20;
  FlatIndex flat(bits);
  MultiIndex mi(bits);
  mi.set_strategy(strategy);
  auto codes = clustered(rng, n, nb);
  flat.add(codes.data(), n, nullptr);
  mi.add(codes.data(), n, nullptr);
  std::vector<uint8_t> q(codes.begin(), codes.begin() + nq * nb);
  compare(flat, mi, q, nq, 10, static_cast<int32_t>(bits / 8));
  // Removes and a small add (kept in the linearly scanned tail).
  std::vector<int64_t> drop;
  for (int64_t id = 0; id < static_cast<int64_t>(n); id += 7) drop.push_back(id);
  CHECK(flat.remove(drop.data(), drop.size()) == mi.remove(drop.data(), drop.size()));
  auto more = clustered(rng, 50, nb);
  flat.add(more.data(), 50, nullptr);
  mi.add(more.data(), 50, nullptr);
  CHECK(mi.indexed() < mi.size());
  compare(flat, mi, q, nq, 25, static_cast<int32_t>(bits / 6));
  if (strategy == MultiIndex::Strategy::hashing) CHECK(mi.hashed_queries() > 0);
}

static void test_weighted(SimdLevel level, size_t bits) {
  std::mt19937_64 rng(bits + 100);
  const size_t nb = bits / 8, n = 517;
  std::vector<uint8_t> codes(n * nb), q(nb);
  for (auto& c : codes) c = static_cast<uint8_t>(rng());
  for (auto& c : q) c = static_cast<uint8_t>(rng());
  std::vector<float> w(bits);
  for (auto& x : w) x = static_cast<float>(rng() % 100000) / 997.0f;
  const QuantizedWeights qw = quantize_weights(w.data(), bits);
  const WeightedPlan plan = make_weighted_plan(qw, bits);
  CHECK(!plan.masked);
  std::vector<int32_t> ref(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t t = 0;
    for (size_t j = 0; j < bits; ++j)
      if (((codes[i * nb + j / 8] ^ q[j / 8]) >> (j % 8)) & 1) t += qw.units[j];
    ref[i] = static_cast<int32_t>(t);
  }
  std::vector<int32_t> sorted = ref;
  std::sort(sorted.begin(), sorted.end());
  const int32_t thr = sorted[n / 3];
  std::vector<uint32_t> idx(n);
  std::vector<int32_t> dist(n);
  const size_t found =
      weighted_kernels(level).lut_scan_leq(plan, q.data(), codes.data(), n, thr, idx.data(), dist.data());
  size_t expect = 0;
  for (size_t i = 0; i < n; ++i) expect += ref[i] <= thr;
  CHECK(found == expect);
  for (size_t f = 0; f < found; ++f) {
    CHECK(ref[idx[f]] == dist[f]);
    CHECK(f == 0 || idx[f] > idx[f - 1]);
  }
}

int main() {
  for (size_t bits : {32, 64, 72, 128, 256}) {
    test_multi_index(bits, MultiIndex::Strategy::hashing);
    test_multi_index(bits, MultiIndex::Strategy::automatic);
  }
  for (SimdLevel level : {SimdLevel::scalar, SimdLevel::avx2, SimdLevel::avx512})
    for (size_t bits : {8, 64, 72, 128, 256}) test_weighted(level, bits);
  if (failures) {
    std::fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  std::printf("multi-index and weighted tests passed\n");
  return 0;
}
