// The scan-ceiling microbenchmark (bench/ceiling): the fastest a core can compare a query with
// codes, per SIMD level, as a yardstick for the engine's scan (tools/scan_ceiling.py prints both).
//
// Each ceiling loop does the least work an exact scan must do per (query, code) pair: XOR and
// popcount every 64-bit word of the code, add the words of one code, compare the distance with a
// threshold. The loops read codes word-sliced (word w of 8 consecutive codes in one 512-bit
// register, or 4 in a 256-bit one), the layout in which adding a code's words needs no shuffle,
// so the figure is the popcount bound of the instruction set, not of the engine's row-major
// layout. Two forms of the compare:
//   cmp  one compare with the threshold per register of distances, the masks ORed, one branch
//        per 4 registers (what a scan that emits candidates must do at least);
//   min  a running minimum per register, one compare per 4 registers (a filter).
// The result (a count of codes within the threshold, or the minimum) is returned so that the
// compiler cannot drop the loop.
#pragma once
#include <cstddef>
#include <cstdint>

namespace deephash_bench {

// One pass over n codes of `words` 64-bit words (1, 2 or 4), laid out word-sliced in groups of
// `lanes` codes (8 for AVX-512, 4 for AVX2, 1 for scalar); returns a value depending on every code.
using CeilingLoop = uint64_t (*)(const uint64_t* codes, size_t n, size_t words, const uint64_t* query, int32_t thr);

struct LevelLoops {
  const char* level;
  size_t lanes;  // codes per word-sliced group
  CeilingLoop cmp;
  CeilingLoop min;
};

LevelLoops scalar_loops();
#if defined(DEEPHASH_BENCH_X86)
LevelLoops avx2_loops();
LevelLoops avx512_loops();
#endif

}  // namespace deephash_bench
