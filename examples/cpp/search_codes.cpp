// A C++ service's view of deephash: build a FlatIndex and a MultiIndex over random 64-bit codes,
// search them, save and reload the flat index, and check that every answer agrees.
// Exits 0 when all agree, 1 otherwise (CI builds and runs it).
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "deephash/deephash.hpp"

int main() {
  const size_t bits = 64, n = 20000, nq = 5, k = 10;
  std::mt19937_64 rng(7);
  std::vector<uint8_t> codes(n * bits / 8), queries(nq * bits / 8);
  for (auto& b : codes) b = static_cast<uint8_t>(rng());
  for (auto& b : queries) b = static_cast<uint8_t>(rng());

  deephash::FlatIndex flat(bits);
  flat.add(codes.data(), n, nullptr);  // ids 0..n-1
  deephash::MultiIndex multi(bits);
  multi.add(codes.data(), n, nullptr);

  std::vector<int32_t> d_flat(nq * k), d_multi(nq * k), d_loaded(nq * k);
  std::vector<int64_t> i_flat(nq * k), i_multi(nq * k), i_loaded(nq * k);
  flat.search(queries.data(), nq, k, d_flat.data(), i_flat.data());
  multi.search(queries.data(), nq, k, d_multi.data(), i_multi.data());

  const char* path = "search_codes_example.dhx";
  flat.save(path);
  deephash::FlatIndex loaded = deephash::FlatIndex::load(path);
  loaded.search(queries.data(), nq, k, d_loaded.data(), i_loaded.data());
  std::remove(path);

  bool same = d_flat == d_multi && i_flat == i_multi && d_flat == d_loaded && i_flat == i_loaded;
  std::printf("deephash %s: nearest code to query 0 is id %lld at distance %d; %s\n",
              deephash::simd_level_name(deephash::simd_level()),
              static_cast<long long>(i_flat[0]), d_flat[0], same ? "all indexes agree" : "MISMATCH");
  return same ? 0 : 1;
}
