// The deephash index file format, shared by every index kind.
//
// Layout (little-endian):
//   [0, 128)            header: magic "DEEPHASH", format version, index kind, bits, count,
//                       a kind-specific parameter, offsets, payload checksum, header checksum
//   [codes_offset, ...) count * bits / 8 bytes of codes (64-byte aligned, for mmap)
//   [ids_offset, ...)   count int64 ids (64-byte aligned)
// Files are written atomically: to a temporary file beside the target, fsync, rename, fsync
// of the directory; a crash during save leaves the previous file whole. The temporary is named
// TARGET.tmp-<pid>-<n> and held under an exclusive advisory lock (flock) while it is written;
// a temporary of the same target that no live writer holds (its process was killed) is stale,
// and the next save removes it. A name left by a dead process whose PID is reused is skipped
// (O_EXCL, next n), so a restarted process can always save.
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

// A read-only memory map of a whole regular file (POSIX mmap).
class MappedFile {
 public:
  // Throws IoError if the path cannot be opened or is not a regular file (a FIFO, device or
  // directory is refused without blocking: the open is non-blocking).
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

// Writes an index file atomically. A symbolic link at `path` is followed and its final target
// replaced (the link stays); a directory, device, FIFO or socket is refused (IoError) rather
// than replaced. Throws IoError if the OS refuses, InvalidArgument for a path with a NUL byte.
void write_index_file(const std::string& path, const IndexFileInfo& info, const uint8_t* codes, const int64_t* ids);

// An index file opened and mapped once, its header validated. Loading dispatches on info().kind
// and reads the content from the same mapping, so a concurrent replace of the file (by an index
// of another kind) cannot make a valid load fail.
class IndexFile {
 public:
  // Throws FormatError if the file is not a deephash index or is truncated; IoError if it
  // cannot be read or is not a regular file; InvalidArgument for a path with a NUL byte.
  static IndexFile open(const std::string& path);
  const IndexFileInfo& info() const { return info_; }
  const std::string& path() const { return path_; }
  // Reads the codes and ids into `store` (mmap = view the file read-only instead of copying;
  // verify = check the payload checksum, which reads every page). Throws FormatError if the
  // payload is corrupted.
  void read_into(bool mmap, bool verify, CodeStore* store) const;

 private:
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  IndexFileInfo info_;
  uint64_t codes_offset_ = 0;
  uint64_t ids_offset_ = 0;
  uint64_t payload_checksum_ = 0;
};

// Reads only the header (validated). Throws FormatError / IoError.
IndexFileInfo read_index_header(const std::string& path);

// IndexFile::open(path) then read_into(mmap, verify, store); returns the header.
IndexFileInfo read_index_file(const std::string& path, bool mmap, bool verify, CodeStore* store);

}  // namespace deephash
