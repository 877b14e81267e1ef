// Exception types of the core. Bindings map them to Python exceptions:
// InvalidArgument -> ValueError, FormatError -> ValueError, IoError -> OSError.
#pragma once
#include <stdexcept>
#include <string>

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

// The operating system refused a file operation (open, write, fsync, rename, mmap).
class IoError : public std::runtime_error {
 public:
  explicit IoError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace deephash
