// CodeStore: owned or memory-mapped codes and ids.
#include "deephash/code_store.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "deephash/errors.hpp"
#include "deephash/index_io.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace deephash {
namespace {

// Asks for transparent huge pages on the 2 MiB-aligned part of a large buffer before it is
// first written: scans then stream through 2 MiB pages (fewer TLB misses, and hardware
// prefetchers do not stop at every 4 KiB page boundary). A hint only; ignored where unsupported.
void advise_huge_pages(const void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace

void CodeStore::refresh_pointers() {
  if (!mapped_) {
    codes_ = own_codes_.data();
    ids_ = own_ids_.data();
  }
}

void CodeStore::materialize() {
  if (!mapped_) return;
  std::vector<uint8_t> codes(codes_, codes_ + size_ * code_size_);
  std::vector<int64_t> ids(ids_, ids_ + size_);
  own_codes_ = std::move(codes);
  own_ids_ = std::move(ids);
  mapped_.reset();
  refresh_pointers();
}

void CodeStore::reserve(size_t n) {
  materialize();
  if (n > own_ids_.capacity()) {
    own_codes_.reserve(n * code_size_);
    own_ids_.reserve(n);
    advise_huge_pages(own_codes_.data(), own_codes_.capacity());
  }
  refresh_pointers();
}

// Grows by at most 1/32 beyond what is needed, so memory stays within ~3% of codes + ids
// (at the price of more reallocations when many small batches are added).
void CodeStore::grow(size_t n) {
  materialize();
  size_t need = size_ + n;
  if (need > own_ids_.capacity()) {
    size_t cap = std::max(need, own_ids_.capacity() + own_ids_.capacity() / 32);
    own_codes_.reserve(cap * code_size_);
    own_ids_.reserve(cap);
    advise_huge_pages(own_codes_.data(), own_codes_.capacity());
  }
}

void CodeStore::note_appended(size_t first) {
  for (size_t i = first; i < size_ && ids_increasing_; ++i)
    if (i > 0 && ids_[i] <= ids_[i - 1]) ids_increasing_ = false;
}

void CodeStore::append(const uint8_t* codes, const int64_t* ids, size_t n) {
  if (n == 0) return;
  grow(n);
  own_codes_.insert(own_codes_.end(), codes, codes + n * code_size_);
  own_ids_.insert(own_ids_.end(), ids, ids + n);
  size_ += n;
  refresh_pointers();
  note_appended(size_ - n);
}

void CodeStore::append_consecutive(const uint8_t* codes, int64_t first_id, size_t n) {
  if (n == 0) return;
  grow(n);
  own_codes_.insert(own_codes_.end(), codes, codes + n * code_size_);
  for (size_t i = 0; i < n; ++i) own_ids_.push_back(first_id + static_cast<int64_t>(i));
  size_ += n;
  refresh_pointers();
  note_appended(size_ - n);
}

size_t CodeStore::remove(const int64_t* ids, size_t n) {
  if (n == 0 || size_ == 0) return 0;
  std::unordered_set<int64_t> drop(ids, ids + n);
  // Count first so an index that loses nothing stays mapped.
  size_t hits = 0;
  for (size_t i = 0; i < size_; ++i) hits += drop.count(ids_[i]);
  if (hits == 0) return 0;
  materialize();
  size_t w = 0;
  for (size_t r = 0; r < size_; ++r) {
    if (drop.count(own_ids_[r])) continue;
    if (w != r) {
      own_ids_[w] = own_ids_[r];
      std::memmove(own_codes_.data() + w * code_size_, own_codes_.data() + r * code_size_, code_size_);
    }
    ++w;
  }
  own_ids_.resize(w);
  own_codes_.resize(w * code_size_);
  size_ = w;
  refresh_pointers();
  return hits;
}

void CodeStore::clear() {
  mapped_.reset();
  own_codes_.clear();
  own_ids_.clear();
  size_ = 0;
  ids_increasing_ = true;
  refresh_pointers();
}

size_t CodeStore::memory_bytes() const {
  if (mapped_) return 0;
  return own_codes_.capacity() + own_ids_.capacity() * sizeof(int64_t);
}

void CodeStore::attach_mapped(std::shared_ptr<MappedFile> file, const uint8_t* codes,
                              const int64_t* ids, size_t n) {
  own_codes_.clear();
  own_codes_.shrink_to_fit();
  own_ids_.clear();
  own_ids_.shrink_to_fit();
  mapped_ = std::move(file);
  codes_ = codes;
  ids_ = ids;
  size_ = n;
  ids_increasing_ = true;
  note_appended(0);
}

}  // namespace deephash
