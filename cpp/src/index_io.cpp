// The index file format: header validation, checksum, atomic write, read and mmap.
#include "deephash/index_io.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "bits_util.hpp"
#include "deephash/errors.hpp"
#include "deephash/limits.hpp"
#include "deephash/topk.hpp"

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

// An IoError for the current errno: "<action> '<path>': <reason>", errno and path attached.
[[noreturn]] void throw_errno(const std::string& action, const std::string& path) {
  const int err = errno;
  throw IoError(action + " '" + path + "': " + std::strerror(err), err, path);
}

// The C library cuts a path at its first NUL; Python's open() refuses it, so do we.
void check_path(const std::string& path) {
  if (path.find('\0') != std::string::npos)
    throw InvalidArgument("path must not contain a NUL byte, got " + std::to_string(path.size()) +
                          " characters with a NUL at " + std::to_string(path.find('\0')));
}

const char* file_type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

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
    throw FormatError("'" + path + "' has format version " + std::to_string(h.version) + "; this build reads version " +
                      std::to_string(kFormatVersion));
  if (h.kind != static_cast<uint32_t>(IndexKind::flat) && h.kind != static_cast<uint32_t>(IndexKind::multi_index))
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
      throw_errno("cannot write", path);
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

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The file a save to `path` replaces: `path` itself, or the final target of the symbolic
// links at `path` (so that `latest.dhx -> v3.dhx` keeps pointing at the new v3.dhx). Refuses
// directories, devices, FIFOs and sockets: renaming over them would silently replace them
// with a regular file.
std::string resolve_save_target(const std::string& path) {
  std::string p = path;
  for (int hops = 0;; ++hops) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) return p;  // a new file (the parent must exist: create reports it)
      throw_errno("cannot save to", p);
    }
    if (S_ISREG(st.st_mode)) return p;
    if (S_ISDIR(st.st_mode)) {
      errno = EISDIR;
      throw_errno("cannot save to", p);
    }
    if (!S_ISLNK(st.st_mode))
      throw IoError("cannot save to '" + p + "': it is " + file_type_name(st.st_mode) +
                        ", not a regular file (only regular files are replaced)",
                    0, p);
    if (hops == 40) {  // the limit of the kernel's own resolution
      errno = ELOOP;
      throw_errno("cannot save to", path);
    }
    std::vector<char> buf(static_cast<size_t>(st.st_size > 0 ? st.st_size : 255) + 1);
    const ssize_t len = ::readlink(p.c_str(), buf.data(), buf.size());
    if (len < 0) throw_errno("cannot read the symbolic link", p);
    if (static_cast<size_t>(len) == buf.size()) {  // the link changed meanwhile
      errno = EAGAIN;
      throw_errno("cannot read the symbolic link", p);
    }
    const std::string target(buf.data(), static_cast<size_t>(len));
    p = target[0] == '/' ? target : parent_dir(p) + "/" + target;
  }
}

// True for a name TARGET_BASE.tmp-<digits>-<digits>: a temporary of a save of that target.
bool is_temporary_of(const std::string& name, const std::string& prefix) {
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t i = prefix.size(), digits = 0;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) ++digits;
  if (digits == 0 || i == name.size() || name[i] != '-') return false;
  digits = 0;
  for (++i; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) ++digits;
  return digits > 0 && i == name.size();
}

