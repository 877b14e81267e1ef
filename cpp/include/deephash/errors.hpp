// Exception types of the core. Bindings map them to Python exceptions:
// InvalidArgument -> ValueError, FormatError -> ValueError, IoError -> OSError (or the
// subclass its errno selects).
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace deephash {

// A caller passed a value outside what the function accepts (shape, k, radius...).
class InvalidArgument : public std::invalid_argument {
 public:
  explicit InvalidArgument(const std::string& what) : std::invalid_argument(what) {}
};

// A file is not a deephash index, is truncated, corrupted or of an unknown version.
class FormatError : public std::runtime_error {
 public:
  explicit FormatError(const std::string& what) : std::runtime_error(what) {}
};

// The operating system refused a file operation (open, write, fsync, rename, mmap), or the
// path names something that is not a regular file. error_code() is the errno (0 when none
// applies) and path() the file concerned, so that the bindings can raise the matching OSError
// subclass (FileNotFoundError, PermissionError, ...) with errno and filename set.
class IoError : public std::runtime_error {
 public:
  explicit IoError(const std::string& what, int error_code = 0, std::string path = {})
      : std::runtime_error(what), error_code_(error_code), path_(std::move(path)) {}
  int error_code() const noexcept { return error_code_; }
  const std::string& path() const noexcept { return path_; }

 private:
  int error_code_;
  std::string path_;
};

}  // namespace deephash
