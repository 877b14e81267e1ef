// Storage of an index's codes and ids: owned vectors, or a read-only memory map of a saved
// index that is copied into memory on the first modification (copy-on-write).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace deephash {

class MappedFile;  // defined in index_io.hpp

class CodeStore {
 public:
  explicit CodeStore(size_t code_size = 0) : code_size_(code_size) {}

  size_t code_size() const { return code_size_; }
  size_t size() const { return size_; }
  const uint8_t* codes() const { return codes_; }
  const int64_t* ids() const { return ids_; }
  bool is_mapped() const { return mapped_ != nullptr; }
  // True when ids strictly increase with position (the default ids do): a scan in position order
  // then meets ties in id order, which lets k-NN skip candidates that only tie the threshold.
  bool ids_increasing() const { return ids_increasing_; }

  // Appends n codes with their ids.
  void append(const uint8_t* codes, const int64_t* ids, size_t n);
  // Appends n codes with ids first_id, first_id + 1, ...
  void append_consecutive(const uint8_t* codes, int64_t first_id, size_t n);
  // Removes every entry whose id is in `ids` (keeping the order of the rest); returns how many.
  size_t remove(const int64_t* ids, size_t n);
  void clear();
  void reserve(size_t n);
  // Bytes held by codes and ids (capacity included; 0 for mapped storage).
  size_t memory_bytes() const;

  // Views `n` codes and ids inside a mapped file (kept alive by the store).
  void attach_mapped(std::shared_ptr<MappedFile> file, const uint8_t* codes, const int64_t* ids,
                     size_t n);

 private:
  void materialize();  // copy mapped data into owned vectors
  void grow(size_t n);
  void refresh_pointers();
  void note_appended(size_t first);  // updates ids_increasing_ for ids [first, size_)

  size_t code_size_;
  size_t size_ = 0;
  std::vector<uint8_t> own_codes_;
  std::vector<int64_t> own_ids_;
  std::shared_ptr<MappedFile> mapped_;
  const uint8_t* codes_ = nullptr;
  const int64_t* ids_ = nullptr;
  bool ids_increasing_ = true;
};

}  // namespace deephash
