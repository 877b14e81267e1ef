// Scalar ceiling loops (no ISA flags, like the engine's scalar level: on x86 the compiler turns
// __builtin_popcountll into a bit-twiddling sequence, on aarch64 into NEON cnt).
#include "ceiling.hpp"

namespace deephash_bench {
namespace {

template <size_t W>
uint64_t cmp_w(const uint64_t* c, size_t n, const uint64_t* q, int32_t thr) {
  uint64_t hits = 0;
  for (size_t i = 0; i < n; ++i, c += W) {
    int32_t d = 0;
    for (size_t w = 0; w < W; ++w) d += __builtin_popcountll(c[w] ^ q[w]);
    hits += d <= thr;
  }
  return hits;
}

template <size_t W>
uint64_t min_w(const uint64_t* c, size_t n, const uint64_t* q, int32_t /*thr*/) {
  int32_t m = 1 << 30;
  for (size_t i = 0; i < n; ++i, c += W) {
    int32_t d = 0;
    for (size_t w = 0; w < W; ++w) d += __builtin_popcountll(c[w] ^ q[w]);
    m = d < m ? d : m;
  }
  return static_cast<uint64_t>(m);
}

uint64_t cmp_any(const uint64_t* c, size_t n, size_t words, const uint64_t* q, int32_t thr) {
  switch (words) {
    case 1: return cmp_w<1>(c, n, q, thr);
    case 2: return cmp_w<2>(c, n, q, thr);
    default: return cmp_w<4>(c, n, q, thr);
  }
}

uint64_t min_any(const uint64_t* c, size_t n, size_t words, const uint64_t* q, int32_t thr) {
  switch (words) {
    case 1: return min_w<1>(c, n, q, thr);
    case 2: return min_w<2>(c, n, q, thr);
    default: return min_w<4>(c, n, q, thr);
  }
}

}  // namespace

LevelLoops scalar_loops() { return {"scalar", 1, &cmp_any, &min_any}; }

}  // namespace deephash_bench
