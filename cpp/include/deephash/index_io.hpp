// The deephash index file format, shared by every index kind.
//
// Layout (little-endian):
//   [0, 128)            header: magic "DEEPHASH", format version, index kind, bits, count,
//                       a kind-specific parameter, offsets, payload checksum, header checksum
//   [codes_offset, ...) count * bits / 8 bytes of codes (64-byte aligned, for mmap)
//   [ids_offset, ...)   count int64 ids (64-byte aligned)
// Files are written atomically: to a temporary file beside the target, fsync, rename, fsync
// of the directory; a crash during save leaves the previous file whole.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "deephash/code_store.hpp"

namespace deephash {

constexpr uint32_t kFormatVersion = 1;

enum class IndexKind : uint32_t {
  flat = 1,
  multi_index = 2,
};

struct IndexFileInfo {
  IndexKind kind = IndexKind::flat;
  uint64_t bits = 0;
  uint64_t count = 0;
  uint64_t param = 0;  // kind-specific (number of substrings for multi-index hashing)
};

// A read-only memory map of a whole file (POSIX mmap; a plain read elsewhere).
class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// 64-bit checksum of a byte range (fast, not cryptographic); `seed` chains ranges.
uint64_t checksum64(const void* data, size_t n, uint64_t seed = 0) noexcept;

// Writes an index file atomically. Throws IoError if the OS refuses.
void write_index_file(const std::string& path, const IndexFileInfo& info, const uint8_t* codes,
                      const int64_t* ids);

// Reads only the header (validated). Throws FormatError / IoError.
IndexFileInfo read_index_header(const std::string& path);

// Reads a whole index file into `store` (mmap = view the file read-only instead of copying;
// verify = check the payload checksum, which reads every page). Throws FormatError if the file
// is not a deephash index, is truncated or corrupted; IoError if it cannot be read.
IndexFileInfo read_index_file(const std::string& path, bool mmap, bool verify, CodeStore* store);

}  // namespace deephash
