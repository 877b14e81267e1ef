// FlatIndex: exact k-NN and range search over binary codes by a linear SIMD scan.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "deephash/code_store.hpp"
#include "deephash/topk.hpp"

namespace deephash {

class IndexFile;  // index_io.hpp

class FlatIndex {
 public:
  // bits: code length, a positive multiple of 8. Throws InvalidArgument otherwise.
  explicit FlatIndex(size_t bits);

  size_t bits() const { return bits_; }
  size_t code_size() const { return bits_ / 8; }
  size_t size() const { return store_.size(); }
  const uint8_t* codes() const { return store_.codes(); }
  const int64_t* ids() const { return store_.ids(); }
  const CodeStore& store() const { return store_; }
  size_t memory_bytes() const { return store_.memory_bytes(); }

  // Adds n codes (n * code_size bytes). ids may be null: then ids are size(), size() + 1, ...
  // Ids need not be unique; equal (distance, id) pairs come out in insertion order.
  void add(const uint8_t* codes, size_t n, const int64_t* ids);
  // Removes every code whose id is listed; returns how many codes were removed.
  size_t remove(const int64_t* ids, size_t n);
  void reserve(size_t n) { store_.reserve(n); }

  // k nearest codes of each of nq queries: distances (nq * k) and ids (nq * k), each row sorted
  // by (distance, id); rows are padded with (kMissingDistance, -1) when size() < k.
  void search(const uint8_t* queries, size_t nq, size_t k, int32_t* distances, int64_t* ids) const;

  // Every code within distance <= radius of each query, sorted by (distance, id).
  RangeResult range_search(const uint8_t* queries, size_t nq, int32_t radius) const;

  void save(const std::string& path) const;
  // mmap: view the codes read-only (copied on the first add/remove). verify: check the checksum.
  static FlatIndex load(const std::string& path, bool mmap = false, bool verify = true);
  // From a file already opened: deephash.load() reads the kind and the content from one open.
  static FlatIndex load(const IndexFile& file, bool mmap = false, bool verify = true);

 private:
  void positions_to_ids(int64_t* row, size_t k) const;

  size_t bits_;
  CodeStore store_;
};

}  // namespace deephash
