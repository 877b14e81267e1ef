// ScanView: a consistent, read-only view of an index's stored codes for a scan that runs
// outside the index (the weighted searches of weighted.hpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "deephash/rw_lock.hpp"

namespace deephash {

// Holds the index's read lock for as long as it lives, so no add/remove/reserve can move or
// compact the storage under the pointers; any number of views (and searches) may coexist. Not
// to be kept by a thread that then mutates the same index (the lock is not recursive): take the
// view, scan, let it go. Made only by the indexes' scan_view().
struct ScanView {
  ReadLock lock;
  const uint8_t* codes = nullptr;  // size * code_size bytes, storage order
  const int64_t* ids = nullptr;    // size ids, storage order
  size_t size = 0;
  size_t bits = 0;
  bool ids_increasing = false;  // ids strictly increase with position (CodeStore::ids_increasing)
};

}  // namespace deephash
