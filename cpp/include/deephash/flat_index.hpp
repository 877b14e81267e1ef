// FlatIndex: exact k-NN and range search over binary codes by a linear SIMD scan.
//
// Thread safety: any number of searches (and saves, snapshots) may run at once, from any
// threads, together with add/remove/reserve, which wait for the searches running and then run
// alone (a reader-writer lock, rw_lock.hpp). Every search therefore sees one consistent state:
// the index before or after each add/remove, never a mixture.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "deephash/code_store.hpp"
#include "deephash/rw_lock.hpp"
#include "deephash/scan_view.hpp"
#include "deephash/topk.hpp"

namespace deephash {

class IndexFile;  // index_io.hpp

class FlatIndex {
 public:
  // bits: code length, a positive multiple of 8 up to kMaxBits (limits.hpp). Throws
  // InvalidArgument otherwise.
  explicit FlatIndex(size_t bits);
  // Moving is not synchronised: no other thread may use either index meanwhile.
  FlatIndex(FlatIndex&& o) noexcept : bits_(o.bits_), store_(std::move(o.store_)) {}
  FlatIndex& operator=(FlatIndex&&) = delete;
  FlatIndex(const FlatIndex&) = delete;
  FlatIndex& operator=(const FlatIndex&) = delete;

  size_t bits() const { return bits_; }
  size_t code_size() const { return bits_ / 8; }
  size_t size() const;
  size_t memory_bytes() const;
  // The stored codes and ids now, valid as long as the snapshot lives, whatever happens to the
  // index meanwhile (copy-on-write, see code_store.hpp).
  CodeStore::Snapshot snapshot() const;
  // The stored codes under this index's read lock, for a scan run outside it (scan_view.hpp).
  ScanView scan_view() const;

  // Adds n codes (n * code_size bytes). ids may be null: then ids are size(), size() + 1, ...
  // Ids need not be unique; equal (distance, id) pairs come out in insertion order.
  void add(const uint8_t* codes, size_t n, const int64_t* ids);
  // Removes every code whose id is listed; returns how many codes were removed.
  size_t remove(const int64_t* ids, size_t n);
  void reserve(size_t n);

  // k nearest codes of each of nq queries: distances (nq * k) and ids (nq * k), each row sorted
  // by (distance, id); rows are padded with (kMissingDistance, -1) when size() < k. Internal
  // work is sized by min(k, size()), so a large k costs only its output.
  void search(const uint8_t* queries, size_t nq, size_t k, int32_t* distances, int64_t* ids) const;

  // Every code within distance <= radius of each query, sorted by (distance, id).
  RangeResult range_search(const uint8_t* queries, size_t nq, int32_t radius) const;

  void save(const std::string& path) const;
  // mmap: view the codes read-only (copied on the first add/remove). verify: check the checksum.
  static FlatIndex load(const std::string& path, bool mmap = false, bool verify = true);
  // From a file already opened: deephash.load() reads the kind and the content from one open.
  static FlatIndex load(const IndexFile& file, bool mmap = false, bool verify = true);

 private:
  size_t bits_;
  CodeStore store_;
  mutable RwLock mu_;  // searches, save, snapshot: shared; add, remove, reserve: exclusive
};

}  // namespace deephash
