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

inline size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

// Smallest c with 2^c >= x.
inline int ceil_log2(size_t x) {
  int c = 0;
  while ((size_t{1} << c) < x) ++c;
  return c;
}

}  // namespace deephash