// Removes the temporaries of `target` that no live writer holds: a writer holds an exclusive
// flock on its temporary from before it writes until after the rename, so a temporary whose
// lock can be taken was left by a killed process. Removal is checked under that lock (the name
// must still name the locked file), so a live writer's file is never removed. Errors are
// ignored: cleaning up is best effort and must not make a save fail.
void remove_stale_temporaries(const std::string& target) {
  const std::string dir = parent_dir(target);
  const std::string prefix = base_name(target) + ".tmp-";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  DIR* d = ::fdopendir(dfd);
  if (d == nullptr) {
    ::close(dfd);
    return;
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d))
    if (is_temporary_of(e->d_name, prefix)) names.emplace_back(e->d_name);
  for (const std::string& name : names) {
    const int fd = ::openat(dfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat held, now;
    if (::fstat(fd, &held) == 0 && S_ISREG(held.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        ::fstatat(dfd, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == held.st_ino &&
        now.st_dev == held.st_dev)
      ::unlinkat(dfd, name.c_str(), 0);
    ::close(fd);  // releases the lock
  }
  ::closedir(d);  // closes dfd
}

// A temporary file beside `target`, created exclusively and locked (see
// remove_stale_temporaries): returns its descriptor and sets *name.
int create_locked_temporary(const std::string& target, std::string* name) {
  static std::atomic<uint64_t> counter{0};
  const std::string stem = target + ".tmp-" + std::to_string(::getpid()) + "-";
  for (int attempt = 0; attempt < 1000; ++attempt) {
    *name = stem + std::to_string(counter.fetch_add(1));
    const int fd = ::open(name->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (errno == EEXIST) continue;  // left by a dead process with our PID: take the next n
      throw_errno("cannot create", *name);
    }
    int rc;
    while ((rc = ::flock(fd, LOCK_EX)) != 0 && errno == EINTR) {
    }
    // Without flock support (some network file systems) nobody can take the lock either, so
    // no cleaner removes the file: writing unlocked is safe. With it, a cleaner may have
    // removed the file between the open and the lock: then start again under a new name.
    struct stat mine, named;
    if (rc == 0 && (::fstat(fd, &mine) != 0 || ::stat(name->c_str(), &named) != 0 || mine.st_ino != named.st_ino ||
                    mine.st_dev != named.st_dev)) {
      ::close(fd);
      continue;
    }
    return fd;
  }
  errno = EEXIST;
  throw_errno("cannot create a temporary file beside", target);
}

}  // namespace

// A 4-lane multiply-rotate hash (64 bytes per step in 4 independent chains for speed).
uint64_t checksum64(const void* data, size_t n, uint64_t seed) noexcept {
  const uint64_t p1 = 0x9E3779B185EBCA87ULL, p2 = 0xC2B2AE3D27D4EB4FULL;
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t h[4] = {seed + p1 + p2, seed + p2, seed, seed - p1};
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int l = 0; l < 4; ++l) h[l] = rotl(h[l] + load_u64(p + i + 8 * l) * p2, 31) * p1;
  uint64_t acc = rotl(h[0], 1) + rotl(h[1], 7) + rotl(h[2], 12) + rotl(h[3], 18);
  for (; i + 8 <= n; i += 8) acc = rotl(acc ^ (load_u64(p + i) * p2), 27) * p1 + p2;
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
  check_path(path);
  // O_NONBLOCK: opening a FIFO must not wait for a writer; the type is checked right after.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw_errno("cannot open", path);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    throw_errno("cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    if (S_ISDIR(st.st_mode)) {
      errno = EISDIR;
      throw_errno("cannot load", path);
    }
    throw IoError("cannot load '" + path + "': it is " + file_type_name(st.st_mode) + ", not a regular file", 0, path);
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      errno = err;
      throw_errno("cannot map", path);
    }
    f->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void write_index_file(const std::string& path, const IndexFileInfo& info, const uint8_t* codes, const int64_t* ids) {
  check_path(path);
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

  const std::string target = resolve_save_target(path);
  remove_stale_temporaries(target);
  std::string tmp;
  const int fd = create_locked_temporary(target, &tmp);
  try {
    static const uint8_t zeros[kAlign] = {};
    write_all(fd, &h, sizeof h, tmp);
    write_all(fd, codes, codes_bytes, tmp);
    write_all(fd, zeros, h.ids_offset - (h.codes_offset + codes_bytes), tmp);
    write_all(fd, ids, info.count * 8, tmp);
    if (::fsync(fd) != 0) throw_errno("cannot fsync", tmp);
    // Renamed while still open and locked, so no cleaner can take it for a stale temporary.
    if (::rename(tmp.c_str(), target.c_str()) != 0) throw_errno("cannot rename", tmp);
  } catch (...) {
    ::unlink(tmp.c_str());
    ::close(fd);
    throw;
  }
  ::close(fd);  // the data is already durable (fsync); this releases the lock
  // Make the rename itself durable.
  int dfd = ::open(parent_dir(target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

IndexFile IndexFile::open(const std::string& path) {
  IndexFile f;
  f.path_ = path;
  f.file_ = MappedFile::open(path);
  const Header h = validate_header(f.file_->data(), f.file_->size(), path);
  f.info_ = IndexFileInfo{static_cast<IndexKind>(h.kind), h.bits, h.count, h.param};
  f.codes_offset_ = h.codes_offset;
  f.ids_offset_ = h.ids_offset;
  f.payload_checksum_ = h.payload_checksum;
  return f;
}

void IndexFile::read_into(bool mmap, bool verify, CodeStore* store) const {
  const uint8_t* codes = file_->data() + codes_offset_;
  const uint8_t* id_bytes = file_->data() + ids_offset_;
  const size_t count = static_cast<size_t>(info_.count);
  const size_t codes_bytes = count * (info_.bits / 8);
  if (verify && checksum64(id_bytes, count * 8, checksum64(codes, codes_bytes)) != payload_checksum_)
    throw FormatError("'" + path_ + "' is corrupted (payload checksum mismatch)");
  // Id -1 marks padding in every result: a stored -1 would read exactly like "no result", so
  // add() refuses it and so does load, whatever the checksums say (a crafted file can fix them).
  for (size_t i = 0; i < count; ++i) {
    int64_t id;
    std::memcpy(&id, id_bytes + 8 * i, sizeof id);
    if (id == kMissingId)
      throw FormatError("'" + path_ + "' stores id -1 (code " + std::to_string(i) +
                        "), which marks missing results; such a file is not written by deephash");
  }
  *store = CodeStore(info_.bits / 8);
  if (mmap) {
    store->attach_mapped(file_, codes, reinterpret_cast<const int64_t*>(id_bytes), count);
  } else {
    store->reserve(count);
    store->append(codes, reinterpret_cast<const int64_t*>(id_bytes), count);
  }
}

IndexFileInfo read_index_header(const std::string& path) { return IndexFile::open(path).info(); }

IndexFileInfo read_index_file(const std::string& path, bool mmap, bool verify, CodeStore* store) {
  const IndexFile file = IndexFile::open(path);
  file.read_into(mmap, verify, store);
  return file.info();
}

}  // namespace deephash
