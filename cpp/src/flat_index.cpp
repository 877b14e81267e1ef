// FlatIndex: exact search by the blocked linear scan (block_scan.hpp) with the Hamming kernels.
#include "deephash/flat_index.hpp"

#include <algorithm>
#include <vector>

#include "block_scan.hpp"
#include "deephash/errors.hpp"
#include "deephash/hamming.hpp"
#include "deephash/index_io.hpp"
#include "deephash/limits.hpp"

namespace deephash {

FlatIndex::FlatIndex(size_t bits) : bits_(bits), store_(bits / 8) { check_bits(bits); }

size_t FlatIndex::size() const {
  ReadLock lock(mu_);
  return store_.size();
}

size_t FlatIndex::memory_bytes() const {
  ReadLock lock(mu_);
  return store_.memory_bytes();
}

CodeStore::Snapshot FlatIndex::snapshot() const {
  ReadLock lock(mu_);
  return store_.snapshot();
}

ScanView FlatIndex::scan_view() const { return store_.view(ReadLock(mu_)); }

void FlatIndex::reserve(size_t n) {
  WriteLock lock(mu_);
  store_.reserve(n);
}

void FlatIndex::add(const uint8_t* codes, size_t n, const int64_t* ids) {
  WriteLock lock(mu_);
  if (ids == nullptr)
    store_.append_consecutive(codes, static_cast<int64_t>(store_.size()), n);
  else
    store_.append(codes, ids, n);
}

size_t FlatIndex::remove(const int64_t* ids, size_t n) {
  WriteLock lock(mu_);
  return store_.remove(ids, n);
}

void FlatIndex::search(const uint8_t* queries, size_t nq, size_t k, int32_t* distances, int64_t* ids) const {
  if (k == 0) throw InvalidArgument("k must be >= 1");
  if (nq == 0) return;
  ReadLock lock(mu_);
  const size_t n = store_.size(), cs = code_size();
  // Selection is sized by the k that can be filled; the rest of a row is padding.
  const size_t kk = std::min(k, n);
  if (kk > 0) {
    const block_scan::Options o{store_.ids(), store_.ids_increasing(), nullptr};
    const int32_t maxd = static_cast<int32_t>(bits_);
    block_scan::knn<CountingTopK>(
        block_scan::make_plan(nq, n, cs), n, nq, cs, o, [&] { return CountingTopK(kk, maxd); },
        block_scan::hamming_kernel(hamming_kernels(), store_.codes(), cs, [&](size_t q) { return queries + q * cs; }),
        [&](size_t q, CountingTopK& top) {
          top.write_sorted(distances + q * k, ids + q * k, kMissingDistance);
          if (o.by_pos) block_scan::positions_to_ids(ids + q * k, kk, o.ids);
        });
  }
  pad_rows(distances, ids, nq, k, kk);
}

RangeResult FlatIndex::range_search(const uint8_t* queries, size_t nq, int32_t radius) const {
  if (radius < 0) throw InvalidArgument("radius must be >= 0, got " + std::to_string(radius));
  ReadLock lock(mu_);
  const size_t n = store_.size(), cs = code_size();
  const block_scan::Plan plan = block_scan::make_plan(nq, n, cs);
  std::vector<block_scan::Hits> hits = block_scan::range_hits(
      plan, n, nq, cs, store_.ids(), [&](size_t) { return radius; },
      block_scan::hamming_kernel(hamming_kernels(), store_.codes(), cs, [&](size_t q) { return queries + q * cs; }));
  return block_scan::assemble_range<int32_t>(hits, nq, plan.parts, plan.threads, [](size_t, int32_t d) { return d; });
}

void FlatIndex::save(const std::string& path) const {
  ReadLock lock(mu_);
  IndexFileInfo info{IndexKind::flat, bits_, store_.size(), 0};
  write_index_file(path, info, store_.codes(), store_.ids());
}

FlatIndex FlatIndex::load(const std::string& path, bool mmap, bool verify) {
  return load(IndexFile::open(path), mmap, verify);
}

FlatIndex FlatIndex::load(const IndexFile& file, bool mmap, bool verify) {
  const std::string& path = file.path();
  CodeStore store;
  file.read_into(mmap, verify, &store);
  const IndexFileInfo& info = file.info();
  if (info.kind != IndexKind::flat) throw FormatError("'" + path + "' does not hold a flat index");
  FlatIndex index(info.bits);
  index.store_ = std::move(store);
  return index;
}

}  // namespace deephash
