// Small helpers shared by the core's translation units: unaligned loads and integer arithmetic.
//
// Safe to share with the per-ISA units (included before their ISA namespace, see
// hamming_impl.hpp): nothing here compiles to an instruction that their flags change (a load
// through memcpy, integer arithmetic), so whichever copy the linker keeps is right everywhere.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace deephash {

inline uint64_t load_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Popcount in a few ALU operations, for units compiled for the baseline x86 ISA (MultiIndex's
// candidate check), where __builtin_popcountll becomes a library call.
inline int popcount64_swar(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return static_cast<int>((x * 0x0101010101010101ull) >> 56);
}

inline size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

// Smallest c with 2^c >= x.
inline int ceil_log2(size_t x) {
  int c = 0;
  while ((size_t{1} << c) < x) ++c;
  return c;
}

}  // namespace deephash
