// Limits of the core, each defined once here; the bindings and the file loader check them.
#pragma once
#include <cstddef>
#include <string>

#include "deephash/errors.hpp"

namespace deephash {

// Longest code an index accepts, in bits (1 KiB per code; a binarised 4096-dimensional
// embedding fits twice over). It bounds the work that depends on the code length alone
// (choosing m, building tables) and is checked by every constructor and by the file loader,
// so a crafted file cannot make a load run for hours.
constexpr size_t kMaxBits = 8192;

// Most threads set_num_threads() accepts. Worker threads are started on demand and live until
// the process exits, so an unbounded count would start threads that never end.
constexpr int kMaxThreads = 1024;

// Most entries (nq * k) one k-NN search may return: 2^28 entries are 3 GiB of int32 distances
// and int64 ids. The output is padded to k columns, so a larger nq * k is refused before
// anything is allocated; internal work is sized by min(k, size()) whatever k is.
constexpr size_t kMaxResultEntries = size_t{1} << 28;

// Throws InvalidArgument unless bits is a positive multiple of 8 that is at most kMaxBits.
inline void check_bits(size_t bits) {
  if (bits == 0 || bits % 8 != 0 || bits > kMaxBits)
    throw InvalidArgument("bits must be a positive multiple of 8 and at most " + std::to_string(kMaxBits) + ", got " +
                          std::to_string(bits));
}

// Throws InvalidArgument when an (nq, k) result would exceed kMaxResultEntries.
inline void check_result_size(size_t nq, size_t k) {
  if (k != 0 && nq > kMaxResultEntries / k)
    throw InvalidArgument("a search returns at most " + std::to_string(kMaxResultEntries) +
                          " (nq * k) entries, got nq = " + std::to_string(nq) + ", k = " + std::to_string(k) +
                          "; search fewer queries at a time or a smaller k");
}

}  // namespace deephash
