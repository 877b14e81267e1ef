// The index file format: header validation, checksum, atomic write, read and mmap.
#include "deephash/index_io.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

#include "deephash/errors.hpp"
#include "deephash/limits.hpp"

namespace deephash {
namespace {

constexpr char kMagic[8] = {'D', 'E', 'E', 'P', 'H', 'A', 'S', 'H'};
constexpr size_t kHeaderSize = 128;
constexpr size_t kAlign = 64;

// On-disk header; every field little-endian, fixed offsets (static_asserts below).
struct Header {
  char magic[8];
  uint32_t version;
  uint32_t kind;
  uint64_t bits;
  uint64_t count;
  uint64_t param;
  uint64_t codes_offset;
  uint64_t ids_offset;
  uint64_t file_size;
  uint64_t payload_checksum;
  uint8_t reserved[48];
  uint64_t header_checksum;  // of the 120 bytes before it
};
static_assert(sizeof(Header) == kHeaderSize, "header must be 128 bytes");
static_assert(offsetof(Header, header_checksum) == 120, "header layout");

uint64_t align_up(uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t rd64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::string errno_text() { return std::strerror(errno); }

// Layout of a file of `count` codes of `bits` bits.
void layout(uint64_t bits, uint64_t count, uint64_t* codes_off, uint64_t* ids_off, uint64_t* size) {
  const uint64_t max = std::numeric_limits<uint64_t>::max() / 4;
  if (bits / 8 != 0 && count > max / (bits / 8)) throw FormatError("index file: count too large");
  *codes_off = kHeaderSize;
  *ids_off = align_up(*codes_off + count * (bits / 8));
  if (count > max / 8) throw FormatError("index file: count too large");
  *size = *ids_off + count * 8;
}

Header validate_header(const uint8_t* data, size_t size, const std::string& path) {
  if (size < kHeaderSize)
    throw FormatError("'" + path + "' is not a deephash index: " + std::to_string(size) +
                      " bytes, shorter than the 128-byte header");
  Header h;
  std::memcpy(&h, data, sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0)
    throw FormatError("'" + path + "' is not a deephash index (wrong magic number)");
  if (checksum64(data, offsetof(Header, header_checksum)) != h.header_checksum)
    throw FormatError("'" + path + "' has a corrupted header (checksum mismatch)");
  if (h.version != kFormatVersion)
    throw FormatError("'" + path + "' has format version " + std::to_string(h.version) +
                      "; this build reads version " + std::to_string(kFormatVersion));
  if (h.kind != static_cast<uint32_t>(IndexKind::flat) &&
      h.kind != static_cast<uint32_t>(IndexKind::multi_index))
    throw FormatError("'" + path + "' holds an unknown index kind " + std::to_string(h.kind));
  if (h.bits == 0 || h.bits % 8 != 0 || h.bits > kMaxBits)
    throw FormatError("'" + path + "' has an invalid code length " + std::to_string(h.bits) +
                      " (a positive multiple of 8, at most " + std::to_string(kMaxBits) + ")");
  uint64_t codes_off, ids_off, fsize;
  layout(h.bits, h.count, &codes_off, &ids_off, &fsize);
  if (h.codes_offset != codes_off || h.ids_offset != ids_off || h.file_size != fsize)
    throw FormatError("'" + path + "' has an inconsistent header");
  if (size != fsize)
    throw FormatError("'" + path + "' is truncated or has trailing data: " + std::to_string(size) +
                      " bytes, expected " + std::to_string(fsize));
  return h;
}

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw IoError("cannot write '" + path + "': " + errno_text());
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

// A 4-lane multiply-rotate hash (64 bytes per step in 4 independent chains for speed).
uint64_t checksum64(const void* data, size_t n, uint64_t seed) noexcept {
  const uint64_t p1 = 0x9E3779B185EBCA87ULL, p2 = 0xC2B2AE3D27D4EB4FULL;
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t h[4] = {seed + p1 + p2, seed + p2, seed, seed - p1};
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int l = 0; l < 4; ++l) h[l] = rotl(h[l] + rd64(p + i + 8 * l) * p2, 31) * p1;
  uint64_t acc = rotl(h[0], 1) + rotl(h[1], 7) + rotl(h[2], 12) + rotl(h[3], 18);
  for (; i + 8 <= n; i += 8) acc = rotl(acc ^ (rd64(p + i) * p2), 27) * p1 + p2;
  for (; i < n; ++i) acc = rotl(acc ^ (p[i] * p1), 11) * p2;
  acc ^= n;
  acc ^= acc >> 33;
  acc *= p2;
  acc ^= acc >> 29;
  acc *= p1;
  acc ^= acc >> 32;
  return acc;
}

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError("cannot open '" + path + "': " + errno_text());
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    std::string e = errno_text();
    ::close(fd);
    throw IoError("cannot stat '" + path + "': " + e);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError("'" + path + "' is not a regular file");
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      std::string e = errno_text();
      ::close(fd);
      throw IoError("cannot map '" + path + "': " + e);
    }
    f->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void write_index_file(const std::string& path, const IndexFileInfo& info, const uint8_t* codes,
                      const int64_t* ids) {
  static std::atomic<uint64_t> counter{0};
  const uint64_t code_size = info.bits / 8;
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kFormatVersion;
  h.kind = static_cast<uint32_t>(info.kind);
  h.bits = info.bits;
  h.count = info.count;
  h.param = info.param;
  layout(info.bits, info.count, &h.codes_offset, &h.ids_offset, &h.file_size);
  const size_t codes_bytes = info.count * code_size;
  h.payload_checksum = checksum64(ids, info.count * 8, checksum64(codes, codes_bytes));
  h.header_checksum = checksum64(&h, offsetof(Header, header_checksum));

  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" +
                          std::to_string(counter.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError("cannot create '" + tmp + "': " + errno_text());
  try {
    static const uint8_t zeros[kAlign] = {};
    write_all(fd, &h, sizeof h, tmp);
    write_all(fd, codes, codes_bytes, tmp);
    write_all(fd, zeros, h.ids_offset - (h.codes_offset + codes_bytes), tmp);
    write_all(fd, ids, info.count * 8, tmp);
    if (::fsync(fd) != 0) throw IoError("cannot fsync '" + tmp + "': " + errno_text());
    if (::close(fd) != 0) {
      fd = -1;
      throw IoError("cannot close '" + tmp + "': " + errno_text());
    }
    fd = -1;
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw IoError("cannot rename '" + tmp + "' to '" + path + "': " + errno_text());
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable.
  int dfd = ::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

IndexFileInfo read_index_header(const std::string& path) {
  auto file = MappedFile::open(path);
  Header h = validate_header(file->data(), file->size(), path);
  return IndexFileInfo{static_cast<IndexKind>(h.kind), h.bits, h.count, h.param};
}

IndexFileInfo read_index_file(const std::string& path, bool mmap, bool verify, CodeStore* store) {
  auto file = MappedFile::open(path);
  Header h = validate_header(file->data(), file->size(), path);
  const uint8_t* codes = file->data() + h.codes_offset;
  const uint8_t* id_bytes = file->data() + h.ids_offset;
  const size_t codes_bytes = h.count * (h.bits / 8);
  if (verify &&
      checksum64(id_bytes, h.count * 8, checksum64(codes, codes_bytes)) != h.payload_checksum)
    throw FormatError("'" + path + "' is corrupted (payload checksum mismatch)");
  *store = CodeStore(h.bits / 8);
  if (mmap) {
    store->attach_mapped(file, codes, reinterpret_cast<const int64_t*>(id_bytes), h.count);
  } else {
    store->reserve(h.count);
    store->append(codes, reinterpret_cast<const int64_t*>(id_bytes), h.count);
  }
  return IndexFileInfo{static_cast<IndexKind>(h.kind), h.bits, h.count, h.param};
}

}  // namespace deephash
