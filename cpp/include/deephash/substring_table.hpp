// SubstringTable: one table of multi-index hashing. It groups the positions of the indexed
// codes by the value of one substring (at most 32 bits) of each code, in CSR form: the
// positions of bucket b are entries[offsets[b], offsets[b + 1]), ascending.
//
// Buckets are addressed directly by the substring value when 2^len is small next to the number
// of codes (one offset per possible value); otherwise an open-addressing hash maps the values
// that occur to their bucket, so memory stays proportional to the number of codes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace deephash {

class SubstringTable {
 public:
  // Marks a removed position in remap().
  static constexpr uint32_t kRemoved = 0xFFFFFFFFu;

  // Indexes positions [0, n) with keys[i] the substring value of position i (len bits, 1..32).
  void build(const uint32_t* keys, size_t n, unsigned len);

  // Positions whose substring equals key, ascending: [*begin, *end).
  inline void lookup(uint32_t key, const uint32_t** begin, const uint32_t** end) const {
    uint32_t b;
    if (direct_) {
      b = key;
    } else {
      b = find_bucket(key);
      if (b == kRemoved) {
        *begin = *end = entries_.data();
        return;
      }
    }
    *begin = entries_.data() + offsets_[b];
    *end = entries_.data() + offsets_[b + 1];
  }

  // Starts loading what lookup(key) reads first (the probes of a batch then overlap).
  inline void prefetch(uint32_t key) const {
    if (direct_)
      __builtin_prefetch(offsets_.data() + key);
    else
      __builtin_prefetch(slots_.data() + (hash(key) & slot_mask_));
  }

  // Renumbers positions after a removal: new_pos[p] is the new position of old position p, or
  // kRemoved. new_pos must be increasing over the kept positions (the store keeps the order).
  void remap(const uint32_t* new_pos);

  void clear();
  unsigned len() const { return len_; }
  size_t size() const { return entries_.size(); }
  bool direct() const { return direct_; }
  size_t memory_bytes() const;

  // Whether a direct table (2^len + 1 offsets) is used for n codes.
  static bool use_direct(unsigned len, size_t n);

 private:
  inline uint32_t find_bucket(uint32_t key) const {
    uint64_t s = hash(key) & slot_mask_;
    for (;;) {
      const uint64_t v = slots_[s];
      const uint32_t b = static_cast<uint32_t>(v);
      if (b == kRemoved || static_cast<uint32_t>(v >> 32) == key) return b;
      s = (s + 1) & slot_mask_;
    }
  }
  static inline uint64_t hash(uint32_t key) { return (static_cast<uint64_t>(key) * 0x9E3779B97F4A7C15ull) >> 29; }

  unsigned len_ = 0;
  bool direct_ = true;
  std::vector<uint32_t> offsets_;  // direct: 2^len + 1 entries; hashed: buckets + 1
  std::vector<uint32_t> entries_;  // positions, grouped by bucket
  // Hashed addressing only: slot = key << 32 | bucket (one load per probe); bucket kRemoved
  // marks an empty slot.
  std::vector<uint64_t> slots_;
  uint64_t slot_mask_ = 0;
};

}  // namespace deephash
