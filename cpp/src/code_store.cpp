// CodeStore: owned or memory-mapped codes and ids, shared with snapshots (copy-on-write).
#include "deephash/code_store.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
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

// One generation of a store's contents: owned arrays (malloc: no zero-filling of memory that is
// written next anyway), or a view into a mapped file.
struct CodeStore::Buffer {
  uint8_t* codes = nullptr;
  int64_t* ids = nullptr;
  std::shared_ptr<MappedFile> file;
  // Live snapshots of this buffer. Counted separately from the shared_ptr: the release by the
  // last snapshot (acquired in sole_owner) orders its reads before an in-place compaction.
  std::atomic<size_t> pins{0};

  Buffer() = default;
  Buffer(size_t capacity, size_t code_size) {
    if (capacity > std::numeric_limits<size_t>::max() / std::max<size_t>(code_size, 8)) throw std::bad_alloc();
    codes = static_cast<uint8_t*>(std::malloc(std::max<size_t>(capacity * code_size, 1)));
    ids = static_cast<int64_t*>(std::malloc(std::max<size_t>(capacity * sizeof(int64_t), 1)));
    if (codes == nullptr || ids == nullptr) {
      std::free(codes);
      std::free(ids);
      throw std::bad_alloc();
    }
    advise_huge_pages(codes, capacity * code_size);
  }
  ~Buffer() {
    std::free(codes);
    std::free(ids);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

namespace {

// What a snapshot holds: the buffer, pinned (see Buffer::pins).
struct Pin {
  std::shared_ptr<void> buf;
  std::atomic<size_t>* pins;
  Pin(std::shared_ptr<void> b, std::atomic<size_t>* p) : buf(std::move(b)), pins(p) {
    pins->fetch_add(1, std::memory_order_relaxed);
  }
  ~Pin() { pins->fetch_sub(1, std::memory_order_release); }
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;
};

}  // namespace

CodeStore::CodeStore(CodeStore&& o) noexcept { *this = std::move(o); }

CodeStore& CodeStore::operator=(CodeStore&& o) noexcept {
  if (this == &o) return *this;
  code_size_ = o.code_size_;
  size_ = o.size_;
  capacity_ = o.capacity_;
  buf_ = std::move(o.buf_);
  wcodes_ = o.wcodes_;
  wids_ = o.wids_;
  codes_ = o.codes_;
  ids_ = o.ids_;
  ids_increasing_ = o.ids_increasing_;
  o.clear();
  return *this;
}

CodeStore::~CodeStore() = default;

bool CodeStore::is_mapped() const { return buf_ && buf_->file; }

bool CodeStore::sole_owner() const { return buf_ && !buf_->file && buf_->pins.load(std::memory_order_acquire) == 0; }

CodeStore::Snapshot CodeStore::snapshot() const {
  Snapshot s;
  if (buf_) s.owner = std::make_shared<Pin>(buf_, &buf_->pins);
  s.codes = codes_;
  s.ids = ids_;
  s.size = size_;
  return s;
}

void CodeStore::adopt(std::shared_ptr<Buffer> buf) {
  buf_ = std::move(buf);
  wcodes_ = buf_->codes;
  wids_ = buf_->ids;
  codes_ = wcodes_;
  ids_ = wids_;
}

void CodeStore::make_room(size_t extra) {
  if (extra > std::numeric_limits<size_t>::max() - size_) throw std::bad_alloc();
  const size_t need = size_ + extra;
  if (wcodes_ != nullptr && need <= capacity_) return;  // in place: past every snapshot's end
  // Grows by at most 1/32 beyond what is needed, so memory stays within ~3% of codes + ids
  // (at the price of more reallocations when many small batches are added).
  const size_t cap = std::max(need, capacity_ + capacity_ / 32);
  auto fresh = std::make_shared<Buffer>(cap, code_size_);
  if (size_ > 0) {
    std::memcpy(fresh->codes, codes_, size_ * code_size_);
    std::memcpy(fresh->ids, ids_, size_ * sizeof(int64_t));
  }
  adopt(std::move(fresh));  // the old buffer lives on while a snapshot (or the caller) holds it
  capacity_ = cap;
}

void CodeStore::reserve(size_t n) {
  // A mapped store is copied into memory (reserve announces adds).
  if (wcodes_ != nullptr && n <= capacity_) return;
  make_room(std::max(n, size_) - size_);
}

void CodeStore::note_appended(size_t first) {
  for (size_t i = first; i < size_ && ids_increasing_; ++i)
    if (i > 0 && ids_[i] <= ids_[i - 1]) ids_increasing_ = false;
}

void CodeStore::append(const uint8_t* codes, const int64_t* ids, size_t n) {
  if (n == 0) return;
  // The source may point into the current buffer (index.add(index.codes[:n])): keep that
  // buffer alive until it has been copied, whether or not the store moves to a new one.
  const std::shared_ptr<Buffer> keep = buf_;
  make_room(n);
  std::memcpy(wcodes_ + size_ * code_size_, codes, n * code_size_);
  std::memcpy(wids_ + size_, ids, n * sizeof(int64_t));
  size_ += n;
  note_appended(size_ - n);
}

void CodeStore::append_consecutive(const uint8_t* codes, int64_t first_id, size_t n) {
  if (n == 0) return;
  const std::shared_ptr<Buffer> keep = buf_;
  make_room(n);
  std::memcpy(wcodes_ + size_ * code_size_, codes, n * code_size_);
  for (size_t i = 0; i < n; ++i) wids_[size_ + i] = first_id + static_cast<int64_t>(i);
  size_ += n;
  note_appended(size_ - n);
}

size_t CodeStore::remove(const int64_t* ids, size_t n) {
  if (n == 0 || size_ == 0) return 0;
  std::unordered_set<int64_t> drop(ids, ids + n);
  // Count first so an index that loses nothing keeps its buffer (a mapped one stays mapped).
  size_t hits = 0;
  for (size_t i = 0; i < size_; ++i) hits += drop.count(ids_[i]);
  if (hits == 0) return 0;
  const size_t keep = size_ - hits;
  const size_t cs = code_size_;
  if (sole_owner()) {
    // No snapshot can see these bytes: compact in place.
    size_t w = 0;
    for (size_t r = 0; r < size_; ++r) {
      if (drop.count(wids_[r])) continue;
      if (w != r) {
        wids_[w] = wids_[r];
        std::memmove(wcodes_ + w * cs, wcodes_ + r * cs, cs);
      }
      ++w;
    }
  } else {
    // Mapped, or shared with a snapshot: the kept entries go to a new buffer.
    auto fresh = std::make_shared<Buffer>(keep, cs);
    size_t w = 0;
    for (size_t r = 0; r < size_; ++r) {
      if (drop.count(ids_[r])) continue;
      fresh->ids[w] = ids_[r];
      std::memcpy(fresh->codes + w * cs, codes_ + r * cs, cs);
      ++w;
    }
    adopt(std::move(fresh));
    capacity_ = keep;
  }
  size_ = keep;
  return hits;
}

void CodeStore::clear() {
  buf_.reset();
  wcodes_ = nullptr;
  wids_ = nullptr;
  codes_ = nullptr;
  ids_ = nullptr;
  size_ = 0;
  capacity_ = 0;
  ids_increasing_ = true;
}

size_t CodeStore::memory_bytes() const {
  if (wcodes_ == nullptr) return 0;
  return capacity_ * (code_size_ + sizeof(int64_t));
}

void CodeStore::attach_mapped(std::shared_ptr<MappedFile> file, const uint8_t* codes, const int64_t* ids, size_t n) {
  clear();
  auto view = std::make_shared<Buffer>();
  view->file = std::move(file);
  buf_ = std::move(view);
  codes_ = codes;
  ids_ = ids;
  size_ = n;
  note_appended(0);
}

}  // namespace deephash
