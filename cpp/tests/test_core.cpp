// C++ test of the core without Python: links deephash::core as a C++ service would and checks
// every SIMD level against a scalar reference. Every failed check is reported (check.hpp); the
// exit status is non-zero when any failed.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"
#include "deephash/deephash.hpp"

using namespace deephash;

static int ref_distance(const uint8_t* a, const uint8_t* b, size_t nbytes) {
  int d = 0;
  for (size_t i = 0; i < nbytes; ++i)
    for (int j = 0; j < 8; ++j) d += ((a[i] ^ b[i]) >> j) & 1;
  return d;
}

static void test_kernels(SimdLevel level, size_t nbytes, std::mt19937_64& rng) {
  const HammingKernels& k = hamming_kernels(level);
  const size_t n = 203;  // not a multiple of 8, 16 or 32: covers the tails
  std::vector<uint8_t> codes(n * nbytes), q(nbytes);
  for (auto& c : codes) c = static_cast<uint8_t>(rng());
  for (auto& c : q) c = static_cast<uint8_t>(rng());
  std::vector<int32_t> d(n), dist(n);
  std::vector<uint32_t> idx(n);
  k.distances(q.data(), codes.data(), n, nbytes, d.data());
  const int32_t thr = static_cast<int32_t>(nbytes * 4);
  size_t found = k.scan_leq(q.data(), codes.data(), n, nbytes, thr, idx.data(), dist.data());
  size_t expect_found = 0;
  for (size_t i = 0; i < n; ++i) {
    int r = ref_distance(q.data(), codes.data() + i * nbytes, nbytes);
    CHECK(d[i] == r);
    CHECK(k.distance(q.data(), codes.data() + i * nbytes, nbytes) == r);
    if (r <= thr) {
      CHECK(expect_found < found && idx[expect_found] == i && dist[expect_found] == r);
      ++expect_found;
    }
  }
  CHECK(found == expect_found);
}

static void test_index(std::mt19937_64& rng) {
  const size_t bits = 64, n = 5000, nq = 7, kk = 10;
  FlatIndex index(bits);
  std::vector<uint8_t> codes(n * 8);
  for (auto& c : codes) c = static_cast<uint8_t>(rng() & 0x0F);  // many ties
  index.add(codes.data(), n, nullptr);
  CHECK(index.size() == n);
  std::vector<int32_t> d(nq * kk);
  std::vector<int64_t> ids(nq * kk);
  index.search(codes.data(), nq, kk, d.data(), ids.data());
  for (size_t q = 0; q < nq; ++q) {
    // Brute force: the k smallest (distance, id).
    std::vector<std::pair<int, int64_t>> all;
    for (size_t i = 0; i < n; ++i)
      all.push_back({ref_distance(codes.data() + q * 8, codes.data() + i * 8, 8), static_cast<int64_t>(i)});
    std::sort(all.begin(), all.end());
    for (size_t j = 0; j < kk; ++j) {
      CHECK(d[q * kk + j] == all[j].first);
      CHECK(ids[q * kk + j] == all[j].second);
    }
  }
  int64_t drop[] = {0, 1, 2};
  CHECK(index.remove(drop, 3) == 3);
  CHECK(index.size() == n - 3);

  const std::string path = "deephash_core_test.dhx";
  index.save(path);
  FlatIndex loaded = FlatIndex::load(path, true);
  CHECK(loaded.size() == index.size());
  std::vector<int32_t> d2(nq * kk);
  std::vector<int64_t> ids2(nq * kk);
  index.search(codes.data(), nq, kk, d.data(), ids.data());
  loaded.search(codes.data(), nq, kk, d2.data(), ids2.data());
  CHECK(d == d2 && ids == ids2);
  std::remove(path.c_str());
  try {
    FlatIndex bad(12);
    CHECK(false);
  } catch (const InvalidArgument&) {
  }
}

static void test_parallel_for() {
  // Every task runs once, from concurrent callers sharing the pool.
  std::vector<std::thread> callers;
  std::vector<std::vector<int>> hits(4, std::vector<int>(1000, 0));
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&, c] {
      for (int rep = 0; rep < 20; ++rep) parallel_for(1000, 3, [&](size_t t) { hits[c][t] += 1; });
    });
  for (auto& t : callers) t.join();
  for (const auto& h : hits)
    for (int v : h) CHECK(v == 20);
  // The first exception of a task reaches the caller.
  bool caught = false;
  try {
    parallel_for(100, 2, [](size_t t) {
      if (t == 57) throw InvalidArgument("task 57");
    });
  } catch (const InvalidArgument&) {
    caught = true;
  }
  CHECK(caught);
}

int main() {
  std::mt19937_64 rng(12345);
  const SimdLevel top = detected_simd_level();
  for (int l = 0; l <= static_cast<int>(top); ++l)
    for (size_t nbytes : {1, 2, 3, 4, 5, 8, 9, 16, 24, 32, 40, 64, 72, 128, 256})
      test_kernels(static_cast<SimdLevel>(l), nbytes, rng);
  test_index(rng);
  test_parallel_for();
  std::printf("deephash core test: detected %s, %d failure(s)\n", simd_level_name(top), failures);
  return failures == 0 ? 0 : 1;
}
