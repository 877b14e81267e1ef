// Storage of an index's codes and ids: an owned buffer, or a read-only memory map of a saved
// index that is copied into memory on the first modification (copy-on-write).
//
// Shared ownership: the buffer is held through a std::shared_ptr, and snapshot() hands out a
// reference to it, so a view taken by a caller (the Python `codes` / `ids` arrays) stays valid
// whatever the store does afterwards. Bytes a snapshot can see are never changed: appends write
// past the end of every snapshot (a snapshot shows a prefix of the store), a reallocation moves
// the store to a new buffer and leaves the old one to its snapshots, and a remove compacts in
// place only when no snapshot shares the buffer (otherwise it builds a new one). Adding codes
// read from the store's own buffer (e.g. index.add(index.codes[:n])) is therefore safe too.
//
// Not synchronised: the index that owns a store serialises its mutations (see rw_lock.hpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deephash/rw_lock.hpp"
#include "deephash/scan_view.hpp"

namespace deephash {

class MappedFile;  // defined in index_io.hpp

class CodeStore {
 public:
  // The store's contents at one moment: size() codes and ids, valid as long as `owner` lives.
  struct Snapshot {
    std::shared_ptr<const void> owner;
    const uint8_t* codes = nullptr;
    const int64_t* ids = nullptr;
    size_t size = 0;
  };

  explicit CodeStore(size_t code_size = 0) : code_size_(code_size) {}
  // Move-only: two stores sharing one buffer would both append into its spare capacity.
  CodeStore(CodeStore&&) noexcept;
  CodeStore& operator=(CodeStore&&) noexcept;
  CodeStore(const CodeStore&) = delete;
  CodeStore& operator=(const CodeStore&) = delete;
  ~CodeStore();

  size_t code_size() const { return code_size_; }
  size_t size() const { return size_; }
  const uint8_t* codes() const { return codes_; }
  const int64_t* ids() const { return ids_; }
  bool is_mapped() const;
  // True when ids strictly increase with position (the default ids do): a scan in position order
  // then meets ties in id order, which lets k-NN skip candidates that only tie the threshold.
  bool ids_increasing() const { return ids_increasing_; }
  Snapshot snapshot() const;
  // A view of the entries now under `lock`, the owning index's read lock (scan_view.hpp).
  ScanView view(ReadLock lock) const {
    return ScanView{std::move(lock), codes_, ids_, size_, code_size_ * 8, ids_increasing_};
  }

  // Appends n codes with their ids. The source may lie inside this store's own buffer.
  void append(const uint8_t* codes, const int64_t* ids, size_t n);
  // Appends n codes with ids first_id, first_id + 1, ...
  void append_consecutive(const uint8_t* codes, int64_t first_id, size_t n);
  // Removes every entry whose id is in `ids` (keeping the order of the rest); returns how many.
  size_t remove(const int64_t* ids, size_t n);
  void clear();
  void reserve(size_t n);
  // Bytes held by codes and ids (capacity included; 0 for mapped storage).
  size_t memory_bytes() const;

  // Views `n` codes and ids inside a mapped file (kept alive by the store and its snapshots).
  void attach_mapped(std::shared_ptr<MappedFile> file, const uint8_t* codes, const int64_t* ids, size_t n);

 private:
  struct Buffer;
  // Makes room for `extra` more entries at the end; reallocates (copying the current entries
  // into a new buffer) when the buffer is mapped or full.
  void make_room(size_t extra);
  void adopt(std::shared_ptr<Buffer> buf);
  bool sole_owner() const;
  void note_appended(size_t first);  // updates ids_increasing_ for ids [first, size_)

  size_t code_size_;
  size_t size_ = 0;
  size_t capacity_ = 0;  // entries the buffer can hold (0 for a mapped buffer: never in place)
  std::shared_ptr<Buffer> buf_;
  uint8_t* wcodes_ = nullptr;  // writable views of an owned buffer (null when mapped)
  int64_t* wids_ = nullptr;
  const uint8_t* codes_ = nullptr;
  const int64_t* ids_ = nullptr;
  bool ids_increasing_ = true;
};

}  // namespace deephash
