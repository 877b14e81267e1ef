// FlatIndex: blocked linear scan with a threshold filter in the SIMD kernel.
//
// The database is scanned in blocks that stay in L2 while a group of queries passes over them.
// For each query the kernel returns only codes within the query's current k-th best distance;
// the heap sees few candidates. Work is split into (query group x database part) tasks: many
// queries spread over threads by group; few queries split the database and merge the parts.
#include "deephash/flat_index.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "deephash/errors.hpp"
#include "deephash/hamming.hpp"
#include "deephash/index_io.hpp"
#include "deephash/limits.hpp"
#include "deephash/parallel.hpp"

namespace deephash {
namespace {

constexpr size_t kBlockBytes = 24 * 1024;  // database bytes per block: stays in L1 across a query group
constexpr size_t kMaxGroup = 64;            // queries sharing a block
constexpr size_t kMinPart = 1u << 16;       // fewest codes worth a thread of their own
constexpr size_t kFirstStep = 256;          // first kernel call per query and block, in codes

size_t block_codes(size_t code_size) {
  return std::clamp<size_t>(kBlockBytes / code_size, 256, 1u << 20);
}

struct Plan {
  size_t group;   // queries per task
  size_t groups;  // number of query groups
  size_t parts;   // database parts per query group
  int threads;
};

Plan make_plan(size_t nq, size_t n, size_t code_size) {
  Plan p;
  int threads = get_num_threads();
  // Small jobs are not worth starting threads for.
  if (static_cast<double>(nq) * static_cast<double>(n) * static_cast<double>(code_size) < 4e6)
    threads = 1;
  p.threads = threads;
  size_t t = static_cast<size_t>(threads);
  p.group = std::clamp<size_t>((nq + t - 1) / t, 1, kMaxGroup);
  p.groups = (nq + p.group - 1) / p.group;
  p.parts = 1;
  // Several parts per thread, handed out dynamically: a thread slowed by other work on its core
  // does not hold up the others.
  if (p.groups < t) p.parts = std::clamp<size_t>(n / kMinPart, 1, 4 * t / p.groups);
  return p;
}

// Scratch buffers of one scan (per task: tasks never share them).
struct Scratch {
  std::vector<uint32_t> idx;
  std::vector<int32_t> dist;
  explicit Scratch(size_t block) : idx(block), dist(block) {}
};

// Offers every code in [begin, end) to the heaps of queries [q0, q0 + gq).
void scan_knn(const HammingKernels& kern, const CodeStore& store, const uint8_t* queries, size_t q0,
              size_t gq, size_t begin, size_t end, CountingTopK* heaps, Scratch& s) {
  const size_t cs = store.code_size();
  const size_t block = block_codes(cs);
  const uint8_t* codes = store.codes();
  const int64_t* ids = store.ids();
  std::vector<size_t> step(gq, kFirstStep);
  // With ids increasing in scan order, a later code that only ties the k-th best distance has a
  // larger id and cannot enter: ask the kernel for strictly smaller distances.
  const bool by_pos = store.ids_increasing();
  const int32_t tie_skip = by_pos ? 1 : 0;
  for (size_t b = begin; b < end; b += block) {
    const size_t bend = std::min(end, b + block);
    for (size_t qi = 0; qi < gq; ++qi) {
      const uint8_t* q = queries + (q0 + qi) * cs;
      CountingTopK& heap = heaps[qi];
      // Short kernel calls while the threshold is still loose, longer ones once it is tight.
      for (size_t c0 = b; c0 < bend;) {
        const size_t len = std::min(step[qi], bend - c0);
        const int32_t thr = heap.threshold();
        const int32_t kernel_thr = thr == std::numeric_limits<int32_t>::max() ? thr : thr - tie_skip;
        const size_t found =
            kern.scan_leq(q, codes + c0 * cs, len, cs, kernel_thr, s.idx.data(), s.dist.data());
        for (size_t j = 0; j < found; ++j) {
          if (s.dist[j] > heap.threshold()) continue;
          const size_t pos = c0 + s.idx[j];
          // Increasing ids order like positions: rank by position and look the ids up at the
          // end, instead of a cache miss on the id array per candidate.
          heap.push(s.dist[j], by_pos ? static_cast<int64_t>(pos) : ids[pos], pos);
        }
        step[qi] = found * 8 > len ? kFirstStep : std::min(block, step[qi] * 2);
        c0 += len;
      }
    }
  }
}

struct RangeHit {
  int32_t dist;
  int64_t id;
  uint64_t pos;
  bool operator<(const RangeHit& o) const {
    if (dist != o.dist) return dist < o.dist;
    if (id != o.id) return id < o.id;
    return pos < o.pos;
  }
};

void scan_range(const HammingKernels& kern, const CodeStore& store, const uint8_t* q, size_t begin,
                size_t end, int32_t radius, std::vector<RangeHit>* hits, Scratch& s) {
  const size_t cs = store.code_size();
  const size_t block = block_codes(cs);
  for (size_t b = begin; b < end; b += block) {
    const size_t len = std::min(block, end - b);
    const size_t found =
        kern.scan_leq(q, store.codes() + b * cs, len, cs, radius, s.idx.data(), s.dist.data());
    for (size_t j = 0; j < found; ++j) {
      const size_t pos = b + s.idx[j];
      hits->push_back({s.dist[j], store.ids()[pos], pos});
    }
  }
}

}  // namespace

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

void FlatIndex::search(const uint8_t* queries, size_t nq, size_t k, int32_t* distances,
                       int64_t* ids) const {
  if (k == 0) throw InvalidArgument("k must be >= 1");
  if (nq == 0) return;
  ReadLock lock(mu_);
  const HammingKernels& kern = hamming_kernels();
  const size_t n = store_.size();
  // Selection and scratch are sized by the k that can be filled; the rest of a row is padding.
  const size_t kk = std::min(k, n);
  if (kk == 0) {
    pad_rows(distances, ids, nq, k, 0);
    return;
  }
  const Plan plan = make_plan(nq, n, code_size());
  const size_t block = block_codes(code_size());

  if (plan.parts == 1) {
    // Each task owns whole queries and writes their final rows.
    parallel_for(plan.groups, plan.threads, [&](size_t g) {
      const size_t q0 = g * plan.group, gq = std::min(plan.group, nq - q0);
      std::vector<CountingTopK> heaps(gq, CountingTopK(kk, static_cast<int32_t>(bits_)));
      Scratch s(block);
      scan_knn(kern, store_, queries, q0, gq, 0, n, heaps.data(), s);
      for (size_t qi = 0; qi < gq; ++qi) {
        heaps[qi].write_sorted(distances + (q0 + qi) * k, ids + (q0 + qi) * k, kMissingDistance);
        positions_to_ids(ids + (q0 + qi) * k, kk);
      }
    });
    pad_rows(distances, ids, nq, k, kk);
    return;
  }
  // Few queries: split the database into parts, keep one heap per (query, part), merge.
  const size_t part = (n + plan.parts - 1) / plan.parts;
  std::vector<CountingTopK> heaps(nq * plan.parts, CountingTopK(kk, static_cast<int32_t>(bits_)));
  parallel_for(plan.groups * plan.parts, plan.threads, [&](size_t task) {
    const size_t g = task / plan.parts, p = task % plan.parts;
    const size_t q0 = g * plan.group, gq = std::min(plan.group, nq - q0);
    std::vector<CountingTopK> local(gq, CountingTopK(kk, static_cast<int32_t>(bits_)));
    Scratch s(block);
    scan_knn(kern, store_, queries, q0, gq, p * part, std::min(n, (p + 1) * part), local.data(), s);
    for (size_t qi = 0; qi < gq; ++qi) heaps[(q0 + qi) * plan.parts + p] = std::move(local[qi]);
  });
  for (size_t q = 0; q < nq; ++q) {
    CountingTopK& first = heaps[q * plan.parts];
    for (size_t p = 1; p < plan.parts; ++p) first.merge(heaps[q * plan.parts + p]);
    first.write_sorted(distances + q * k, ids + q * k, kMissingDistance);
    positions_to_ids(ids + q * k, kk);
  }
  pad_rows(distances, ids, nq, k, kk);
}

void FlatIndex::positions_to_ids(int64_t* row, size_t k) const {
  if (!store_.ids_increasing()) return;  // scan_knn ranked by the ids themselves
  const int64_t* stored = store_.ids();
  for (size_t j = 0; j < k; ++j)
    if (row[j] != kMissingId) row[j] = stored[row[j]];
}

RangeResult FlatIndex::range_search(const uint8_t* queries, size_t nq, int32_t radius) const {
  if (radius < 0) throw InvalidArgument("radius must be >= 0, got " + std::to_string(radius));
  ReadLock lock(mu_);
  const HammingKernels& kern = hamming_kernels();
  const size_t n = store_.size();
  const Plan plan = make_plan(nq, n, code_size());
  const size_t parts = plan.parts;
  const size_t part = parts > 0 ? (n + parts - 1) / parts : n;
  std::vector<std::vector<RangeHit>> hits(nq * parts);
  parallel_for(nq * parts, plan.threads, [&](size_t task) {
    const size_t q = task / parts, p = task % parts;
    Scratch s(block_codes(code_size()));
    scan_range(kern, store_, queries + q * code_size(), p * part, std::min(n, (p + 1) * part),
               radius, &hits[task], s);
  });
  RangeResult r;
  r.lims.assign(nq + 1, 0);
  size_t total = 0;
  for (size_t q = 0; q < nq; ++q) {
    for (size_t p = 0; p < parts; ++p) total += hits[q * parts + p].size();
    r.lims[q + 1] = static_cast<int64_t>(total);
  }
  r.distances.resize(total);
  r.ids.resize(total);
  parallel_for(nq, plan.threads, [&](size_t q) {
    std::vector<RangeHit>& all = hits[q * parts];
    for (size_t p = 1; p < parts; ++p) {
      auto& more = hits[q * parts + p];
      all.insert(all.end(), more.begin(), more.end());
      std::vector<RangeHit>().swap(more);
    }
    std::sort(all.begin(), all.end());
    size_t o = static_cast<size_t>(r.lims[q]);
    for (const RangeHit& h : all) {
      r.distances[o] = h.dist;
      r.ids[o] = h.id;
      ++o;
    }
    std::vector<RangeHit>().swap(all);
  });
  return r;
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
  if (info.kind != IndexKind::flat)
    throw FormatError("'" + path + "' does not hold a flat index");
  FlatIndex index(info.bits);
  index.store_ = std::move(store);
  return index;
}

}  // namespace deephash
