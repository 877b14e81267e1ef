// SubstringTable: counting-sort build (direct) or radix sort + open addressing (hashed).
#include "deephash/substring_table.hpp"

#include <algorithm>
#include <cstring>

#include "deephash/errors.hpp"

namespace deephash {

bool SubstringTable::use_direct(unsigned len, size_t n) {
  // 2^len + 1 offsets cost 4 bytes each: allow up to ~4 offsets per code (plus a small floor).
  // A hash would need about as much (8-byte slots at load <= 2/3) and one more cache miss.
  if (len > 30) return false;
  return (size_t{1} << len) <= 4 * n + 4096;
}

void SubstringTable::clear() {
  offsets_.clear();
  offsets_.shrink_to_fit();
  entries_.clear();
  entries_.shrink_to_fit();
  slots_.clear();
  slots_.shrink_to_fit();
  slot_mask_ = 0;
}

void SubstringTable::build(const uint32_t* keys, size_t n, unsigned len) {
  if (len == 0 || len > 32) throw InvalidArgument("substring length must be in [1, 32]");
  if (n >= kRemoved) throw InvalidArgument("multi-index tables hold fewer than 2^32 - 1 codes");
  clear();
  len_ = len;
  direct_ = use_direct(len, n);
  entries_.resize(n);
  if (direct_) {
    // Counting sort by key; scanning positions in order keeps each bucket ascending.
    const size_t nb = size_t{1} << len;
    offsets_.assign(nb + 1, 0);
    for (size_t i = 0; i < n; ++i) ++offsets_[keys[i] + 1];
    for (size_t b = 0; b < nb; ++b) offsets_[b + 1] += offsets_[b];
    for (size_t i = 0; i < n; ++i) entries_[offsets_[keys[i]]++] = static_cast<uint32_t>(i);
    // offsets_[b] now holds the end of bucket b: shift to get the starts back.
    std::memmove(offsets_.data() + 1, offsets_.data(), nb * sizeof(uint32_t));
    offsets_[0] = 0;
    return;
  }
  // Stable LSD radix sort of positions by key (two 16-bit digits).
  std::vector<uint32_t> tmp(n);
  std::vector<uint32_t> count(65537);
  for (size_t i = 0; i < n; ++i) entries_[i] = static_cast<uint32_t>(i);
  for (int pass = 0; pass < 2; ++pass) {
    const int shift = 16 * pass;
    std::fill(count.begin(), count.end(), 0u);
    for (size_t i = 0; i < n; ++i) ++count[((keys[entries_[i]] >> shift) & 0xFFFF) + 1];
    for (size_t d = 0; d < 65536; ++d) count[d + 1] += count[d];
    for (size_t i = 0; i < n; ++i) tmp[count[(keys[entries_[i]] >> shift) & 0xFFFF]++] = entries_[i];
    entries_.swap(tmp);
  }
  tmp.clear();
  tmp.shrink_to_fit();
  // Buckets: runs of equal keys.
  size_t distinct = 0;
  for (size_t i = 0; i < n; ++i)
    if (i == 0 || keys[entries_[i]] != keys[entries_[i - 1]]) ++distinct;
  size_t cap = 16;
  while (2 * cap < 3 * distinct) cap <<= 1;  // load factor <= 2/3
  slot_mask_ = cap - 1;
  slots_.assign(cap, uint64_t{kRemoved});
  offsets_.resize(distinct + 1);
  uint32_t b = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t key = keys[entries_[i]];
    if (i == 0 || key != keys[entries_[i - 1]]) {
      offsets_[b] = static_cast<uint32_t>(i);
      uint64_t s = hash(key) & slot_mask_;
      while (static_cast<uint32_t>(slots_[s]) != kRemoved) s = (s + 1) & slot_mask_;
      slots_[s] = (static_cast<uint64_t>(key) << 32) | b;
      ++b;
    }
  }
  offsets_[distinct] = static_cast<uint32_t>(n);
}

void SubstringTable::remap(const uint32_t* new_pos) {
  if (offsets_.empty()) return;
  const size_t nb = offsets_.size() - 1;
  uint32_t read = 0, write = 0;
  for (size_t b = 0; b < nb; ++b) {
    const uint32_t end = offsets_[b + 1];
    offsets_[b] = write;
    for (uint32_t e = read; e < end; ++e) {
      const uint32_t p = new_pos[entries_[e]];
      if (p != kRemoved) entries_[write++] = p;
    }
    read = end;
  }
  offsets_[nb] = write;
  entries_.resize(write);
}

size_t SubstringTable::memory_bytes() const {
  return (offsets_.capacity() + entries_.capacity()) * sizeof(uint32_t) + slots_.capacity() * sizeof(uint64_t);
}

}  // namespace deephash
